"""The Attention view: every layer and head of the model at once, one enlarged, and a head view.

- Model view: the L x H grid of heatmaps alpha^(h)_ij (Eq. 11.13); click a panel to enlarge it with the
  tokens on both axes and the exact weight on hover. Scroll to zoom, drag to pan.
- Head view: lines from the selected query token to every key, one colour per head, heads toggled.
- Weights or scores: the pre-softmax q.k / sqrt(d_k) can be shown instead of the weights.
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
from PySide6.QtCore import Qt, QTimer
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
from app.views.attention.plots import AttentionDetail, AttentionGrid, HeadView, masked
from app.views.base import View
from app.widgets.names import named
from app.widgets.ranges import parse_indices
from app.widgets.text import shown_token
from engine.errors import UserError
from engine.events import Snapshot
from engine.inference import attention_for_text
from engine.tiles import TILE, thumbnails
from engine.training import PROBE_TEXT

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef, Run

MAX_SNAPSHOTS = 400


@dataclass
class AttentionData:
    """What the view shows: one text's matrices, from an analysis or a training run's probe snapshot."""

    tokens: list[str]
    attention: np.ndarray  # (L, H, T, T) float32
    scores: np.ndarray | None  # (L, H, T, T), -inf where masked
    model: str  # the model and step it is of ("default model, step 2,000")
    text: str  # the input
    step: int | None = None  # the training step of a run's snapshot
    truncated: int = 0
    tiles: np.ndarray | None = None  # long inputs: the weights (masked) and scores as thumbnails for the grid
    score_tiles: np.ndarray | None = None  # (L, H, t, t), made in the engine thread (engine.tiles)


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

        self.grid = AttentionGrid()
        self.detail = AttentionDetail()
        self.head_view = HeadView()
        for w, name in ((self.grid, "grid"), (self.detail, "detail"), (self.head_view, "head-view")):
            named(w, f"attention.{name}", {"grid": "All heads", "detail": "The selected head",
                                           "head-view": "Head view"}[name])
        self.stack = QStackedWidget()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(self.detail)
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

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.request)
        self.text.textEdited.connect(lambda _: self._typing())
        self.values_combo.currentIndexChanged.connect(lambda _: self.redraw())
        self.mode_grid.toggled.connect(lambda on: self.stack.setCurrentIndex(0 if on else 1))
        self.grid.panelClicked.connect(self.select)
        self.layer_combo.currentIndexChanged.connect(self._layer_changed)
        self.step_slider.valueChanged.connect(self._scrub)
        self.follow_box.toggled.connect(self._follow_toggled)
        ctx.runChanged.connect(self._run_changed)
        ctx.runSnapshot.connect(self.add_snapshot)
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

        def job() -> AttentionData:
            cap = attention_for_text(handle.model, handle.tokenizer, text, window="last", scores=True)
            data = AttentionData(cap.tokens, cap.attention, cap.scores, ref.label(handle.step), text, None,
                                 cap.truncated)
            if len(cap.tokens) > TILE:  # shrink every head here, not in the GUI thread
                data.tiles = thumbnails(cap.attention, causal=True)
                data.score_tiles = thumbnails(cap.scores, causal=False)
            return data

        self.run(job, self._analysed, key="analyse", what="computing attention")

    def _analysed(self, data: AttentionData) -> None:
        if self.following:  # a snapshot took over meanwhile
            return
        self.display(data)

    def select(self, layer: int, head: int) -> None:
        self.selected = (layer, head)
        self.grid.mark_selected(self.selected)
        self._draw_detail()

    def _layer_changed(self, i: int) -> None:
        if self.current is not None and i >= 0:
            self.head_view.set_data(self.current, i)

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
        data = AttentionData(probe.tokens, probe.attention, probe.scores, f"{self.snapshot_run}, step {snap.step:,}",
                             probe.text, snap.step)
        if self.snapshots and self.snapshots[-1].attention.shape != data.attention.shape:
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
        L, H, T, _ = data.attention.shape
        if data.step is not None:  # a run's probe sentence: the box shows what the picture is of
            self.text.setText(data.text)
            self.text.setToolTip("The training run's probe sentence; type, or untick \u201cfollow training\u201d, "
                                 "for your own text on the model in use")
        else:
            self.text.setToolTip("")
        shown = " | ".join(shown_token(t) for t in data.tokens)
        note = f"  ({data.truncated} earlier tokens not shown: the context is {T})" if data.truncated else ""
        line = f"{T} tokens: {shown}"
        self.tokens_label.setText((line if len(line) <= 300 else line[:299] + "\u2026") + note)  # two lines at most
        self.tokens_label.setToolTip(line[:5000])
        what = "probe sentence" if data.step is not None else "text"
        cut = f", the last {T}" if data.truncated else ""
        model = data.model if data.step is None else f"{self.snapshot_run}, step {data.step:,}"  # (the run may
        self.show_source(model, f"{what} {quoted(data.text)} ({T} tokens{cut})",  # have ended since it came)
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
        self.redraw()
        self.mark_painted()

    def _toggle_head(self, h: int, on: bool) -> None:
        if h < len(self.head_view.heads_on):
            self.head_view.heads_on[h] = on
            self.head_view.update()

    def matrices(self) -> tuple[np.ndarray, float, float, bool]:
        """What is drawn: the weights or the scores (L, H, T, T), their colour range, and whether the cells
        above the diagonal are to be drawn as masked (the causal mask; scores carry it as -inf already).
        The arrays are not copied: a long input's matrices are large, and each head is masked as drawn."""
        data = self.current
        assert data is not None
        if self.show_scores and data.scores is not None:
            finite = data.scores[np.isfinite(data.scores)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            return data.scores, lo, hi, False
        return data.attention, 0.0, 1.0, True

    def shown_heads(self) -> tuple[list[int], list[int]] | None:
        """The layers and heads the filters name (None, with the reason in the header, when they cannot be read)."""
        assert self.current is not None
        L, H = self.current.attention.shape[:2]
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
        mats, lo, hi, causal = self.matrices()
        tiles = self.current.score_tiles if self.show_scores and self.current.scores is not None \
            else self.current.tiles
        if tiles is not None:
            self.grid.show_matrices(tiles, lo, hi, *shown)  # already shrunk and masked
        else:
            self.grid.show_matrices(mats, lo, hi, *shown, causal=causal)
        if self.selected[0] not in shown[0] or self.selected[1] not in shown[1]:
            self.selected = (shown[0][0], shown[1][0])  # the enlarged head is one of those shown
        self.grid.mark_selected(self.selected)
        self._draw_detail()
        self.head_view.set_data(self.current, max(0, self.layer_combo.currentIndex()))

    def _draw_detail(self) -> None:
        if self.current is None:
            return
        mats, lo, hi, causal = self.matrices()
        layer, head = self.selected
        what = "scores" if self.show_scores and self.current.scores is not None else "attention"
        step = f", step {self.current.step:,}" if self.current.step is not None else ""
        self.detail.show_matrix(masked(mats[layer, head]) if causal else mats[layer, head], self.current.tokens, lo,
                                hi, f"layer {layer}, head {head} {what}{step}")

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
        """The attention matrices (and scores) shown, with their tokens, model and text."""
        data = self.current
        if data is None:
            raise UserError("no attention to export yet")
        extra = {"scores": data.scores} if data.scores is not None else {}
        np.savez_compressed(path, attention=data.attention, tokens=np.array(data.tokens), model=np.array(data.model),
                            text=np.array(data.text), **extra)
