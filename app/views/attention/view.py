"""The Attention view: every layer and head of the model at once, one enlarged, and a head view.

- Model view: the L x H grid of heatmaps alpha^(h)_ij (Eq. 11.13); click a panel to enlarge it with the
  tokens on both axes and the exact weight on hover. Scroll to zoom, drag to pan.
- Head view: lines from the selected query token to every key, one colour per head, heads toggled.
- Weights or scores: the pre-softmax q.k / sqrt(d_k) can be shown instead of the weights.
- Diff: "diff with" a second model (another checkpoint of the run, another model with the same tokenizer)
  shows the selected head of both on the text and their difference B - A (centred at zero), with the
  per-token loss of both and every head's score difference; models whose tokenizers differ are refused
  (the header says why). While the view follows a training run, the diff is of two of the run's probe
  snapshots instead: A is the pinned one (the first at the start; "pin as A" pins the one shown) and B the
  one on the slider, so scrubbing shows how each head changed since A.
- A training run: while the Training view trains, "follow training" shows the run's newest probe
  snapshot (the probe sentence, at the run's step) and the slider scrubs back through them; the text the
  user typed is kept and comes back when following stops. The header always says which model, step and
  text the picture is of.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.colors import head_color
from app.views.attention.diff import DiffPanel
from app.views.attention.plots import AttentionDetail, AttentionGrid, HeadView
from app.views.base import ExportLater, View
from app.widgets.names import named
from app.widgets.picker import OtherModelPicker
from app.widgets.ranges import parse_indices
from app.widgets.text import shown_token
from engine.capture import (
    AttentionPicture,
    LayerMatrices,
    attention_picture,
    layer_matrices,
    picture_of,
    write_attention_npz,
)
from engine.errors import UserError
from engine.events import Snapshot
from engine.interp.compare import Comparison, compare
from engine.interp.heads import HeadScores
from engine.tasks import CancelToken
from engine.tiles import masked
from engine.training import PROBE_TEXT

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef, Run

MAX_SNAPSHOTS = 400


@dataclass(eq=False)
class AttentionData:
    """What the view shows: one text's attention (engine.capture: every head as a thumbnail, the full matrices
    of some layers), from an analysis or a training run's probe snapshot."""

    model: str  # the model and step it is of ("default model, step 2,000")
    text: str  # the input
    step: int | None = None  # the training step of a run's snapshot
    made: AttentionPicture | None = None  # the picture (an analysis brings it from the engine thread)
    raw: tuple | None = None  # a snapshot's (tokens, attention, scores): its picture is made when first shown
    head_scores: dict[str, np.ndarray] | None = None  # a snapshot's head scores (engine.interp.heads), if measured

    @property
    def picture(self) -> AttentionPicture:
        if self.made is None:
            assert self.raw is not None
            self.made = picture_of(*self.raw)
            self.raw = None
        return self.made

    @property
    def tokens(self) -> list[str]:
        return self.picture.tokens if self.raw is None else list(self.raw[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.picture.shape

    @property
    def truncated(self) -> int:
        return self.picture.truncated

    @property
    def attention(self) -> np.ndarray:
        """(L, H, T, T): every layer's weights (a picture that kept them all: small models, snapshots)."""
        p = self.picture
        if not p.all_layers:
            raise ValueError("this picture keeps only some layers' full matrices")
        return np.stack([p.layers[i].weights for i in range(p.shape[0])])


def quoted(text: str, n: int = 48) -> str:
    one_line = text.replace("\n", " \u21b5 ")
    return f"\u201c{one_line if len(one_line) <= n else one_line[:n - 1] + chr(0x2026)}\u201d"


class AttentionView(View):
    key = "attention"
    title = "Attention"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.current: AttentionData | None = None
        self.snapshots: list[AttentionData] = []
        self.snapshot_run = ""  # what the snapshots are of ("run runs/run-3")
        self.selected = (0, 0)
        self._typed = ""  # the user's text while the view follows a run's probe sentence

        self.text = named(QLineEdit(), "attention.text", "Text to analyse")
        self.text.setPlaceholderText("Type or paste text to see the model's attention")
        self.tokens_label = named(QLabel(), "attention.tokens", "Tokens")
        self.tokens_label.setTextFormat(Qt.TextFormat.PlainText)
        self.tokens_label.setWordWrap(True)
        self.mode_grid = named(QRadioButton("Model view"), "attention.mode-grid", "Model view: every head")
        self.mode_heads = named(QRadioButton("Head view"), "attention.mode-heads", "Head view: lines per head")
        self.mode_grid.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.mode_grid)
        group.addButton(self.mode_heads)
        self.values_combo = named(QComboBox(), "attention.values", "Show weights or scores")
        self.values_combo.addItems(["weights (softmax)", "scores q\u00b7k/\u221ad_k"])
        self.layer_combo = named(QComboBox(), "attention.layer", "Layer of the head view")
        self.head_boxes_row = QHBoxLayout()
        self.head_boxes: list[QCheckBox] = []
        self.step_slider = named(QSlider(Qt.Orientation.Horizontal), "attention.step",
                                 "Training snapshot to show")
        self.step_slider.setEnabled(False)
        self.step_label = named(QLabel("no training snapshots"), "attention.step-label", "Training snapshot shown")
        self.follow_box = named(QCheckBox("follow training"), "attention.follow",
                                "Follow the training run's probe snapshots",
                                "Show the training run's attention on its probe sentence as it trains")
        self.follow_box.setEnabled(False)
        self.layers_filter = named(QLineEdit(), "attention.layers", "Layers to show",
                                   "which layers the grid shows: all, 3, 0-5 or 0-3, 7")
        self.heads_filter = named(QLineEdit(), "attention.heads", "Heads to show",
                                  "which heads the grid shows: all, 3, 0-5 or 0-3, 7")
        for box in (self.layers_filter, self.heads_filter):
            box.setPlaceholderText("all")
            box.setMaximumWidth(110)
            box.editingFinished.connect(self.redraw)

        self.diff_box = named(QCheckBox("diff with"), "attention.diff", "Compare with a second model",
                              "Show the selected head of the model in use (A) and of a second model (B) on the same "
                              "text, and B \u2212 A")
        self.diff_model = OtherModelPicker(ctx, "attention.diff-model", "Model B of the diff")
        self.pin_btn = named(QPushButton("pin as A"), "attention.diff-pin", "Pin the snapshot shown as A of the diff",
                             "While following a training run: the diff compares the snapshot on the slider (B) "
                             "with this one (A)")
        self.pin_btn.setVisible(False)
        self.anchor_step: int | None = None  # the run's snapshot pinned as A (None: its first)
        self._snapshot_note = ""  # what A and B of a snapshot diff are
        self.diff_panel = DiffPanel()
        self.diff_error = ""
        self._diff_of: tuple = ()  # (model, text, choice) the diff panel shows or will show

        self.grid = AttentionGrid()
        self.detail = AttentionDetail()
        self.head_view = HeadView()
        for w, name in ((self.grid, "grid"), (self.detail, "detail"), (self.head_view, "head-view")):
            named(w, f"attention.{name}", {"grid": "All heads", "detail": "The selected head",
                                           "head-view": "Head view"}[name])
        self.stack = QStackedWidget()
        split = self.split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        self.right = QStackedWidget()
        self.right.addWidget(self.detail)
        self.right.addWidget(self.diff_panel)
        split.addWidget(self.right)
        split.setSizes([600, 420])
        self.stack.addWidget(split)
        heads_page = QWidget()
        hl = QVBoxLayout(heads_page)
        hl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("layer"))
        row.addWidget(self.layer_combo)
        row.addLayout(self.head_boxes_row)
        row.addStretch(1)
        hl.addLayout(row)
        hl.addWidget(self.head_view, 1)
        self.stack.addWidget(heads_page)

        top = QHBoxLayout()
        top.addWidget(self.text, 1)
        top.addWidget(self.diff_box)
        top.addWidget(self.diff_model)
        top.addWidget(self.pin_btn)
        for fmt in ("png", "svg", "npz"):
            b = named(QPushButton(f"Export {fmt.upper()}"), f"attention.export-{fmt}", f"Export {fmt.upper()}")
            b.clicked.connect(lambda _=False, f=fmt: self.export_dialog(f))
            top.addWidget(b)
        modes = QHBoxLayout()
        modes.addWidget(self.mode_grid)
        modes.addWidget(self.mode_heads)
        modes.addWidget(QLabel("show"))
        modes.addWidget(self.values_combo)
        modes.addWidget(QLabel("layers"))
        modes.addWidget(self.layers_filter)
        modes.addWidget(QLabel("heads"))
        modes.addWidget(self.heads_filter)
        modes.addStretch(1)
        modes.addWidget(self.follow_box)
        modes.addWidget(self.step_label)
        modes.addWidget(self.step_slider, 1)
        self.layout_.addLayout(top)
        self.layout_.addWidget(self.tokens_label)
        self.layout_.addLayout(modes)
        self.layout_.addWidget(self.stack, 1)

        self._debounce = self.debounced(self.request, 150)
        self.text.textEdited.connect(lambda _: self._typing())
        self.values_combo.currentIndexChanged.connect(lambda _: self.redraw())
        self.mode_grid.toggled.connect(lambda on: self.stack.setCurrentIndex(0 if on else 1))
        self.grid.panelClicked.connect(self.select)
        self.layer_combo.currentIndexChanged.connect(self._layer_changed)
        self.step_slider.valueChanged.connect(self._scrub)
        self.follow_box.toggled.connect(self._follow_toggled)
        self.diff_box.toggled.connect(self._diff_toggled)
        self.diff_model.chosen.connect(lambda: self.request_diff() if self.diff_box.isChecked() else None)
        self.pin_btn.clicked.connect(self.pin_anchor)
        self.diff_panel.scores_map.headClicked.connect(lambda layer, head, _m: self.select(layer, head))
        ctx.runChanged.connect(self._run_changed)
        ctx.runSnapshot.connect(self.add_snapshot)
        ctx.scrubStep.connect(self.scrub_to_step)
        self.text.setText(PROBE_TEXT)
        self.show_source("loading the model\u2026")

    # --- inputs ----------------------------------------------------------------------------

    @property
    def show_scores(self) -> bool:
        return self.values_combo.currentIndex() == 1

    @property
    def following(self) -> bool:
        return self.follow_box.isChecked() and bool(self.snapshots)

    def _typing(self) -> None:
        if self.follow_box.isChecked():  # the user's own text: stop following the run's probe sentence
            self._typed = self.text.text()
            self.follow_box.setChecked(False)
        self._debounce.start()

    def set_text(self, text: str) -> None:
        """Analyse ``text`` (as if typed) on the current model."""
        self._debounce.stop()
        if self.follow_box.isChecked():
            self.follow_box.setChecked(False)
        self.text.setText(text)
        self.request()

    def refresh(self) -> None:
        if self.following:
            self.display(self.snapshots[self.step_slider.value()])
        else:
            self.request()

    def request(self) -> None:
        """The attention of the current model on the text in the box (engine thread)."""
        ref, text = self.ctx.model, self.text.text()
        if ref is None:
            return
        if not text:
            self.show_source(ref.label(), "type a text")
            return
        handle = ref.handle

        keep = {self.selected[0], max(0, self.layer_combo.currentIndex())}

        def job(token: CancelToken) -> AttentionData:
            picture = attention_picture(handle.model, handle.tokenizer, text, keep=keep, token=token)
            return AttentionData(ref.label(handle.step), text, made=picture)

        self.run(job, self._analysed, key="analyse", what="computing attention", cancellable=True)
        if self.diff_box.isChecked():
            self.request_diff()

    # --- the diff of two models --------------------------------------------------------------------

    def _diff_now(self) -> tuple:
        ref = self.ctx.model
        return (None if ref is None else (ref.key, ref.step, id(ref.handle)), self.text.text(), self.diff_model.choice)

    def _anchor(self) -> AttentionData | None:
        """The run's snapshot pinned as A of a snapshot diff (the first one unless another was pinned)."""
        if not self.snapshots:
            return None
        return next((s for s in self.snapshots if s.step == self.anchor_step), self.snapshots[0])

    def pin_anchor(self) -> None:
        """A of the diff becomes the snapshot shown now."""
        if self.following:
            self.anchor_step = self.snapshots[self.step_slider.value()].step
            self.diff_snapshots()

    def diff_snapshots(self) -> None:
        """The diff of two of the run's probe snapshots (A pinned, B on the slider): no engine work, both are kept."""
        a, b = self._anchor(), self.snapshots[self.step_slider.value()] if self.snapshots else None
        self.pin_btn.setVisible(True)
        if a is None or b is None:
            return
        self.diff_error = ""
        self.diff_panel.note.setStyleSheet("")
        scores = [s.head_scores for s in (a, b)]
        cmp = Comparison([f"step {a.step:,}", f"step {b.step:,}"], b.tokens, [np.zeros(0), np.zeros(0)],
                         [HeadScores(s, 0, 0, 0) for s in scores] if all(scores) else [],
                         [a.attention, b.attention])
        self.diff_panel.comparison = cmp
        self._diff_of = ("snapshots", a.step, b.step)
        self._snapshot_note = (f"A = {self.snapshot_run} at step {a.step:,} (pinned), B = at step {b.step:,} "
                               f"(the slider)")
        self.draw_diff()

    def _diff_toggled(self, on: bool) -> None:
        self.right.setCurrentIndex(1 if on else 0)
        total = sum(self.split.sizes())
        self.split.setSizes([int(total * (0.4 if on else 0.59)), int(total * (0.6 if on else 0.41))])
        if on:
            self.request_diff()
        else:
            self.diff_error = ""
            self.header.clear_error()
            self.diff_panel.clear("")

    def request_diff(self) -> None:
        """Model A (the one in use) and model B (the diff picker's) on the text (engine thread)."""
        if self.following:
            self.diff_snapshots()
            return
        self.pin_btn.setVisible(False)
        ref, text = self.ctx.model, self.text.text()
        if ref is None or not text:
            return
        what, spec = self.diff_model.choice
        run = self.ctx.run
        b_handle = run.ref.handle if what == "run" and run is not None and run.ref is not None else None
        workspace, a_handle, a_name = self.ctx.workspace, ref.handle, ref.label()
        now = self._diff_now()
        self._diff_of = now
        self.diff_error = ""
        self.diff_panel.clear("computing the diff\u2026")

        def job() -> Comparison:
            from app.context import ref_for

            b = b_handle or workspace.open(None if what == "default" else spec)
            b_name = ref_for(b).label()
            return compare((a_handle.model, a_handle.tokenizer), (b.model, b.tokenizer), text,
                           names=(a_name, b_name))

        def failed(message: str) -> None:
            if now != self._diff_now():
                return
            self.diff_error = f"diff: {message}"
            self.diff_panel.clear(self.diff_error)
            self.diff_panel.note.setStyleSheet("color:#b00020; font-weight:bold")
            self.show_error(self.diff_error)

        self.run(job, lambda c: self._diffed(c, now), key="diff", what="comparing two models", on_error=failed)

    def _diffed(self, cmp: Comparison, now: tuple) -> None:
        if now != self._diff_now() or not self.diff_box.isChecked() or self.following:
            return
        self.diff_panel.note.setStyleSheet("")
        self.diff_panel.comparison = cmp
        self.draw_diff()
        self.mark_painted()

    def draw_diff(self) -> None:
        cmp = self.diff_panel.comparison
        if cmp is None or not self.diff_box.isChecked():
            return
        causal = self.current.picture.causal if self.current is not None else True
        note = self._snapshot_note if self._diff_of[:1] == ("snapshots",) else ""
        self.diff_panel.show_comparison(cmp, *self.selected, causal=causal, note=note)

    def _analysed(self, data: AttentionData) -> None:
        if self.following:  # a snapshot took over meanwhile
            return
        self.display(data)

    def select(self, layer: int, head: int) -> None:
        self.selected = (layer, head)
        self.grid.mark_selected(self.selected)
        self._draw_detail()
        self.draw_diff()

    def _layer_changed(self, i: int) -> None:
        if self.current is not None and i >= 0:
            self._draw_head_view()

    # --- following a training run --------------------------------------------------------------------

    def _run_changed(self, run: Run) -> None:
        if run.state == "starting":  # a new run: its snapshots replace the last run's, and the view follows
            self.clear_snapshots()
            self.snapshot_run = f"run {run.folder}" if run.folder else "the training run"
            self.follow_box.setEnabled(True)
            if not self.follow_box.isChecked():
                self._typed = self.text.text()
                self.follow_box.blockSignals(True)
                self.follow_box.setChecked(True)
                self.follow_box.blockSignals(False)
        elif not run.active and self.snapshots:
            how = "stopped" if run.summary.get("stopped") else ("failed" if run.state == "failed" else "finished")
            self.snapshot_run = f"run {run.folder} ({how} at step {run.step:,})" if run.folder else \
                f"the run ({how} at step {run.step:,})"
            self._update_step_label()
            if self.following:
                self.display(self.snapshots[self.step_slider.value()])
        elif not run.active and self.follow_box.isChecked():  # ended before its first snapshot
            self.follow_box.setChecked(False)

    def add_snapshot(self, snap: Snapshot) -> None:
        """A training run's newest probe snapshot: kept for scrubbing, shown when following."""
        probe = snap.data
        data = AttentionData(f"{self.snapshot_run}, step {snap.step:,}", probe.text, snap.step,
                             raw=(probe.tokens, probe.attention, probe.scores),
                             head_scores=getattr(probe, "head_scores", None))
        if self.snapshots and len(self.snapshots[-1].tokens) != len(probe.tokens):
            self.snapshots.clear()
        self.snapshots.append(data)
        if len(self.snapshots) > MAX_SNAPSHOTS:  # thin out the middle of long runs, keep first and newest
            self.snapshots = self.snapshots[:1] + self.snapshots[1:-1:2] + self.snapshots[-1:]
        at_end = self.step_slider.value() >= self.step_slider.maximum()
        self.step_slider.setEnabled(True)
        self.follow_box.setEnabled(True)
        self.step_slider.blockSignals(True)
        self.step_slider.setRange(0, len(self.snapshots) - 1)
        if self.follow_box.isChecked() and (at_end or len(self.snapshots) == 1):
            self.step_slider.setValue(len(self.snapshots) - 1)
        self.step_slider.blockSignals(False)
        self._update_step_label()
        if self.follow_box.isChecked() and self.step_slider.value() == len(self.snapshots) - 1:
            self.display(data)

    def clear_snapshots(self) -> None:
        self.snapshots.clear()
        self.anchor_step = None
        self.step_slider.blockSignals(True)
        self.step_slider.setRange(0, 0)
        self.step_slider.blockSignals(False)
        self.step_slider.setEnabled(False)
        self._update_step_label()

    def _update_step_label(self) -> None:
        n = len(self.snapshots)
        if not n:
            self.step_label.setText("no training snapshots")
            return
        k = self.step_slider.value()
        self.step_label.setText(f"step {self.snapshots[k].step:,} ({k + 1}/{n})")
        self.step_label.setToolTip(f"{n} probe snapshots of {self.snapshot_run}")

    def _follow_toggled(self, on: bool) -> None:
        if on and self.snapshots:
            self._typed = self.text.text()
            self.step_slider.setValue(len(self.snapshots) - 1)
            self.display(self.snapshots[-1])
        elif not on:
            if self._typed and self.text.text() != self._typed:
                self.text.setText(self._typed)  # the user's text comes back
            self.request()

    def scrub_to_step(self, step: int) -> None:
        """Show the run's snapshot nearest ``step`` (another view scrubbed the run's timeline)."""
        if not self.snapshots:
            return
        index = min(range(len(self.snapshots)), key=lambda i: abs((self.snapshots[i].step or 0) - step))
        if index == self.step_slider.value():
            self._scrub(index)
        else:
            self.step_slider.setValue(index)  # -> _scrub

    def _scrub(self, index: int) -> None:
        if not 0 <= index < len(self.snapshots):
            return
        self._update_step_label()
        if not self.follow_box.isChecked():
            self._typed = self.text.text()
            self.follow_box.blockSignals(True)
            self.follow_box.setChecked(True)
            self.follow_box.blockSignals(False)
        self.display(self.snapshots[index])

    # --- outputs ---------------------------------------------------------------------------

    def display(self, data: AttentionData) -> None:
        self.current = data
        L, H, T = data.shape
        if data.step is not None:  # a run's probe sentence: the box shows what the picture is of
            self.text.setText(data.text)
            self.text.setToolTip("The training run's probe sentence; type, or untick \u201cfollow training\u201d, "
                                 "for your own text on the model in use")
        else:
            self.text.setToolTip("")
        shown = " | ".join(shown_token(t) for t in data.tokens[:400])
        note = f"  ({data.truncated:,} earlier tokens not shown: {T:,} fit)" if data.truncated else ""
        line = f"{T} tokens: {shown}"
        self.tokens_label.setText((line if len(line) <= 300 else line[:299] + "\u2026") + note)  # two lines at most
        self.tokens_label.setToolTip(line[:5000])
        what = "probe sentence" if data.step is not None else "text"
        cut = f", the last {T:,}" if data.truncated else ""
        kind = "" if data.picture.causal else ", bidirectional: every pair"
        model = data.model if data.step is None else f"{self.snapshot_run}, step {data.step:,}"  # (the run may
        self.show_source(model, f"{what} {quoted(data.text)} ({T:,} tokens{cut}{kind})",  # have ended since)
                         f"{model}\n{what}: {data.text[:500]}")
        if self.layer_combo.count() != L:
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems([f"layer {i}" for i in range(L)])
            self.layer_combo.blockSignals(False)
        if len(self.head_boxes) != H:
            for b in self.head_boxes:
                b.deleteLater()
            self.head_boxes = []
            for h in range(H):
                b = named(QCheckBox(f"head {h}"), f"attention.head-{h}", f"Show head {h}")
                b.setChecked(True)
                b.setStyleSheet(f"color: {head_color(h).name()}; font-weight: bold")
                b.toggled.connect(lambda on, hh=h: self._toggle_head(hh, on))
                self.head_boxes_row.addWidget(b)
                self.head_boxes.append(b)
        self.selected = (min(self.selected[0], L - 1), min(self.selected[1], H - 1))
        if data.step is not None and self.diff_box.isChecked() and self.following:
            self.diff_snapshots()  # B follows the slider
        self.redraw()
        self.mark_painted()

    def _toggle_head(self, h: int, on: bool) -> None:
        if h < len(self.head_view.heads_on):
            self.head_view.heads_on[h] = on
            self.head_view.update()

    @property
    def showing_scores(self) -> bool:
        return self.show_scores and self.current is not None and self.current.picture.score_tiles is not None

    def value_range(self) -> tuple[float, float]:
        assert self.current is not None
        return self.current.picture.score_range if self.showing_scores else (0.0, 1.0)

    def shown_heads(self) -> tuple[list[int], list[int]] | None:
        """The layers and heads the filters name (None, with the reason in the header, when they cannot be read)."""
        assert self.current is not None
        L, H, _ = self.current.shape
        try:
            return (parse_indices(self.layers_filter.text(), L), parse_indices(self.heads_filter.text(), H))
        except ValueError as e:
            self.show_error(f"layers / heads to show: {e}")
            return None

    def redraw(self) -> None:
        if self.current is None:
            return
        shown = self.shown_heads()
        if shown is None:
            return
        self.header.clear_error()
        if self.diff_error:  # the diff's refusal stays in sight while the diff is on
            self.show_error(self.diff_error)
        picture = self.current.picture
        lo, hi = self.value_range()
        tiles = picture.score_tiles if self.showing_scores else picture.tiles  # already shrunk and masked
        self.grid.show_matrices(tiles, lo, hi, *shown)
        if self.selected[0] not in shown[0] or self.selected[1] not in shown[1]:
            self.selected = (shown[0][0], shown[1][0])  # the enlarged head is one of those shown
        self.grid.mark_selected(self.selected)
        self._draw_detail()
        self._draw_head_view()
        self.draw_diff()

    def layer_of(self, layer: int, then) -> LayerMatrices | None:  # noqa: ANN001
        """The full matrices of ``layer`` if the picture has them; else they are computed in the engine thread
        and ``then()`` is called when they are there (a long input's picture keeps only the layers shown)."""
        data = self.current
        assert data is not None
        picture = data.picture
        if layer in picture.layers:
            return picture.layers[layer]
        ref = self.ctx.model
        if ref is None or data.step is not None:
            return None
        handle, text = ref.handle, data.text

        def job() -> LayerMatrices:
            return layer_matrices(handle.model, handle.tokenizer, text, layer, picture=picture)

        def got(matrices: LayerMatrices) -> None:
            if self.current is not data:
                return  # another picture meanwhile
            needed = {self.selected[0], max(0, self.layer_combo.currentIndex()), layer}
            for other in [k for k in picture.layers if k not in needed]:  # one or two layers at a time
                del picture.layers[other]
            picture.layers[layer] = matrices
            then()

        self.run(job, got, key=f"layer-{layer}", what=f"computing layer {layer}")
        return None

    def _draw_detail(self) -> None:
        if self.current is None:
            return
        layer, head = self.selected
        matrices = self.layer_of(layer, self._draw_detail)
        if matrices is None:
            return
        lo, hi = self.value_range()
        scores = self.showing_scores and matrices.scores is not None
        mat = matrices.scores[head] if scores else matrices.weights[head]
        if not scores and self.current.picture.causal:
            mat = masked(mat)
        what = "scores" if scores else "attention"
        step = f", step {self.current.step:,}" if self.current.step is not None else ""
        self.detail.show_matrix(mat, self.current.tokens, lo, hi, f"layer {layer}, head {head} {what}{step}",
                                causal=self.current.picture.causal)

    def _draw_head_view(self) -> None:
        if self.current is None:
            return
        layer = max(0, self.layer_combo.currentIndex())
        matrices = self.layer_of(layer, self._draw_head_view)
        if matrices is not None:
            self.head_view.set_layer(self.current.tokens, matrices.weights, layer)

    def model_changed(self, ref: ModelRef) -> None:
        if self.follow_box.isChecked():  # the user picked a model: show it, not the run's snapshots
            self.follow_box.setChecked(False)  # (which requests the text on the new model)
            return
        super().model_changed(ref)

    # --- export --------------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        return self.stack.currentWidget()

    def data_exports(self) -> dict[str, Any]:
        return {".npz": self.write_npz}

    def write_npz(self, path: Path) -> None:
        """The attention matrices (and scores) of every layer and head, with their tokens, model and text
        (a long input's are computed again in the engine thread: the picture keeps only some layers)."""
        data = self.current
        if data is None:
            raise UserError("no attention to export yet")
        picture = data.picture
        if picture.all_layers:
            write_attention_npz(path, picture, data.model, data.text)
            return
        ref = self.ctx.model
        if ref is None:
            raise UserError("no model to compute the attention with")
        handle = ref.handle

        def job() -> str:
            full = attention_picture(handle.model, handle.tokenizer, data.text, keep=range(picture.shape[0]))
            write_attention_npz(path, full, data.model, data.text)
            return str(path)

        self.run(job, lambda p: self.show_info(f"exported {p}"), key="export", what="computing every layer to export")
        raise ExportLater()
