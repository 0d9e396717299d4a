"""The Translation view: an encoder-decoder translates a sentence of the grammar task (issue 14; seeds 000 and
002, 11.2.1) and shows where it looked.

- **Alignment**: the cross-attention as a heatmap, source words across and target words down, each row the
  decoding step that chose that target word: the attention RNN's single attention (the decoder state as the
  query over the encoder states), the transformer's per layer and head (or the mean over the heads). The RNN
  without attention has none: only the encoder's last state reaches the decoder, and the view says so. For
  the example sentences (held out from training), the grammar's true alignment is outlined in red where the
  translation still follows the reference.
- **Beam search**: the tree the search grew (app.views.decoding.beam_tree, the engine's BeamTree) with the
  n-best list; selecting a hypothesis shows its alignment, clicking a node continues the search from it.
- **Train**: a new translator of any architecture for some minutes or steps, with the loss and the
  validation exact match live, and the example sentence translated by the model as it learns at every
  validation; when it ends (or is stopped: it saves) it becomes the current translator. "Open checkpoint..."
  reads a folder written by ``txe seq2seq train``.

Translators, searches and training live in the engine thread; the view receives copies (engine.seq2seq).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.views.base import View
from app.views.decoding.beam_tree import BeamTreePlot
from app.views.decoding.view import NBestTable
from app.views.translation.alignment import AlignmentPlot
from app.views.translation.train_panel import TrainPanel
from app.views.translation.translators import (
    EXAMPLE,
    Example,
    LiveTranslation,
    TrainControl,
    Trained,
    Translated,
    TranslatorRef,
    Translators,
    arch_name,
    describe_config,
    examples,
    path_alignment,
    path_nodes,
    read_config,
    reference_of,
    run_training,
    shipped_translators,
    translate,
    translated,
    truth_cells,
)
from app.widgets.names import named
from engine.errors import UserError
from engine.tasks import CancelToken
from engine.workspace import next_run_folder

if TYPE_CHECKING:
    from app.context import AppContext

MAX_BEAM = 16
MAX_WORDS_SHOWN = 60  # of a translation written under the heatmap (a runaway one repeats itself)
NO_ATTENTION = {"rnn": "plain RNN encoder-decoder", "gru": "GRU encoder-decoder", "lstm": "LSTM encoder-decoder"}


class TranslationNBest(NBestTable):
    COLUMNS = ("#", "translation", "score", "log p", "words", "ended by")


class TranslationView(View):
    key = "translation"
    title = "Translation"
    follows_model = False  # translators, not the language model

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.translators = Translators()  # engine thread only
        self.examples: list[Example] = [Example(EXAMPLE)]
        self.result: Translated | None = None  # the picture's translation (beam search)
        self.live: LiveTranslation | None = None  # or the model in training's, at its last validation
        self.selected_node: int | None = None
        self.control: TrainControl | None = None  # the training run's, while one runs
        self.trained: Trained | None = None
        self.live_steps: list[int] = []  # the steps of the live translations of the run (the last run's)
        self.valid_size = 200  # validation sentences of a training run (tests make it small)
        self.evals = 10
        self.overrides: dict[str, Any] = {}  # model sizes of a training run (tests make them tiny)
        self._started = False
        self._selector_shape: Any = ()  # the (layers, heads) the layer and head choices are made for

        # --- input row ---
        self.text = named(QLineEdit(EXAMPLE), "translation.text", "Sentence to translate")
        self.text.returnPressed.connect(self.request)
        self.text.textEdited.connect(lambda _t: self.example_box.setCurrentIndex(0))  # no longer the example
        self.example_box = named(QComboBox(), "translation.examples", "Example sentences")
        self.example_box.addItem("examples\u2026")
        self.example_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.example_box.setMinimumWidth(180)
        self.example_box.activated.connect(self.choose_example)
        self.translate_btn = named(QPushButton("Translate"), "translation.translate", "Translate the sentence")
        self.translate_btn.clicked.connect(self.request)
        row1 = QHBoxLayout()
        row1.addWidget(QLabel("sentence"))
        row1.addWidget(self.text, 3)
        row1.addWidget(self.example_box, 1)
        row1.addWidget(self.translate_btn)

        self.translator = named(QComboBox(), "translation.translator", "Translator")
        self.translator.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for ref in shipped_translators():
            self._add_translator(ref)
        self.translator.currentIndexChanged.connect(lambda _i: self.request())
        self.open_btn = named(QPushButton("Open checkpoint\u2026"), "translation.open",
                              "Open a translator folder written by txe seq2seq train")
        self.open_btn.clicked.connect(self.open_dialog)
        self.k = named(QSpinBox(), "translation.k", "Beam width k", "beam width (1: greedy search)")
        self.k.setRange(1, MAX_BEAM)
        self.k.setValue(4)
        self.alpha = named(QDoubleSpinBox(), "translation.alpha", "Length normalisation alpha",
                           "score = sum of log p / length^alpha")
        self.alpha.setRange(0.0, 3.0)
        self.alpha.setSingleStep(0.1)
        self.alpha.setValue(1.0)
        self.k.valueChanged.connect(lambda _v: self.request())
        self.alpha.valueChanged.connect(lambda _v: self.request())
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("translator"))
        row2.addWidget(self.translator)
        row2.addWidget(self.open_btn)
        row2.addSpacing(12)
        row2.addWidget(QLabel("beam k"))
        row2.addWidget(self.k)
        row2.addWidget(QLabel("alpha"))
        row2.addWidget(self.alpha)
        row2.addStretch(1)
        for fmt in ("png", "json"):
            b = named(QPushButton(f"Export {fmt.upper()}"), f"translation.export-{fmt}", f"Export {fmt.upper()}")
            b.clicked.connect(lambda _=False, f=fmt: self.export_dialog(f))
            row2.addWidget(b)

        # --- alignment ---
        self.layer = named(QComboBox(), "translation.layer", "Decoder layer of the cross-attention")
        self.head = named(QComboBox(), "translation.head", "Head of the cross-attention")
        for box in (self.layer, self.head):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.currentIndexChanged.connect(lambda _i: self.draw_alignment())
        self.head.currentIndexChanged.connect(lambda _i: self.draw_alignment())
        self.truth_box = named(QCheckBox("true alignment"), "translation.truth",
                               "Outline the grammar's true alignment",
                               "outline in red the source word each target word translates (example sentences)")
        self.truth_box.setChecked(True)
        self.truth_box.toggled.connect(lambda _c: self.draw_alignment())
        self.plot = named(AlignmentPlot(), "translation.alignment", "Cross-attention alignment")
        self.note = named(QLabel(), "translation.note", "Why there is no alignment")
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setStyleSheet("color:#333; background:#f4f6f8; border:1px solid #d0d7de; padding:24px; "
                                "font-size:11pt")
        self.picture = QStackedWidget()
        self.picture.addWidget(self.plot)
        self.picture.addWidget(self.note)
        self.words = named(QLabel(), "translation.result", "The translation, the reference and unknown words")
        self.words.setWordWrap(True)
        self.words.setTextFormat(Qt.TextFormat.RichText)
        self.words.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.words.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("layer"))
        pick.addWidget(self.layer)
        pick.addWidget(QLabel("head"))
        pick.addWidget(self.head)
        pick.addWidget(self.truth_box)
        pick.addStretch(1)
        self.align_box = QGroupBox("Alignment: where the decoder looked for each target word")
        al = QVBoxLayout(self.align_box)
        al.setContentsMargins(4, 2, 4, 4)
        al.addLayout(pick)
        al.addWidget(self.picture, 1)
        al.addWidget(self.words)

        # --- beam search and training ---
        self.tree = named(BeamTreePlot(self.force), "translation.tree", "The beam search tree of the translation")
        self.nbest = named(TranslationNBest(), "translation.nbest", "The n-best translations")
        self.nbest.itemSelectionChanged.connect(self._nbest_selected)
        self.tree_note = named(QLabel(), "translation.tree-note", "Why there is no beam tree")
        self.tree_note.setWordWrap(True)
        self.tree_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tree_note.setStyleSheet("color:#445; padding:16px")
        tree_split = QSplitter(Qt.Orientation.Vertical)
        tree_split.addWidget(self.tree)
        nbox = QGroupBox("n-best (score = sum log p / words^alpha): select one to see its alignment")
        nl = QVBoxLayout(nbox)
        nl.setContentsMargins(4, 2, 4, 4)
        nl.addWidget(self.nbest)
        tree_split.addWidget(nbox)
        tree_split.setSizes([430, 170])
        self.beam_stack = QStackedWidget()
        self.beam_stack.addWidget(tree_split)
        self.beam_stack.addWidget(self.tree_note)
        self.train = TrainPanel()
        self.train.start_btn.clicked.connect(self.start_training)
        self.train.stop_btn.clicked.connect(self.stop_training)
        self.train.data.activated.connect(self._data_chosen)
        self.train.arch.currentIndexChanged.connect(lambda _i: self._suggest_out())
        self._suggest_out()
        self.pages = named(QTabWidget(), "translation.pages", "Beam search or training")
        self.pages.addTab(self.beam_stack, "Beam search")
        self.pages.addTab(self.train, "Train a translator")

        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(self.align_box)
        self.body.addWidget(self.pages)
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.body.setSizes([640, 480])
        self.layout_.addLayout(row1)
        self.layout_.addLayout(row2)
        self.layout_.addWidget(self.body, 1)
        self._set_selectors(None)
        self.show_source("no translation yet")

    # --- the contract --------------------------------------------------------------------------

    def showEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(ev)
        if not self._started:
            self._started = True
            # (a lambda: the bridge hands a function with a positional parameter its cancel token)
            self.run(lambda: examples(), self._examples_ready, key="examples", what="drawing example sentences")
            self.request()

    def refresh(self) -> None:
        self.request()

    def current_ref(self) -> TranslatorRef | None:
        ref = self.translator.currentData()
        return ref if isinstance(ref, TranslatorRef) else None

    def _add_translator(self, ref: TranslatorRef) -> None:
        for i in range(self.translator.count()):
            if self.translator.itemData(i).key == ref.key:
                self.translator.setItemText(i, ref.label)
                self.translator.setItemData(i, ref)
                self.translator.setItemData(i, ref.detail, Qt.ItemDataRole.ToolTipRole)
                return
        self.translator.addItem(ref.label, ref)
        self.translator.setItemData(self.translator.count() - 1, ref.detail, Qt.ItemDataRole.ToolTipRole)

    def _select_translator(self, key: str) -> None:
        for i in range(self.translator.count()):
            if self.translator.itemData(i).key == key:
                if self.translator.currentIndex() == i:
                    self.request()
                else:
                    self.translator.setCurrentIndex(i)  # requests the translation
                return

    # --- translating --------------------------------------------------------------------------

    def request(self) -> None:
        """Translate the sentence with the current translator (beam search of width k)."""
        if not self._started:
            return
        text = self.text.text().strip()
        if self.control is not None:  # training: the model in training translates it at its next validation
            self.control.probe = text
            self.show_info("training: the model being trained translates this sentence at each validation; "
                           "the beam search comes back when the training ends")
            return
        ref = self.current_ref()
        if ref is None:
            self._no_translator()
            return
        if not text:
            self.show_error("type a sentence to translate")
            return
        translators, k, alpha = self.translators, self.k.value(), self.alpha.value()

        def job(token: CancelToken) -> Translated:
            return translate(translators.get(ref.key), ref, text, k, alpha, token)

        self.run(job, self._translated, key="translate", what=f"translating with the {arch_name(ref.arch)}",
                 cancellable=True)

    def force(self, node: int) -> None:
        """Continue the search from a node of the tree (a click on it) and show the hypothesis it leads to."""
        result = self.result
        if result is None or result.search is None or self.control is not None:
            return
        search = result.search

        def job(token: CancelToken) -> Translated:
            search.force(node)
            search.run(token)
            return translated(search, result.ref, result.text)

        self.run(job, lambda r, n=node: self._translated(r, through=n), key="translate",
                 what="continuing the search from the chosen word", cancellable=True)

    def _no_translator(self) -> None:
        self.result = None
        self._set_selectors(None)
        self.note.setText("No translator yet. Train one on the right (\u201cTrain a translator\u201d), or open a "
                          "folder written by <code>txe seq2seq train</code> with \u201cOpen checkpoint\u2026\u201d.")
        self.picture.setCurrentWidget(self.note)
        self.tree_note.setText("The beam tree of a translation appears here.")
        self.beam_stack.setCurrentWidget(self.tree_note)
        self.words.setText("")
        self.show_source("no translator", "train one or open a checkpoint")
        self.mark_painted()

    def _translated(self, result: Translated, through: int | None = None) -> None:
        self.result, self.live = result, None
        state = result.state
        self.beam_stack.setCurrentIndex(0)
        self.tree.draw(state)
        self.nbest.show_hypotheses(state)  # selects the best: _nbest_selected draws its alignment
        if through is not None:  # after a click: the best hypothesis through the clicked node
            for r, h in enumerate(state.nbest):
                if through in path_nodes(state, h["node"]):
                    self.nbest.selectRow(r)
                    break
        if not state.nbest:
            self.selected_node = None
            self.draw_alignment()
        self.show_source(result.ref.label, f"beam search, k = {state.k}, alpha = {state.alpha:g}, on "
                         f"\u201c{_short(result.text, 48)}\u201d", result.ref.detail)
        if result.unknown:
            self.show_info(f"not in this translator's vocabulary (read as <unk>): {', '.join(result.unknown)}")
        self.mark_painted()

    def _nbest_selected(self) -> None:
        rows = self.nbest.selectionModel().selectedRows()
        if self.result is None or not rows:
            return
        self.selected_node = self.result.state.nbest[rows[0].row()]["node"]
        self.tree.select(self.selected_node)
        self.draw_alignment()

    # --- the alignment ------------------------------------------------------------------------

    def shown_alignment(self) -> tuple[list[str], list[str], np.ndarray | None, str, str]:
        """(source words, target words, alignment (T, L, H, S) or None, translator label, which hypothesis)."""
        if self.live is not None:
            t = self.live.translation
            return t.source, [*t.target, "<eos>"][: len(t.ids)], t.alignment, "the model being trained", \
                f"greedy, at step {self.live.step:,}"
        if self.result is None:
            return [], [], None, "", ""
        node = self.selected_node
        if node is None:
            return self.result.source, [], None, self.result.ref.label, ""
        words, align = path_alignment(self.result, node)
        ranks = {h["node"]: r for r, h in enumerate(self.result.state.nbest, 1)}
        which = f"hypothesis #{ranks[node]}" if node in ranks else "the chosen prefix"
        return self.result.source, words, align, self.result.ref.label, which

    def _set_selectors(self, align: np.ndarray | None) -> None:
        """Layer and head choices for an alignment (T, L, H, S); kept when the shape is the same."""
        shape = None if align is None else tuple(align.shape[1:3])
        if shape == self._selector_shape:
            return
        self._selector_shape = shape
        for box in (self.layer, self.head):
            box.blockSignals(True)
            box.clear()
        if shape is None or shape == (1, 1):
            self.layer.addItem("one attention" if shape else "\u2013")
            self.head.addItem("one attention" if shape else "\u2013")
        else:
            L, H = shape
            for i in range(L):
                self.layer.addItem(f"layer {i + 1} of {L}", i)
            self.layer.setCurrentIndex(L - 1)
            self.head.addItem(f"mean over the {H} heads", None)
            for h in range(H):
                self.head.addItem(f"head {h + 1}", h)
        multi = shape is not None and shape != (1, 1)
        for box in (self.layer, self.head):
            box.setEnabled(multi)
            box.blockSignals(False)

    def matrix(self, align: np.ndarray) -> np.ndarray:
        """The (T, S) weights of the chosen layer and head (or the mean over the heads)."""
        layer = self.layer.currentData()
        head = self.head.currentData()
        a = align[:, layer if isinstance(layer, int) else -1]  # (T, H, S)
        return a.mean(axis=1) if not isinstance(head, int) else a[:, head]

    def draw_alignment(self) -> None:
        source, target, align, label, which = self.shown_alignment()
        if self.result is None and self.live is None:
            return
        self._set_selectors(align)
        pair = reference_of(" ".join(source), self.examples)
        if align is None and target:
            arch = self.result.ref.arch if self.live is None and self.result is not None else ""
            self.note.setText(
                f"<p><b>No alignment: the {html.escape(NO_ATTENTION.get(arch, arch))} has no attention.</b></p>"
                "<p>Its encoder reads the whole source sentence into one vector, its last state, and only that "
                "vector reaches the decoder (seed 002, 11.2.1). No target word can look back at a source "
                "word, so there is nothing to draw here; the longer the sentence, the more that one vector "
                "has to hold. The beam tree of its translation is on the right.</p>"
                "<p>Switch to the attention RNN or the transformer to see where they look.</p>")
            self.picture.setCurrentWidget(self.note)
        elif align is not None:
            m = self.matrix(align)
            L, H = align.shape[1:3]
            if L * H == 1:
                what = "attention of the decoder state over the encoder states"
            else:
                head = self.head.currentData()
                what = (f"cross-attention, layer {self.layer.currentIndex() + 1} of {L}, "
                        + (f"mean over {H} heads" if not isinstance(head, int) else f"head {head + 1} of {H}"))
            truth = truth_cells(pair, target) if self.truth_box.isChecked() else []
            self.plot.show_matrix(m, source, target, f"{html.escape(label)}: {what} ({which})", truth)
            self.picture.setCurrentWidget(self.plot)
        self.words.setText(self._words_html(source, target, pair))

    def _words_html(self, source: list[str], target: list[str], pair: Any) -> str:
        words = [w for w in target if w != "<eos>"]
        text = html.escape(" ".join(words[:MAX_WORDS_SHOWN])) or "<i>(empty)</i>"
        if len(words) > MAX_WORDS_SHOWN:
            text += f" \u2026 <i>({len(words) - MAX_WORDS_SHOWN} more words)</i>"
        lines = [f"<b>translation</b>: {text}"]
        if pair is not None:
            ref = list(pair.target)
            same = [w.lower() for w in words] == [w.lower() for w in ref]
            if same:
                verdict = "<span style='color:#1a7f37'>\u2713 exact match</span>"
            else:
                first = next((i for i, (a, b) in enumerate(zip(words, ref, strict=False)) if a.lower() != b.lower()),
                             min(len(words), len(ref)))
                verdict = f"<span style='color:#b00020'>\u2717 differs from word {first + 1}</span>"
            lines.append(f"<b>reference</b> (the grammar's): {html.escape(' '.join(ref))} &nbsp; {verdict}")
        unknown = self.live.translation.unknown if self.live is not None else (
            self.result.unknown if self.result is not None else [])
        if unknown:
            lines.append("<span style='color:#9a6700'><b>unknown words</b> (not in the vocabulary, read as "
                         f"&lt;unk&gt;): {html.escape(', '.join(unknown))}</span>")
        lines.append(f"<span style='color:#667'>{len(source)} source words, {len(words)} target words</span>")
        return "<br>".join(lines)

    # --- examples ------------------------------------------------------------------------------

    def _examples_ready(self, found: list[Example]) -> None:
        self.examples = found
        self.example_box.blockSignals(True)
        self.example_box.clear()
        self.example_box.addItem("examples\u2026")
        for e in found:
            self.example_box.addItem(e.label, e.text)
            self.example_box.setItemData(self.example_box.count() - 1, e.text, Qt.ItemDataRole.ToolTipRole)
        self.example_box.blockSignals(False)
        if self.result is not None:
            self.draw_alignment()  # the reference of the sentence shown, now known

    def choose_example(self, index: int) -> None:
        text = self.example_box.itemData(index)
        if isinstance(text, str):
            self.text.setText(text)
            self.text.setCursorPosition(0)
            self.request()

    # --- checkpoints -----------------------------------------------------------------------------

    def open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a translator (a folder written by txe seq2seq train)")
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str) -> None:
        folder = str(Path(path).resolve())
        translators = self.translators

        def job() -> TranslatorRef:
            from engine.seq2seq.checkpoint import load_translator

            translators.put(folder, load_translator(folder))  # refuses a bad folder with one line
            config = read_config(Path(folder)) or {}
            return describe_config(Path(folder), config, Path(folder).name)

        self.run(job, self._opened, key="open", what=f"opening {Path(folder).name}")

    def _opened(self, ref: TranslatorRef) -> None:
        self._add_translator(ref)
        self._select_translator(ref.key)

    # --- training --------------------------------------------------------------------------------

    def _data_chosen(self, index: int) -> None:
        if self.train.data.itemData(index) != "file":
            return
        path, _ = QFileDialog.getOpenFileName(self, "Parallel text: source<TAB>target per line", "",
                                              "Text files (*.tsv *.txt);;All files (*)")
        if path:
            self.set_train_file(path)
        else:
            self.train.data.setCurrentIndex(0)

    def set_train_file(self, path: str) -> None:
        self.train.data_file = path
        self.train.data.setItemText(1, f"my own parallel text: {Path(path).name}")
        self.train.data.setCurrentIndex(1)

    def _suggest_out(self) -> None:
        arch = self.train.arch.currentData()
        self.train.out.setText(str(next_run_folder("runs", f"translator-{arch}")))

    def start_training(self) -> None:
        if self.control is not None:
            return
        arch = self.train.arch.currentData()
        out = self.train.out.text().strip() or str(next_run_folder("runs", f"translator-{arch}"))
        folder = Path(out)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            self.show_error(f"{out} is not empty; choose a new folder to save the translator to")
            return
        tsv = self.train.data_file if self.train.data.currentData() == "file" and self.train.data_file else None
        steps, minutes = self.train.steps, self.train.minutes
        control = self.control = TrainControl(self.text.text().strip() or EXAMPLE)
        translators, evals, valid_size, overrides = self.translators, self.evals, self.valid_size, dict(self.overrides)

        def job(token: CancelToken) -> Trained:
            trained = run_training(token, control, arch, out, tsv=tsv, steps=steps, minutes=minutes, evals=evals,
                                   valid_size=valid_size, **overrides)
            if trained.translator is not None:
                translators.put(trained.ref.key, trained.translator)
            return trained

        budget = f"{steps:,} steps" if steps else f"{minutes:g} min"
        self.train.clear_curves()
        self.live_steps = []
        self.train.set_running(True)
        self.train.state.setText(f"Training a {arch_name(arch)} for {budget} into {out}\u2026")
        self.pages.setCurrentWidget(self.train)
        self.run(job, self._trained, key="train", what=f"training a {arch_name(arch)}",
                 on_partial=self._train_partial, on_error=self._train_failed)

    def stop_training(self) -> None:
        if self.control is not None:
            self.control.stop.set()
            self.train.stop_btn.setEnabled(False)
            self.train.state.setText("Stopping: the translator is saved at the end of this step\u2026")

    def _train_partial(self, values: list[Any]) -> None:
        points = [v for v in values if not isinstance(v, LiveTranslation)]
        if points:
            self.train.add_points(points)
            last = points[-1]
            em = f", validation exact match {self.train.exact[-1][1]:.0f}%" if self.train.exact else ""
            loss = f", loss {self.train.loss[-1][1]:.3f}" if self.train.loss else ""
            if self.control is not None and not self.control.stop.is_set():
                self.train.state.setText(f"Training: step {last.step:,}, {last.seconds:.0f} s{loss}{em}")
        lives = [v for v in values if isinstance(v, LiveTranslation)]
        if lives:
            self.live_steps += [v.step for v in lives]
            self.live = lives[-1]
            self.beam_stack.setCurrentWidget(self.tree_note)
            self.tree_note.setText("While training, the left shows the sentence translated (greedily) by the model "
                                   "being trained, at each validation. The beam search comes back when it ends.")
            self.draw_alignment()
            source = " ".join(self.live.translation.source)
            self.show_source("the model being trained",
                             f"greedy, step {self.live.step:,}, on \u201c{_short(source, 48)}\u201d")
            self.mark_painted()

    def _train_ended(self) -> None:
        self.control = None
        self.train.set_running(False)
        self._suggest_out()

    def _train_failed(self, text: str) -> None:
        self._train_ended()
        self.live = None
        self.train.state.setText(f"Training failed: {text}")
        self.show_error(text)
        self.request()

    def _trained(self, trained: Trained) -> None:
        self._train_ended()
        self.trained = trained
        self.live = None
        if trained.translator is None:
            self.train.state.setText("Stopped before the first step: nothing to save.")
            self.request()
            return
        how = "Stopped" if trained.stopped else "Finished"
        self.train.state.setText(f"{how}: {trained.ref.detail}; saved in {trained.ref.key}. It is now the current "
                                 "translator.")
        self._add_translator(trained.ref)
        self._select_translator(trained.ref.key)
        self.pages.setCurrentWidget(self.beam_stack)

    # --- export ---------------------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        return self.body

    def export_name(self) -> str:
        return "translation"

    def data_exports(self) -> dict[str, Any]:
        return {".json": self.write_json}

    def write_json(self, path: Path) -> None:
        """The translation shown: source, target, the alignment of every layer and head, the n-best list."""
        source, target, align, label, which = self.shown_alignment()
        if not target:
            raise UserError("translate a sentence first")
        out: dict[str, Any] = {"translator": label, "hypothesis": which, "source": source, "target": target,
                               "alignment": None if align is None else np.round(align.transpose(1, 2, 0, 3), 5)
                               .tolist(), "alignment_axes": ["layer", "head", "target", "source"]}
        if self.live is None and self.result is not None:
            out["nbest"] = self.result.state.nbest
            out["unknown"] = self.result.unknown
        path.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"
