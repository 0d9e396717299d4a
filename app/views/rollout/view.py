"""The Rollout view: how much of each input token reaches each position through all the layers (attention
rollout and attention flow, Abnar & Zuidema 2020; engine.interp.rollout).

One layer's attention says where a position looks in the layer below, not which input tokens it carries:
after a few layers every position is a mixture. Each layer is taken as its heads' mean attention with the
residual connection added, A^(l) = 0.5 mean_h alpha^(l,h) + 0.5 I (rows normalised; Eq. 11.13 and 11.15).

- Left: rollout R^(l) = A^(l) ... A^(0) after the layer on the slider (rows: positions, columns: the input
  tokens they carry); right: that layer's own heads' mean attention, for contrast.
- Below: for the selected position (click a row; the last token at first), three distributions over the
  input tokens through all the layers: the last layer's raw attention, rollout, and attention flow (the
  maximum flow from the position to each input token in the layered graph, scaled to sum to 1 here to be
  compared; computed in the engine thread, refused beyond what takes more than a few seconds).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QSlider, QSplitter

from app.views.attention.plots import AttentionDetail, TokenAxis
from app.views.attention.view import quoted
from app.views.base import View
from app.widgets.names import named
from app.widgets.text import plural, shown_token
from engine.errors import UserError
from engine.files import atomic_write
from engine.interp.rollout import Rollout, max_flow_tokens, rollout_for_text
from engine.tasks import CancelToken
from engine.tiles import masked
from engine.training import PROBE_TEXT

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

VIEW_FLOW_BUDGET = 1.2e8  # a position's flow here takes about 3 s at most (engine.interp.rollout.FLOW_BUDGET)
RAW, ROLL, FLOW = "#b8bcc4", "#4c72b0", "#dd8452"


class RolloutView(View):
    key = "rollout"
    title = "Rollout"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.result: Rollout | None = None
        self.position = -1  # the selected position (-1: the last)
        self.flow_row: np.ndarray | None = None  # the selected position's flow to every input token (T,)
        self.flow_of: tuple = ()  # (model, text, position) the flow row is of
        self.flow_note = ""
        self.shown: tuple = ()  # (model, text) the pictures are of

        self.text = named(QLineEdit(PROBE_TEXT), "rollout.text", "Text whose attention is rolled out")
        self.layer = named(QSlider(Qt.Orientation.Horizontal), "rollout.layer", "Rollout after this layer")
        self.layer.setEnabled(False)
        self.layer_label = named(QLabel("after layer -"), "rollout.layer-label", "The layer the matrices are of")
        self.caption = named(QLabel(), "rollout.caption", "How to read the view")
        self.caption.setWordWrap(True)
        self.rolled = named(AttentionDetail(), "rollout.matrix", "Rollout after the layer: click a row")
        self.raw = named(AttentionDetail(), "rollout.raw", "That layer's own attention (heads' mean)")
        self.rolled.plot.setLabel("left", "position i")
        self.rolled.plot.setLabel("bottom", "input token j")
        self.row_band = pg.LinearRegionItem((0, 1), orientation="horizontal", movable=False,
                                            brush=pg.mkBrush(255, 255, 255, 40), pen=pg.mkPen("#ff8c00", width=2))
        self.row_band.setZValue(10)
        self.row_band.hide()
        self.rolled.plot.addItem(self.row_band)
        self.axis = TokenAxis("bottom")
        self.bars = named(pg.PlotWidget(background="w", axisItems={"bottom": self.axis}), "rollout.bars",
                          "Where the selected position's information comes from")
        self.bars.setLabel("left", "share of the position")
        self.bars.getAxis("left").enableAutoSIPrefix(False)
        self.bars.setMouseEnabled(x=True, y=False)
        self.bars.hideButtons()
        self.bars.addLegend(offset=(-10, 10))
        self.raw_bars = pg.BarGraphItem(x=[], height=[], width=0.28, brush=RAW, pen=pg.mkPen(None),
                                        name="last layer's attention")
        self.roll_bars = pg.BarGraphItem(x=[], height=[], width=0.28, brush=ROLL, pen=pg.mkPen(None), name="rollout")
        self.flow_bars = pg.BarGraphItem(x=[], height=[], width=0.28, brush=FLOW, pen=pg.mkPen(None),
                                         name="flow (scaled to sum 1)")
        for item in (self.raw_bars, self.roll_bars, self.flow_bars):
            self.bars.addItem(item)

        row = QHBoxLayout()
        row.addWidget(QLabel("text"))
        row.addWidget(self.text, 1)
        row.addWidget(self.layer_label)
        row.addWidget(self.layer, 1)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.caption)
        maps = QSplitter(Qt.Orientation.Horizontal)
        maps.addWidget(self.rolled)
        maps.addWidget(self.raw)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(maps)
        split.addWidget(self.bars)
        split.setSizes([520, 300])
        self.layout_.addWidget(split, 1)

        self._debounce = self.debounced(self.refresh, 200, self.text)
        self.layer.valueChanged.connect(lambda _: self.draw_matrices())
        self.rolled.scene().sigMouseClicked.connect(self._clicked)
        self.show_source("loading the model\u2026")

    # --- inputs ---------------------------------------------------------------------------------

    def _now(self) -> tuple:
        ref = self.ctx.model
        return ((ref.key, ref.step, id(ref.handle)) if ref is not None else None, self.text.text())

    @property
    def selected(self) -> int:
        """The selected position, counted from 0."""
        T = len(self.result.tokens) if self.result is not None else 0
        return self.position % T if T else 0

    def _clicked(self, ev) -> None:  # noqa: ANN001
        if ev.button() != Qt.MouseButton.LeftButton or self.result is None:
            return
        p = self.rolled.plot.vb.mapSceneToView(ev.scenePos())
        T = len(self.result.tokens)
        if 0 <= p.x() < T and 0 <= p.y() < T:
            self.select(int(p.y()))

    def select(self, position: int) -> None:
        """Show where ``position`` (a row) takes its information from; its flow is computed."""
        self.position = position
        self.draw_matrices()
        self.request_flow()

    # --- the engine -------------------------------------------------------------------------------

    def refresh(self) -> None:
        ref, text = self.ctx.model, self.text.text()
        if ref is None:
            return
        now = self._now()
        if now != self.shown:
            if text != (self.shown[1] if self.shown else None):
                self.position = -1  # another text: its last token, the rows no longer mean the same tokens
            self.clear_pictures()
        if not text:
            self.show_source(ref.label(), "type a text")
            return
        handle = ref.handle

        def job(token: CancelToken) -> Rollout:
            return rollout_for_text(handle.model, handle.tokenizer, text, token=token)

        def failed(message: str) -> None:
            if now == self._now():
                self.clear_pictures()
                self.show_source(ref.label(), f"text {quoted(text)}")
                self.show_error(message)

        self.run(job, lambda r, n=now: self._rolled(r, n), key="rollout", what="rolling the attention out",
                 cancellable=True, on_error=failed)

    def request_flow(self) -> None:
        r, now = self.result, self._now()
        if r is None:
            return
        i, T, L = self.selected, len(r.tokens), r.mixed.shape[0]
        of = (*now, i)
        if self.flow_of == of:
            return
        self.flow_of, self.flow_row = of, None
        limit = max_flow_tokens(L, 1, VIEW_FLOW_BUDGET)
        if T > limit:
            self.flow_note = (f"Flow: the max-flow of one position through {L} layers is computed for texts of at "
                              f"most {limit} tokens here (this one is {T}; txe rollout --flow takes longer ones).")
            self.draw_bars()
            return
        self.flow_note = "Flow: computing\u2026"
        self.draw_bars()

        def job(token: CancelToken) -> np.ndarray:
            return r.flow_rows([i], budget=VIEW_FLOW_BUDGET, token=token)[0]

        self.run(job, lambda f, o=of: self._flowed(f, o), key="flow", what="computing the attention flow",
                 cancellable=True)

    # --- results ----------------------------------------------------------------------------------

    def clear_pictures(self) -> None:
        self.result, self.flow_row, self.flow_of, self.flow_note = None, None, (), ""
        for m in (self.rolled, self.raw):
            m.values = None
            m.image.clear()
            m.title = ""
            m.plot.setTitle("")
            m.left.tokens = m.bottom.tokens = []
        self.row_band.hide()
        for item in (self.raw_bars, self.roll_bars, self.flow_bars):
            item.setOpts(x=[], height=[])
        self.axis.tokens = []
        self.bars.setTitle("")
        self.caption.setText("")
        self.layer.setEnabled(False)
        self.shown = self._now()

    def _rolled(self, r: Rollout, now: tuple) -> None:
        if now != self._now():
            return
        self.result, self.shown = r, now
        self.flow_of, self.flow_row = (), None
        L, T = r.rollout.shape[0], len(r.tokens)
        if not -T <= self.position < T:
            self.position = -1
        self.layer.blockSignals(True)
        self.layer.setRange(0, L - 1)
        self.layer.setValue(L - 1)
        self.layer.blockSignals(False)
        self.layer.setEnabled(L > 1)
        self.draw_matrices()
        self.request_flow()
        ref = self.ctx.model
        if ref is not None:
            cut = f", its first {r.truncated:,} tokens left out" if r.truncated else ""
            self.show_source(ref.label(), f"text {quoted(self.text.text())} ({plural(T, 'token')}{cut})",
                             f"{ref.label()}\ntext: {self.text.text()[:500]}")
        self.mark_painted()

    def _flowed(self, row: np.ndarray, of: tuple) -> None:
        if of != self.flow_of or self.result is None:
            return
        self.flow_row = row
        self.flow_note = (f"Flow from position {of[-1]}: the max-flow to each input token (each at most 1; "
                          f"{float(row.sum()):.2f} in all, scaled to sum 1 in the bars).")
        self.draw_bars()

    def draw_matrices(self) -> None:
        r = self.result
        if r is None:
            return
        layer, i = self.layer.value(), self.selected
        self.layer_label.setText(f"after layer {layer} of {r.rollout.shape[0] - 1}")
        mat, own = r.rollout[layer], r.raw[layer]
        causal = r.causal
        # a decoder's first row is all its own token (1.0): the scale is set by the others
        rest = mat[1:] if causal and len(mat) > 1 else mat
        through = f"layers 0-{layer}" if layer else "layer 0"
        self.rolled.show_matrix(masked(mat) if causal else mat, r.tokens, 0.0, float(rest.max()),
                                f"Rollout through {through} (row {i} selected: click another)",
                                causal=causal, names=("position", "input token"))
        self.row_band.setRegion((i, i + 1))
        self.row_band.show()
        self.raw.show_matrix(masked(own) if causal else own, r.tokens, 0.0, float(own.max()),
                             f"Layer {layer} alone: its heads' mean attention", causal=causal)
        self.caption.setText(
            "Each layer as its heads' mean attention plus the residual connection, A = 0.5 mean<sub>h</sub> "
            "&alpha;<sup>(h)</sup> + 0.5 I; rollout multiplies them from the first layer up, so row i says how much "
            f"of each input token position i carries after layer {layer}. Bars: where position {i} "
            f"'{shown_token(r.tokens[i])}' takes its information from through all {r.rollout.shape[0]} layers.")
        self.draw_bars()

    def draw_bars(self) -> None:
        r = self.result
        if r is None:
            return
        i, T = self.selected, len(r.tokens)
        x = np.arange(T, dtype=float) + 0.5
        raw, roll = r.raw[-1][i], r.rollout[-1][i]
        self.raw_bars.setOpts(x=x - 0.3, height=raw, width=0.28)
        self.roll_bars.setOpts(x=x, height=roll, width=0.28)
        flow = self.flow_row
        scaled = flow / flow.sum() if flow is not None and flow.sum() > 0 else np.zeros(0)
        self.flow_bars.setOpts(x=x[:len(scaled)] + 0.3, height=scaled, width=0.28)
        self.axis.tokens = [shown_token(t) for t in r.tokens]
        self.axis.picture = None
        self.axis.update()
        top = max(float(raw.max()), float(roll.max()), float(scaled.max()) if scaled.size else 0.0, 0.05)
        span = min(T, 60)
        start = max(0, min(i + 1, T) - span)
        self.bars.getPlotItem().vb.setRange(QRectF(start, 0, span, top * 1.1), padding=0)
        self.bars.setTitle(f"Position {i} '{shown_token(r.tokens[i])}': its sources through all the layers. "
                           f"{self.flow_note}", size="9pt", color="#222")

    def model_changed(self, ref: ModelRef) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self.clear_pictures()
            self.mark_stale(f"now on {ref.name}")

    # --- export -----------------------------------------------------------------------------------

    def data_exports(self) -> dict[str, Any]:
        return {".npz": self.write_npz}

    def write_npz(self, path: Path) -> None:
        """Rollout after every layer, the layers' mixed and raw matrices, the selected position's flow."""
        r = self.result
        if r is None:
            raise UserError("no rollout to export yet")
        arrays = {"tokens": np.array(r.tokens), "rollout": r.rollout, "mixed": r.mixed, "raw": r.raw,
                  "position": np.array(self.selected)}
        if self.flow_row is not None:
            arrays["flow"] = self.flow_row

        def write(f: Any) -> None:
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            f.write(buf.getvalue())

        atomic_write(path, write, "the rollout")
