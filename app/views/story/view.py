"""The story view ("RNN vs attention"): seeds 000 and 002 (11.2.1) told by a measurement. An RNN
encoder-decoder without attention (GRU), one with attention and a transformer are trained for the same
training time on the grammar task and evaluated on the same held-out sentences: exact match against the
source length, one line per family.

It opens on the project's own run (``assets/seq2seq-story.json``, written by ``python -m bench.seq2seq
--asset``; the view says its minutes and machine). "Run the story" runs ``engine.seq2seq.story.story`` in
the engine thread with the minutes per family chosen: each family's validation exact match is drawn over
its training time as it trains, and its accuracy-by-length line as soon as it is evaluated; when all three
are done the run replaces the shipped one (Cancel goes back to it). BLEU, steps and parameters are in the
table, a few of each family's mistakes below it.
"""

from __future__ import annotations

import html
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.views.base import View
from app.widgets.names import named
from engine.checkpoint import ASSETS
from engine.errors import UserError
from engine.seq2seq.data import BUCKETS, bucket_name
from engine.seq2seq.story import STORY_ARCHS, FamilyResult, Story, StoryEvent
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext

SHIPPED = ASSETS / "seq2seq-story.json"
DEFAULT_BUCKETS = [bucket_name(lo, hi) for lo, hi in BUCKETS]
NAMES = {"gru": "GRU, no attention", "rnn": "plain RNN, no attention", "lstm": "LSTM, no attention",
         "rnn-attention": "GRU + attention", "transformer": "transformer"}
COLORS = {"gru": "#dd8452", "rnn": "#c44e52", "lstm": "#8172b3", "rnn-attention": "#55a868", "transformer": "#4c72b0"}
SYMBOLS = {"gru": "o", "rnn": "o", "lstm": "o", "rnn-attention": "s", "transformer": "t"}
LEGEND_MARK = {"rnn-attention": "\u25a0", "transformer": "\u25bc"}  # the symbols' look-alikes (else a dot)
DOT = "\u25cf"
COLUMNS = ("family", "exact match", "BLEU", "training", "steps", "parameters")


def machine() -> str:
    """The machine a run in the app is made on, as the shipped run names its own."""
    import torch

    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"torch threads {torch.get_num_threads()}")


def percent_plot(name: str, accessible: str, title: str, bottom: str, size: str) -> pg.PlotWidget:
    """A plot of exact match in percent (0 to 100) against ``bottom``."""
    w = named(pg.PlotWidget(background="w"), name, accessible)
    p = w.getPlotItem()
    p.setTitle(title, size=size)
    p.setLabel("bottom", bottom)
    p.setLabel("left", "exact match", units="%")
    p.getAxis("left").enableAutoSIPrefix(False)
    p.showGrid(x=True, y=True, alpha=0.2)
    p.setYRange(0, 100, padding=0.02)
    p.setMenuEnabled(False)
    p.hideButtons()
    return w


def read_story(path: Path) -> Story:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Story.from_dict(raw)
    except FileNotFoundError:
        raise UserError(f"no story result at {path}") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not a story result ({type(e).__name__})") from None


class StoryView(View):
    key = "story"
    title = "RNN vs attention"
    follows_model = False  # its own translators, not the language model

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.story: Story | None = None  # the run drawn when nothing runs (shipped, or the user's last)
        self.story_origin = ""  # "shipped" | "yours"
        self.live_results: dict[str, FamilyResult] = {}
        self.live_curves: dict[str, list[tuple[float, float]]] = {}
        self.running = False
        self.run_minutes = 0.0
        self.test_per_bucket = 200  # held-out sentences per length bucket of a run (tests make them few)
        self.valid = 300
        self.evals = 10
        self.overrides: dict[str, Any] = {}  # model sizes of a run (tests make them tiny)
        self._started = False

        self.about = named(QLabel(), "story.about", "What the plot shows and where the result comes from")
        self.about.setWordWrap(True)
        self.about.setTextFormat(Qt.TextFormat.RichText)
        self.about.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.minutes = named(QDoubleSpinBox(), "story.minutes", "Training minutes per family")
        self.minutes.setRange(0.05, 120.0)
        self.minutes.setDecimals(2)
        self.minutes.setSingleStep(0.5)
        self.minutes.setValue(2.0)
        self.run_btn = named(QPushButton("Run the story"), "story.run",
                             "Train the three families for the same time and evaluate them")
        self.stop_btn = named(QPushButton("Cancel"), "story.stop", "Cancel the run (the last result stays)")
        self.stop_btn.setEnabled(False)
        self.shipped_btn = named(QPushButton("Show the project's run"), "story.shipped",
                                 "Draw the project's own run again")
        self.run_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.cancel)
        self.shipped_btn.clicked.connect(self.load_shipped)
        self.status = named(QLabel(), "story.status", "What the run is doing")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.addWidget(QLabel("minutes per family"))
        row.addWidget(self.minutes)
        row.addWidget(self.run_btn)
        row.addWidget(self.stop_btn)
        row.addWidget(self.shipped_btn)
        row.addWidget(self.status, 1)
        for fmt in ("png", "json"):
            b = named(QPushButton(f"Export {fmt.upper()}"), f"story.export-{fmt}", f"Export {fmt.upper()}")
            b.clicked.connect(lambda _=False, f=fmt: self.export_dialog(f))
            row.addWidget(b)

        self.by_length = percent_plot("story.by-length", "Exact match against source length, per family",
                                      "Exact match on held-out sentences, by source length",
                                      "source sentence length (words)", "11pt")
        self.by_length.getPlotItem().vb.setMouseEnabled(x=False, y=False)
        self.by_length.showGrid(x=False, y=True, alpha=0.25)
        self.legend = named(QLabel(), "story.legend", "Which line is which family, with its BLEU")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.legend.setStyleSheet("background:white; padding:4px; font-size:10pt")
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(0)
        ll.addWidget(self.by_length, 1)
        ll.addWidget(self.legend)
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.bleu: dict[str, float] = {}  # the families drawn, with their BLEU (the legend)
        self.curves = percent_plot("story.curves", "Validation exact match over training time, per family",
                                   "Validation exact match while training", "training time (s)", "10pt")
        self.curve_lines: dict[str, pg.PlotDataItem] = {}

        self.table = named(QTableWidget(0, len(COLUMNS)), "story.table", "Each family's result")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        head = self.table.horizontalHeader()
        for i in range(len(COLUMNS)):
            head.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._family_selected)
        self.mistakes = named(QTextBrowser(), "story.mistakes", "Some mistakes of the selected family")

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.curves)
        right.addWidget(self.table)
        right.addWidget(self.mistakes)
        right.setSizes([300, 150, 200])
        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(left)
        self.body.addWidget(right)
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.body.setSizes([660, 460])
        self._buckets_axis(DEFAULT_BUCKETS)
        self.layout_.addWidget(self.about)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.body, 1)
        self.show_source("the project's run", "loading assets/seq2seq-story.json")

    # --- the contract --------------------------------------------------------------------------

    def showEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(ev)
        if not self._started:
            self._started = True
            self.load_shipped()

    def refresh(self) -> None:
        if self.story is not None and not self.running:
            self.draw_story(self.story, self.story_origin)

    # --- the shipped run ---------------------------------------------------------------------------

    def load_shipped(self, path: Path | None = None) -> None:
        if self.running:
            return
        where = path or SHIPPED
        self.run(lambda: read_story(where), lambda s: self.draw_story(s, "shipped"), key="load",
                 what="reading the project's run", on_error=self._no_story)

    def _no_story(self, text: str) -> None:
        self.story = None
        self.about.setText("<b>Seeds 000 and 002:</b> an RNN encoder-decoder squeezes the whole sentence into its "
                           "last state and fails on long sentences; attention lets the decoder look back at every "
                           f"word. The project's own run is missing from this build ({html.escape(text)}): press "
                           "\u201cRun the story\u201d to measure it on this machine.")
        self.show_source("no result yet", "run the story")
        self.mark_painted()

    # --- drawing -----------------------------------------------------------------------------------

    def _clear(self) -> None:
        for item in self.lines.values():
            self.by_length.removeItem(item)
        for item in self.curve_lines.values():
            self.curves.removeItem(item)
        self.legend.setText("")
        self.lines, self.curve_lines, self.bleu = {}, {}, {}
        self.table.setRowCount(0)
        self.mistakes.clear()

    def _buckets_axis(self, buckets: list[str]) -> None:
        self.by_length.getAxis("bottom").setTicks([[(i, b) for i, b in enumerate(buckets)]])
        self.by_length.setXRange(-0.3, len(buckets) - 0.7, padding=0)

    def draw_story(self, s: Story, origin: str) -> None:
        """The whole of a finished run: one line per family, their curves, the table."""
        self.story, self.story_origin = s, origin
        self._clear()
        self._buckets_axis(s.buckets)
        for arch, r in s.families.items():
            self._draw_family(arch, r, s.buckets)
            self._draw_curve(arch, [(p[1], 100 * p[2]) for p in r.curve if p[2] is not None])
        self._fill_table(list(s.families.values()))
        sentences = f"{s.test_sentences:,} held-out sentences ({s.test_sentences // max(len(s.buckets), 1):,} " \
                    "per length bucket)"
        whose = "the project's own run" if origin == "shipped" else "your run"
        machine_text = f" on {html.escape(s.machine)}" if s.machine else ""
        clock = " (CPU time of one thread each)" if s.clock == "cpu" else ""
        self.about.setText(
            f"<b>Seeds 000 and 002 (11.2.1)</b>: without attention, everything the decoder knows about the sentence "
            f"passes through the encoder's last state, and long sentences fail; attention lets it look back at "
            f"every word; the transformer keeps only attention. Shown: <b>{whose}</b>, {s.minutes:g} minutes of "
            f"training per family{clock}{machine_text}; {sentences} of the grammar task.")
        self.show_source(whose, f"{s.minutes:g} min of training per family, {s.test_sentences:,} held-out sentences")
        self.status.setText("")
        self.mark_painted()

    def _draw_family(self, arch: str, r: FamilyResult, buckets: list[str]) -> None:
        xs = [i for i, b in enumerate(buckets) if b in r.exact_match_by_length]
        ys = [100 * r.exact_match_by_length[buckets[i]] for i in xs]
        color = COLORS.get(arch, "#333")
        if arch in self.lines:
            self.lines[arch].setData(xs, ys)
        else:
            self.lines[arch] = self.by_length.plot(xs, ys, pen=pg.mkPen(color, width=3), symbolSize=11,
                                                   symbol=SYMBOLS.get(arch, "o"), symbolBrush=color, symbolPen="w")
        self.bleu[arch] = r.bleu
        self.legend.setText("&nbsp;&nbsp;&nbsp;&nbsp;".join(
            f"<span style='color:{COLORS.get(a, '#333')}; font-size:13pt'>{LEGEND_MARK.get(a, DOT)}</span>"
            f"&nbsp;{html.escape(NAMES.get(a, a))} (BLEU {b:.1f})" for a, b in self.bleu.items()))

    def _draw_curve(self, arch: str, points: list[tuple[float, float]]) -> None:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        if arch not in self.curve_lines:
            color = COLORS.get(arch, "#333")
            self.curve_lines[arch] = self.curves.plot([], [], pen=pg.mkPen(color, width=2), symbol="o",
                                                      symbolSize=5, symbolBrush=color, symbolPen=None)
        self.curve_lines[arch].setData(xs, ys)

    def _fill_table(self, results: list[FamilyResult]) -> None:
        self.table.setRowCount(len(results))
        for row, r in enumerate(results):
            cells = (NAMES.get(r.arch, r.arch), f"{100 * r.exact_match:.1f}%", f"{r.bleu:.1f}",
                     f"{r.seconds / 60:.1f} min", f"{r.steps:,}", f"{r.parameters:,}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 0:
                    item.setForeground(pg.mkColor(COLORS.get(r.arch, "#333")))
                    item.setData(Qt.ItemDataRole.UserRole, r.arch)
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        if results:
            self.table.selectRow(0)

    def _family_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        arch = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        r = self.live_results.get(arch) if self.running else None
        if r is None and self.story is not None:
            r = self.story.families.get(arch)
        if r is None:
            return
        parts = [f"<p><b style='color:{COLORS.get(arch, '#333')}'>{html.escape(NAMES.get(arch, arch))}</b>: "
                 f"{len(r.mistakes)} of its mistakes on held-out sentences (source, reference, its translation)</p>"]
        for m in r.mistakes:
            parts.append(f"<p style='margin-top:4px'>{html.escape(m['source'])}<br>"
                         f"<span style='color:#1a7f37'>{html.escape(m['reference'])}</span><br>"
                         f"<span style='color:#b00020'>{html.escape(m['translation']) or '(empty)'}</span></p>")
        if not r.mistakes:
            parts.append("<p>None: every held-out sentence translated exactly.</p>")
        self.mistakes.setHtml("".join(parts))

    # --- a run ---------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        minutes = self.minutes.value()
        per_bucket, valid, evals, overrides = self.test_per_bucket, self.valid, self.evals, dict(self.overrides)
        lexicon = "small"
        if self.story is not None and isinstance(self.story.data.get("lexicon"), str):
            lexicon = self.story.data["lexicon"]

        def job(token: CancelToken) -> Story:
            from engine.seq2seq.data import grammar_data
            from engine.seq2seq.story import story

            data = grammar_data(0, test_per_bucket=per_bucket, valid=valid, lexicon_size=lexicon)
            s = story(data, minutes, STORY_ARCHS, token=token, evals=evals, **overrides)
            s.machine = machine()
            return s

        self.running, self.run_minutes = True, minutes
        self.live_results, self.live_curves = {}, {}
        self._clear()
        self._buckets_axis(self.story.buckets if self.story is not None else DEFAULT_BUCKETS)
        self._set_running(True)
        self.status.setText(f"Training {NAMES[STORY_ARCHS[0]]} for {minutes:g} min\u2026")
        self.show_source("your run (running)", f"{minutes:g} min of training per family")
        self.run(job, self._done, key="story", what=f"the story: 3 x {minutes:g} min of training", cancellable=True,
                 on_partial=self._partial, on_error=self._failed)

    def cancel(self) -> None:
        for job in list(self._jobs):
            if job.key == f"{self.key}:story":
                self.ctx.engine.cancel(job)

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.run_btn.setEnabled(not running)
        self.minutes.setEnabled(not running)
        self.shipped_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running)

    def _partial(self, events: list[Any]) -> None:
        changed: set[str] = set()
        for ev in events:
            if not isinstance(ev, StoryEvent):
                continue
            if ev.kind == "train" and ev.point is not None:
                p = ev.point
                if p.kind == "eval" and p.exact_match is not None:
                    self.live_curves.setdefault(ev.arch, []).append((p.seconds, 100 * p.exact_match))
                    changed.add(ev.arch)
                name = NAMES.get(ev.arch, ev.arch)
                if p.kind == "eval" and p.seconds >= 60 * self.run_minutes:  # its last validation: then the test
                    self.status.setText(f"{name} trained ({p.step:,} steps); evaluating it on the held-out "
                                        "sentences\u2026")
                else:
                    self.status.setText(f"Training {name}: step {p.step:,}, {p.seconds:.0f} of "
                                        f"{60 * self.run_minutes:.0f} s")
            elif ev.kind == "result" and ev.result is not None:
                self.live_results[ev.arch] = ev.result
                buckets = self.story.buckets if self.story is not None else list(ev.result.exact_match_by_length)
                self._draw_family(ev.arch, ev.result, buckets)
                self._fill_table(list(self.live_results.values()))
                left = [a for a in STORY_ARCHS if a not in self.live_results]
                self.status.setText(f"{NAMES.get(ev.arch, ev.arch)} evaluated" +
                                    (f"; training {NAMES.get(left[0], left[0])}\u2026" if left else ""))
                self.mark_painted()
        for arch in changed:
            self._draw_curve(arch, self.live_curves[arch])
        if changed:
            self.mark_painted()

    def _done(self, s: Story) -> None:
        self._set_running(False)
        self.draw_story(s, "yours")
        self.status.setText(f"Done in {s.wall_seconds / 60:.1f} min; it replaces the project's run until you show "
                            "that again.")

    def _failed(self, text: str) -> None:
        self._set_running(False)
        self.show_error(text)
        if self.story is not None:
            self.draw_story(self.story, self.story_origin)

    def _job_ended(self, job) -> None:  # noqa: ANN001
        super()._job_ended(job)
        if job.key == f"{self.key}:story" and job.state == "cancelled" and self.running:
            self._set_running(False)
            if self.story is not None:
                self.draw_story(self.story, self.story_origin)
            self.status.setText("Cancelled: the last finished run is shown again.")

    # --- export ------------------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        return self.body

    def export_name(self) -> str:
        return "seq2seq-story"

    def data_exports(self) -> dict[str, Any]:
        return {".json": self.write_json}

    def write_json(self, path: Path) -> None:
        if self.story is None:
            raise UserError("there is no finished run to export")
        path.write_text(json.dumps(self.story.to_dict(), indent=1), encoding="utf-8")
