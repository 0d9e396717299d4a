"""The Few-shot view: a prompt of k examples of a task, the model's answer, and accuracy against k (issue 15).

Pick a task (assets/fewshot: antonyms, capitals, ...), k and a query: the prompt is built as ``txe few-shot``
builds it (k example lines ``input -> output`` drawn from the task's other items, then ``query ->``), shown
with its example lines highlighted; the model's greedy answer against the expected one; and beneath, the
attention from the answer's first token back to each example line (a bar per line, mean over heads, of one
layer or averaged over layers). "Measure accuracy" runs the task's first N queries at k = 0, 1, 2, 4, 8 as a
cancellable engine job, its curve drawn point by point (seconds on the default model, minutes on SmolLM2).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
)

from app.views.base import View
from app.widgets.names import named
from engine.interp.fewshot import DEFAULT_KS, load_task, task_names
from engine.interp.fewshot_panel import QueryView, accuracy_curve, line_attention, one_query

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

LINE_COLOURS = ["#e3f0fb", "#fdf0d8"]  # example lines, alternating
QUERY_COLOUR = "#e6f5e1"


class FewShotView(View):
    key = "few-shot"
    title = "Few-shot"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.current: QueryView | None = None
        self.accuracy: dict[int, float] = {}
        self._accuracy_of: tuple[str, str, int] | None = None  # (model key, task, queries) of the curve
        self._label = ""
        self.task = named(QComboBox(), "few-shot.task", "Few-shot task")
        self.task.addItems(task_names())
        self.task.setCurrentText("antonyms")
        self.k = named(QSpinBox(), "few-shot.k", "Examples in the prompt (k)")
        self.k.setRange(0, 16)
        self.k.setValue(4)
        self.query = named(QComboBox(), "few-shot.query", "The query", "Which of the task's items is asked")
        self.layer = named(QComboBox(), "few-shot.layer", "Layer of the attention bars",
                           "The attention from the answer to each example line: one layer's (mean over its "
                           "heads) or the mean over layers")
        for combo in (self.task, self.query, self.layer):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.setMinimumContentsLength(16)
        self.queries = named(QSpinBox(), "few-shot.queries", "Queries per k when measuring accuracy")
        self.queries.setRange(1, 70)
        self.queries.setValue(20)
        self.measure_btn = named(QPushButton("Measure accuracy"), "few-shot.measure", "Measure accuracy against k",
                                 "The first N queries at k = 0, 1, 2, 4, 8: seconds on the default model, minutes "
                                 "on SmolLM2 (cancel in the header)")
        self.measure_btn.clicked.connect(self.measure)
        row = QHBoxLayout()
        for text, w in (("task", self.task), ("k", self.k), ("query", self.query), ("attention of", self.layer)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(QLabel("queries"))
        row.addWidget(self.queries)
        row.addWidget(self.measure_btn)

        self.prompt = named(QTextEdit(), "few-shot.prompt", "The prompt the model reads")
        self.prompt.setReadOnly(True)
        self.prompt.setFont(QFont("monospace", 10))
        self.answer = named(QLabel(), "few-shot.answer", "The model's answer and the expected one")
        self.answer.setWordWrap(True)
        self.answer.setTextFormat(pg.QtCore.Qt.TextFormat.RichText)
        self.acc_plot = named(pg.PlotWidget(background="w"), "few-shot.accuracy", "Accuracy against k")
        self.acc_plot.setLabel("bottom", "k (examples in the prompt)")
        self.acc_plot.setLabel("left", "accuracy")
        self.acc_plot.setYRange(0, 1, padding=0.05)
        self.acc_plot.setXRange(-0.3, 8.3, padding=0)
        self.acc_plot.showGrid(x=True, y=True, alpha=0.3)
        self.acc_plot.getAxis("bottom").setTicks([[(k, str(k)) for k in DEFAULT_KS]])
        self.acc_curve = self.acc_plot.plot(pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=8,
                                            symbolBrush="#1f77b4")
        self.acc_note = named(QLabel(), "few-shot.accuracy-note", "What the accuracy curve is of")
        self.acc_note.setWordWrap(True)
        self.acc_note.setMinimumHeight(self.acc_note.fontMetrics().lineSpacing() * 2 + 4)
        self.att_plot = named(pg.PlotWidget(background="w"), "few-shot.attention",
                              "Attention from the answer to each example line")
        self.att_plot.setLabel("left", "attention (sum over the line)")
        self.att_plot.getAxis("left").enableAutoSIPrefix(False)
        self.att_plot.setLabel("bottom", "example line")
        self.att_plot.showGrid(y=True, alpha=0.3)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#1f77b4")
        self.att_plot.addItem(self.bars)

        left = QVBoxLayout()
        left.addWidget(self.prompt, 1)
        left.addWidget(self.answer)
        right = QVBoxLayout()
        right.addWidget(self.acc_plot, 1)
        right.addWidget(self.acc_note)
        right.addWidget(self.att_plot, 1)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 1)
        self.layout_.addLayout(row)
        self.layout_.addLayout(body, 1)

        self._fill_queries()
        self.task.currentIndexChanged.connect(self._task_changed)
        self.k.valueChanged.connect(lambda _: self.refresh())
        self.query.currentIndexChanged.connect(lambda _: self.refresh())
        self.layer.currentIndexChanged.connect(lambda _: self.draw_bars())
        self.show_source("loading the model\u2026")

    # --- inputs ----------------------------------------------------------------------------------

    def _fill_queries(self) -> None:
        task = load_task(self.task.currentText())
        self.query.blockSignals(True)
        self.query.clear()
        for x, y in task.items:
            self.query.addItem(f"{x} \u2192 {y}")
        self.query.setCurrentIndex(0)
        self.query.blockSignals(False)
        self.k.setMaximum(len(task.items) - 1)

    def _task_changed(self) -> None:
        self._fill_queries()
        self.clear_accuracy()
        self.refresh()

    def _fill_layers(self, L: int) -> None:
        if self.layer.count() == L + 1:
            return
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItem("mean over layers", None)
        for i in range(L):
            self.layer.addItem(f"layer {i}", i)
        self.layer.blockSignals(False)

    # --- one query -------------------------------------------------------------------------------

    def model_changed(self, ref: ModelRef) -> None:
        self.clear()
        self.clear_accuracy()
        super().model_changed(ref)

    def clear(self) -> None:
        self.current = None
        self.prompt.clear()
        self.answer.clear()
        self.bars.setOpts(x=[], height=[])
        self.att_plot.getAxis("bottom").setTicks(None)

    def clear_accuracy(self) -> None:
        self.accuracy = {}
        self._accuracy_of = None
        self.acc_curve.setData([], [])
        self.acc_note.setText("Accuracy against k: press \u201cMeasure accuracy\u201d (seconds on the default "
                              "model, minutes on SmolLM2).")

    def refresh(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        handle = ref.handle
        label = ref.label(handle.step) if handle is not None else ref.name
        task, k, q = self.task.currentText(), self.k.value(), max(0, self.query.currentIndex())
        self._label = label

        def job() -> QueryView:
            return one_query(handle, task, q, k)

        def failed(text: str) -> None:  # no picture of the last model or prompt stays under the message
            self.clear()
            self.show_source(label, f"task {task}, k={k}")
            self.show_error(text)
            self.mark_painted()

        self.run(job, lambda v: self.show_query(v, label), key="query", what="asking the model", on_error=failed)

    def show_query(self, v: QueryView, label: str) -> None:
        self.current = v
        p = v.prompt
        lines = []
        for i, (x, y) in enumerate(p.examples):
            lines.append(f"<span style='background:{LINE_COLOURS[i % 2]}'>{html.escape(f'{x} -> {y}')}</span>"
                         f"<span style='color:#888'>  #{i + 1}</span>")
        lines.append(f"<span style='background:{QUERY_COLOUR}'><b>{html.escape(p.query)} -&gt;</b></span>")
        self.prompt.setHtml("<pre style='font-family:monospace'>" + "<br>".join(lines) + "</pre>")
        mark = "<span style='color:#1a7f37'>\u2713</span>" if v.correct else "<span style='color:#b00020'>\u2717</span>"
        self.answer.setText(f"<span style='font-size:13pt'>{mark} answer: <b><tt>{html.escape(v.output or '(empty)')}"
                            f"</tt></b> &nbsp; expected: <tt>{html.escape(p.expected)}</tt></span><br>"
                            f"{v.tokens} prompt tokens, {v.k} example line{'s' if v.k != 1 else ''}; greedy "
                            "continuation, first line, judged as txe few-shot judges it")
        self._fill_layers(v.attention.from_answer.shape[0])
        self.draw_bars()
        self.show_source(label, f"task {v.task}, k={v.k}, query \u201c{p.query}\u201d",
                         f"{label}\n{p.text}")
        self.mark_painted()

    def draw_bars(self) -> None:
        v = self.current
        if v is None:
            return
        layer = self.layer.currentData()
        values = line_attention(v, layer)
        x = np.arange(1, len(values) + 1)
        self.bars.setOpts(x=x, height=values, width=0.7)
        self.att_plot.getAxis("bottom").setTicks([[(int(i), f"#{i}") for i in x]])
        self.att_plot.setXRange(0.3, max(1, len(values)) + 0.7, padding=0)
        top = float(values.max()) if len(values) else 0.0
        self.att_plot.setYRange(0, max(0.05, top * 1.15), padding=0)
        which = "mean over layers" if layer is None else f"layer {layer}"
        self.att_plot.setTitle(f"attention from the answer to each example line ({which}, mean over heads)"
                               if len(values) else "k = 0: no example lines to attend to", size="9pt")

    # --- accuracy against k ------------------------------------------------------------------------

    def measure(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        handle, task, n = ref.handle, self.task.currentText(), self.queries.value()
        self.clear_accuracy()
        self._accuracy_of = (ref.key, task, n)
        slow = ref.facts.get("parameters", 0) > 20_000_000
        self.acc_note.setText(f"measuring {task} over {n} queries at k = 0, 1, 2, 4, 8"
                              + ("\u2026 (minutes on a model this size)" if slow else "\u2026"))

        def job(token: Any) -> dict[int, float]:
            return accuracy_curve(handle, task, n, token)

        def partial(points: list[tuple[int, float]]) -> None:
            if self._accuracy_of != (ref.key, task, n):
                return
            self.accuracy.update(dict(points))
            self._draw_accuracy()

        def done(acc: dict[int, float]) -> None:
            if self._accuracy_of != (ref.key, task, n):
                return
            self.accuracy = dict(acc)
            self._draw_accuracy()
            self.acc_note.setText(f"Accuracy of {ref.name} on {task}: the first {n} queries at each k "
                                  f"(greedy answer, first line, judged as txe few-shot does).")
            self.mark_painted()

        def failed(text: str) -> None:
            self.clear_accuracy()
            self.show_error(text)

        self.run(job, done, key="accuracy", what=f"measuring accuracy over {n} queries x 5 k", cancellable=True,
                 on_error=failed, on_partial=partial)

    def _draw_accuracy(self) -> None:
        ks = sorted(self.accuracy)
        self.acc_curve.setData(ks, [self.accuracy[k] for k in ks])
