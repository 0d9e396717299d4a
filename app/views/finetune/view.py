"""The Fine-tuning view: pre-training then fine-tuning (seeds 002-003), run and seen.

- **Fine-tune** the model in use on a labelled task (the genre of a speech: comedy, tragedy or history, split by
  play so that memorising a play does not help; or the user's own TSV of text and label), with a classifier
  head on its pooled hidden states; then type a line and see the class probabilities and which tokens mattered.
- **Transfer**: accuracy against the number of labelled examples, pre-trained-then-fine-tuned beside the same
  architecture trained from scratch with the same budget, each point the mean over seeds with its spread,
  plotted as the points come in.
- **Sentence similarity** with all-MiniLM-L6-v2 (mean pooling, cosine): a matrix for the sentences typed, and
  the nearest lines of the corpus.

Everything is computed by engine.finetune and engine.similarity in the engine thread.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.views.attention.plots import AttentionDetail
from app.views.base import View
from app.widgets.bars import TopBars
from app.widgets.names import named
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

SIMILARITY_MODEL = "minilm"
SENTENCES = ("My lord, the queen is dead.\nThe king is dead, my lord.\nGood morrow, sweet lady; a merry jest!\n"
             "Let us go hunting in the forest.")
SIZES = (100, 300, 1000, 3000)
CELL_VALUES_UP_TO = 12  # sentences; beyond, the cells are too small for a number
PRE, SCRATCH = "#4c72b0", "#dd8452"


def importance_color(v: float, top: float) -> str:
    """Warm for a token whose removal lowers the predicted class's probability, cool for one that raises it."""
    a = 0.0 if top <= 0 else max(-1.0, min(1.0, v / top))
    if a >= 0:
        return f"rgba(221,132,82,{0.15 + 0.75 * a:.2f})"
    return f"rgba(76,114,176,{0.15 + 0.75 * -a:.2f})"


class FineTuneView(View):
    key = "fine-tune"
    title = "Fine-tuning"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.pages = named(QTabWidget(), "fine-tune.pages", "Fine-tuning pages")
        self.pages.addTab(self._build_finetune(), "Fine-tune and transfer")
        self.pages.addTab(self._build_similarity(), "Sentence similarity")
        self.layout_.addWidget(self.pages, 1)
        self.finetuned: Any = None  # engine.finetune.Finetuned, of self.finetuned_of
        self.finetuned_of = ""
        self.points: dict[tuple[int, str], list[float]] = {}  # (size, "pretrained" | "scratch") -> accuracies
        self.classified: Any = None
        self.sim: tuple[list[str], np.ndarray] | None = None
        self.cell_labels: list[pg.TextItem] = []
        self.nearest: list[tuple[str, str, float]] = []
        self.nearest_limit = 5000  # corpus lines embedded to search (once per corpus)
        self.val_size = 600  # held-out examples a fine-tuned classifier is measured on
        self.show_source("loading the model\u2026")

    # --- building ----------------------------------------------------------------------------------

    def _build_finetune(self) -> QWidget:
        self.task = named(QComboBox(), "fine-tune.task", "Labelled task")
        self.task.addItem("genre of a speech (comedy, tragedy, history)", "genre")
        self.task.addItem("my own TSV file (text, label)\u2026", "file")
        self.task_file = ""
        self.task.activated.connect(self._task_chosen)
        self.size = named(QSpinBox(), "fine-tune.size", "Labelled examples")
        self.size.setRange(20, 100_000)
        self.size.setValue(1000)
        self.steps = named(QSpinBox(), "fine-tune.steps", "Fine-tuning steps")
        self.steps.setRange(10, 100_000)
        self.steps.setValue(150)
        self.seeds = named(QSpinBox(), "fine-tune.seeds", "Seeds per point of the transfer curve")
        self.seeds.setRange(1, 10)
        self.seeds.setValue(3)
        self.sizes = named(QLineEdit(", ".join(str(s) for s in SIZES)), "fine-tune.sizes",
                           "Numbers of labelled examples on the transfer curve")
        self.run_btn = named(QPushButton("Fine-tune"), "fine-tune.run", "Fine-tune the model in use on the task")
        self.compare_btn = named(QPushButton("Compare with training from scratch"), "fine-tune.compare",
                                 "Plot accuracy against labelled examples, pre-trained vs from scratch")
        self.run_btn.clicked.connect(self.start_finetune)
        self.compare_btn.clicked.connect(self.start_compare)
        form = QFormLayout()
        form.addRow("task", self.task)
        form.addRow("examples", self.size)
        form.addRow("steps", self.steps)
        form.addRow("curve sizes", self.sizes)
        form.addRow("seeds", self.seeds)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_btn)
        buttons.addWidget(self.compare_btn)
        self.status = named(QLabel("Fine-tune the model in use, or compare it with the same model trained from "
                                   "scratch."), "fine-tune.status", "What fine-tuning did")
        self.status.setWordWrap(True)
        settings = QGroupBox("Task and budget")
        sl = QVBoxLayout(settings)
        sl.addLayout(form)
        sl.addLayout(buttons)
        sl.addWidget(self.status)

        self.curve = named(pg.PlotWidget(background="w"), "fine-tune.curve", "Accuracy against labelled examples")
        self.curve.setLogMode(x=True, y=False)
        self.curve.setLabel("bottom", "labelled examples")
        self.curve.setLabel("left", "accuracy on held-out plays")
        self.curve.addLegend(offset=(10, 10))
        self.curve.showGrid(x=True, y=True, alpha=0.2)
        self.pre_line = self.curve.plot([], [], pen=pg.mkPen(PRE, width=2), symbol="o", symbolBrush=PRE,
                                        name="pre-trained, then fine-tuned")
        self.scratch_line = self.curve.plot([], [], pen=pg.mkPen(SCRATCH, width=2), symbol="s",
                                            symbolBrush=SCRATCH, name="same model from scratch")
        self.pre_err = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.05, pen=PRE)
        self.scratch_err = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.05, pen=SCRATCH)
        self.curve.addItem(self.pre_err)
        self.curve.addItem(self.scratch_err)
        self.chance = pg.InfiniteLine(angle=0, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
        self.curve.addItem(self.chance)
        self.chance.hide()

        self.line = named(QLineEdit("O, I am slain!"), "fine-tune.line", "A line to classify")
        self.classify_btn = named(QPushButton("Classify"), "fine-tune.classify", "Classify the line")
        self.line.returnPressed.connect(self.classify_line)
        self.classify_btn.clicked.connect(self.classify_line)
        self.class_bars = named(TopBars(120), "fine-tune.class-bars", "Class probabilities")
        self.line_view = named(QTextBrowser(), "fine-tune.importance", "Which tokens mattered")
        self.line_view.setMaximumHeight(70)
        crow = QHBoxLayout()
        crow.addWidget(QLabel("line"))
        crow.addWidget(self.line, 1)
        crow.addWidget(self.classify_btn)
        classify_box = QGroupBox("Classify a line with the fine-tuned model")
        cl = QVBoxLayout(classify_box)
        cl.addLayout(crow)
        cl.addWidget(self.line_view)
        cl.addWidget(self.class_bars)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(settings)
        ll.addWidget(classify_box, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.curve)
        split.setSizes([460, 700])
        return split

    def _build_similarity(self) -> QWidget:
        self.sentences = named(QPlainTextEdit(SENTENCES), "fine-tune.sentences", "Sentences, one per line")
        self.sentences.setMaximumHeight(110)
        self.similar_btn = named(QPushButton("Compare the sentences"), "fine-tune.similarity",
                                 "Cosine similarity of the sentences with all-MiniLM-L6-v2")
        self.similar_btn.clicked.connect(self.compare_sentences)
        self.matrix = named(AttentionDetail(), "fine-tune.matrix", "Cosine similarity of every pair")
        self.matrix.plot.setLabel("left", "sentence")
        self.matrix.plot.setLabel("bottom", "sentence")
        self.matrix.plot.scene().sigMouseClicked.connect(self._matrix_clicked)
        self.nearest_table = named(QTableWidget(0, 3), "fine-tune.nearest", "Nearest lines of the corpus")
        self.nearest_table.setHorizontalHeaderLabels(["cosine", "line", "play"])
        self.nearest_table.horizontalHeader().setStretchLastSection(False)
        self.nearest_table.horizontalHeader().setSectionResizeMode(1, self.nearest_table.horizontalHeader()
                                                                   .ResizeMode.Stretch)
        self.nearest_table.verticalHeader().setVisible(False)
        self.nearest_label = named(QLabel("Click a row of the matrix to find the corpus lines nearest to it."),
                                   "fine-tune.nearest-label", "Which sentence the nearest lines are for")
        self.nearest_label.setWordWrap(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.nearest_label)
        rl.addWidget(self.nearest_table, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.matrix)
        split.addWidget(right)
        split.setSizes([560, 600])
        page = QWidget()
        pl = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("all-MiniLM-L6-v2 embeds each sentence as the mean of its token vectors; similar "
                             "meaning, high cosine."), 1)
        row.addWidget(self.similar_btn)
        pl.addWidget(self.sentences)
        pl.addLayout(row)
        pl.addWidget(split, 1)
        return page

    # --- the model -------------------------------------------------------------------------------

    def refresh(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        if self.finetuned is not None and self.finetuned_of != ref.key:
            self.finetuned = None  # a classifier made from another model
            self.class_bars.clear_bars()
            self.line_view.clear()
            self.status.setText(f"Fine-tune {ref.name}, or compare it with the same model trained from scratch.")
        self.show_source(ref.label(), "fine-tuned: " + self.finetuned_of_label if self.finetuned else
                         "pre-trained model to fine-tune")
        self.mark_painted()

    @property
    def finetuned_of_label(self) -> str:
        return f"{len(self.finetuned.label_names)} classes, accuracy {self.finetuned.accuracy:.3f}"

    def _task_chosen(self, index: int) -> None:
        if self.task.itemData(index) != "file":
            return
        path, _ = QFileDialog.getOpenFileName(self, "A labelled task: text<TAB>label per line", "",
                                              "TSV files (*.tsv *.txt);;All files (*)")
        if path:
            self.set_task_file(path)
        else:
            self.task.setCurrentIndex(0)

    def set_task_file(self, path: str) -> None:
        self.task_file = path
        self.task.setItemText(1, f"my own file: {path.rsplit('/', 1)[-1]}")
        self.task.setCurrentIndex(1)

    def _task(self) -> Any:
        """"genre" (validated on the plays the default model never saw in pre-training) or the user's Dataset."""
        from engine.labelled import read_tsv

        return read_tsv(self.task_file) if self.task.currentData() == "file" and self.task_file else "genre"

    # --- fine-tuning -------------------------------------------------------------------------------

    def start_finetune(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        handle, n, steps, val_size = ref.handle, self.size.value(), self.steps.value(), self.val_size
        task = self._task

        def job(token: CancelToken) -> Any:
            from engine.finetune import finetune
            from engine.labelled import subsample
            from engine.transfer import task_split

            pool, val = task_split(task(), val_size=val_size)
            return finetune(handle, subsample(pool, n, 0), val, steps=steps, seed=0, token=token)

        self.status.setText(f"Fine-tuning {ref.name} on {n:,} examples\u2026")
        self.run(job, lambda ft, r=ref: self._finetuned(r, ft), key="finetune", what="fine-tuning",
                 cancellable=True, on_partial=self._progress)

    def _progress(self, parts: list[Any]) -> None:
        for part in parts:
            if part[0] == "step":
                self.status.setText(f"Fine-tuning: step {part[1]:,}, loss {part[2]:.3f}")
            elif part[0] == "eval":
                self.status.setText(f"Fine-tuning: step {part[1]:,}, held-out accuracy {part[2]:.3f}")
            elif part[0] == "point":
                _, size, _seed, kind, acc = part
                self.points.setdefault((int(size), str(kind)), []).append(float(acc))
                self.draw_curve()

    def _finetuned(self, ref: ModelRef, ft: Any) -> None:
        self.finetuned, self.finetuned_of = ft, ref.key
        names = ", ".join(ft.label_names)
        self.status.setText(f"Fine-tuned {ref.name}: held-out accuracy <b>{ft.accuracy:.3f}</b> on {names} "
                            f"(chance {1 / len(ft.label_names):.3f}). Type a line below to classify it.")
        self.show_source(ref.label(), "fine-tuned: " + self.finetuned_of_label)
        self.classify_line()
        self.mark_painted()

    def classify_line(self) -> None:
        ft, text = self.finetuned, self.line.text().strip()
        if ft is None or not text:
            if ft is None:
                self.line_view.setHtml("<i>Fine-tune first: the classifier is made from the model in use.</i>")
            return

        def job() -> Any:
            from engine.finetune import classify

            return classify(ft, text)

        self.run(job, self.show_classification, key="classify", what="classifying")

    def show_classification(self, c: Any) -> None:
        self.classified = c
        order = sorted(range(len(c.probs)), key=lambda i: -c.probs[i])
        self.class_bars.show_top([(c.label_names[i], float(c.probs[i])) for i in order],
                                 f"{c.label_names[order[0]]} ({c.probs[order[0]]:.2f})")
        values = [v for _, v in c.importance] if c.importance and isinstance(c.importance[0], tuple | list) \
            else list(c.importance)
        top = max((abs(v) for v in values), default=0.0)
        spans = []
        for tok, v in zip(c.tokens, values, strict=False):
            spans.append(f"<span title='{v:+.3f}' style='background:{importance_color(v, top)}'>"
                         f"{html.escape(tok)}</span>")
        self.line_view.setHtml("<div style='font-size:12pt'>" + "".join(spans) + "</div><div style='color:#667; "
                               "font-size:small'>warm: without this token the predicted class loses probability; "
                               "cool: it gains (leave one out)</div>")
        self.mark_painted()

    # --- transfer ---------------------------------------------------------------------------------

    def start_compare(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        try:
            sizes = tuple(sorted({int(s) for s in self.sizes.text().replace(",", " ").split()}))
        except ValueError:
            self.show_error(f"curve sizes must be whole numbers, e.g. {', '.join(map(str, SIZES))}")
            return
        if not sizes or min(sizes) < 10:
            self.show_error("curve sizes must be whole numbers of at least 10")
            return
        handle, seeds, steps, val_size = ref.handle, tuple(range(self.seeds.value())), self.steps.value(), self.val_size
        task = self._task
        self.points = {}
        self.draw_curve()
        from engine.transfer import EPOCHS  # engine.transfer loads the fine-tuning code: only when asked

        def job(token: CancelToken) -> Any:
            from engine.transfer import transfer_curve

            return transfer_curve(handle, task(), sizes=sizes, seeds=seeds, steps=steps, val_size=val_size,
                                  token=token)

        self.status.setText(f"Comparing {ref.name} pre-trained against from scratch at {len(sizes)} sizes x "
                            f"{len(seeds)} seeds, each run {steps} steps or {EPOCHS:g} passes over its examples, "
                            f"whichever is more\u2026")
        self.run(job, lambda t, r=ref: self._compared(r, t), key="compare", what="fine-tuning at every size",
                 cancellable=True, on_partial=self._progress)

    def _compared(self, ref: ModelRef, transfer: Any) -> None:
        self.points = {}
        for i, size in enumerate(transfer.sizes):
            self.points[(int(size), "pretrained")] = [float(a) for a in transfer.pretrained[i]]
            self.points[(int(size), "scratch")] = [float(a) for a in transfer.scratch[i]]
        self.draw_curve()
        first = transfer.sizes[0]
        gap = np.mean(transfer.pretrained[0]) - np.mean(transfer.scratch[0])
        last_gap = np.mean(transfer.pretrained[-1]) - np.mean(transfer.scratch[-1])
        self.status.setText(f"Pre-trained {ref.name} beats the same model from scratch by {100 * gap:+.1f} points "
                            f"at {first:,} examples and by {100 * last_gap:+.1f} at {transfer.sizes[-1]:,}.")
        self.show_source(ref.label(), f"transfer curve, {len(transfer.sizes)} sizes")
        self.mark_painted()

    def draw_curve(self) -> None:
        for kind, line, err in (("pretrained", self.pre_line, self.pre_err),
                                ("scratch", self.scratch_line, self.scratch_err)):
            sizes = sorted(s for s, k in self.points if k == kind)
            means = [float(np.mean(self.points[(s, kind)])) for s in sizes]
            spread = [float(np.std(self.points[(s, kind)])) for s in sizes]
            line.setData(sizes, means)
            x = np.log10(np.array(sizes, dtype=float)) if sizes else np.zeros(0)
            err.setData(x=x, y=np.array(means), height=2 * np.array(spread))
        sizes = sorted({s for s, _ in self.points})
        # ticks at the measured sizes (log axis: at log10 of each), not at pyqtgraph's 2x10^2, 3x10^2, ...
        self.curve.getAxis("bottom").setTicks([[(math.log10(n), f"{n:,}") for n in sizes]] if sizes else None)
        if self.finetuned is not None:
            self.chance.setValue(1 / len(self.finetuned.label_names))
            self.chance.show()
        self.curve.setYRange(0, 1)

    # --- sentence similarity ------------------------------------------------------------------------

    def compare_sentences(self) -> None:
        sentences = [s.strip() for s in self.sentences.toPlainText().splitlines() if s.strip()][:50]
        if len(sentences) < 2:
            self.show_error("type at least two sentences, one per line")
            return
        ws = self.ctx.workspace

        def job() -> tuple[list[str], np.ndarray]:
            from engine.similarity import similarity_matrix

            return sentences, similarity_matrix(ws.open(SIMILARITY_MODEL), sentences)

        self.run(job, self.show_matrix, key="similarity", what="embedding the sentences with all-MiniLM-L6-v2")

    def show_matrix(self, result: tuple[list[str], np.ndarray]) -> None:
        sentences, sim = result
        self.sim = (sentences, sim)
        labels = [f"{i + 1} " + (s if len(s) <= 22 else s[:21] + "\u2026") for i, s in enumerate(sentences)]
        # rows: the number and the sentence's start; columns: the number only
        self.matrix.show_matrix(sim.astype(np.float32), sentences, float(min(0.0, sim.min())), 1.0,
                                "cosine similarity", names=("sentence", "sentence"),
                                axis_labels=(labels, [str(i + 1) for i in range(len(sentences))]))
        for item in self.cell_labels:
            self.matrix.plot.removeItem(item)
        self.cell_labels = []
        if len(sentences) <= CELL_VALUES_UP_TO:  # the exact cosine in each cell while the cells are large
            for (i, j), v in np.ndenumerate(sim):
                item = pg.TextItem(f"{v:.2f}", color="w" if v < 0.6 else "k", anchor=(0.5, 0.5))
                item.setPos(j + 0.5, i + 0.5)
                self.matrix.plot.addItem(item)
                self.cell_labels.append(item)
        self.find_nearest(0)
        self.mark_painted()

    def _matrix_clicked(self, ev) -> None:  # noqa: ANN001
        if self.sim is None:
            return
        pos = self.matrix.plot.vb.mapSceneToView(ev.scenePos())
        i = int(math.floor(pos.y()))
        if 0 <= i < len(self.sim[0]):
            self.find_nearest(i)

    def find_nearest(self, i: int) -> None:
        if self.sim is None:
            return
        sentence, ws = self.sim[0][i], self.ctx.workspace
        corpus, limit = self.ctx.corpus, self.nearest_limit

        def job(token: CancelToken) -> list[tuple[str, str, float]]:
            from engine.similarity import nearest_lines

            return nearest_lines(ws.open(SIMILARITY_MODEL), sentence, k=12, corpus=corpus, limit=limit,
                                 token=token)

        self.nearest_label.setText(f"Nearest lines of {corpus} to \u201c{sentence}\u201d (embedding the corpus "
                                   "once takes a while)\u2026")
        self.run(job, lambda rows, s=sentence: self.show_nearest(s, rows), key="nearest",
                 what="finding the nearest lines", cancellable=True)

    def show_nearest(self, sentence: str, rows: list[tuple[str, str, float]]) -> None:
        self.nearest = rows
        self.nearest_label.setText(f"Nearest lines of {self.ctx.corpus} to \u201c{sentence}\u201d:")
        self.nearest_table.setRowCount(len(rows))
        for r, (line, play, cos) in enumerate(rows):
            for c, value in enumerate((f"{cos:.3f}", line, play)):
                item = QTableWidgetItem(value)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.nearest_table.setItem(r, c, item)
        self.nearest_table.resizeColumnToContents(0)
        self.nearest_table.resizeColumnToContents(2)
        self.mark_painted()
