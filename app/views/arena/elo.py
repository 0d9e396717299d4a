"""Strength over training on the Train page: the Elo of each checkpoint of a run against the games it had
trained, with its 95% interval, and the reference opponents as labelled horizontal lines (one scale,
``engine.rl.ladder``: a Bradley-Terry fit of a round robin, random at 0). The "Ladder" box runs the
round robin on a run folder (the run just trained, or any finished one) as the engine's task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
)

from app.views.training.view import spin
from app.widgets.names import named
from engine.events import Finished, Progress, Snapshot

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView

CURVE = "#6a3d9a"
REF_COLORS = ["#2ca02c", "#d62728", "#1f77b4", "#ff7f0e", "#8c564b"]
TITLE = "#1d2733"
TASK = "ladder"


class EloPlot:
    """Draws a ladder (the dict of ``LadderResult.to_dict`` or a saved ladder.json) into one plot."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        plot.setTitle("Strength over training (Elo; bars: 95% interval)", color=TITLE)
        plot.setLabel("left", "Elo")
        plot.setLabel("bottom", "training games")
        plot.showGrid(x=True, y=True, alpha=0.25)
        self.curve = plot.plot(pen=pg.mkPen(CURVE, width=2.5), symbol="o", symbolSize=8, symbolBrush=CURVE,
                               symbolPen="w")
        self.bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), pen=pg.mkPen(CURVE, width=1.5), beam=0)
        plot.addItem(self.bars)
        self.lines: list[pg.InfiniteLine] = []
        self.hint = pg.TextItem("Run the ladder on a run's checkpoints (left) to see its strength grow.",
                                color="#6b7785", anchor=(0.5, 0.5))
        plot.addItem(self.hint)
        self.data: dict[str, Any] | None = None
        self.xs = np.zeros(0)
        self.ys = np.zeros(0)
        plot.disableAutoRange()  # the ranges follow the ladder shown (see show)
        self.clear()

    def clear(self) -> None:
        for line in self.lines:
            self.plot.removeItem(line)
        self.lines = []
        self.data = None
        self.xs, self.ys = np.zeros(0), np.zeros(0)
        self.curve.setData([], [])
        self.bars.setData(x=np.zeros(0), y=np.zeros(0), top=np.zeros(0), bottom=np.zeros(0))
        self.hint.setVisible(True)
        self.plot.setXRange(0, 1, padding=0)
        self.plot.setYRange(-100, 100, padding=0)
        self.hint.setPos(0.5, 0)

    def show(self, data: dict[str, Any]) -> None:
        """Draw a ladder: the checkpoints as a curve with interval bars, references as horizontal lines."""
        self.clear()
        self.data = data
        rows = [r for r in data.get("players", []) if r.get("games_played", 1) > 0]  # unplayed yet: no rating
        ckpts = sorted((r for r in rows if r.get("games_trained") is not None), key=lambda r: r["games_trained"])
        refs = [r for r in rows if r.get("games_trained") is None]
        self.xs = np.array([r["games_trained"] for r in ckpts], dtype=float)
        self.ys = np.array([r["elo"] for r in ckpts], dtype=float)
        lo = np.array([r["elo_lo"] for r in ckpts], dtype=float)
        hi = np.array([r["elo_hi"] for r in ckpts], dtype=float)
        self.curve.setData(self.xs, self.ys)
        self.bars.setData(x=self.xs, y=self.ys, top=hi - self.ys, bottom=self.ys - lo,
                          beam=_beam(self.xs))
        middle = float(np.mean(self.ys)) if len(self.ys) else 0.0
        for i, r in enumerate(refs):
            color = REF_COLORS[i % len(REF_COLORS)]
            width = r["elo_hi"] - r["elo_lo"]
            label = f"{r['player']}  {r['elo']:.0f}" + (f" \u00b1 {width / 2:.0f}" if width > 0 else " (anchor)")
            # a run mostly climbs: early checkpoints sit low on the left, late ones high on the right, so a
            # line above the curve's middle is labelled above it on the left, one below under it on the right
            high = r["elo"] >= middle
            anchor = (0, 1) if high else (1, 0)
            line = pg.InfiniteLine(pos=r["elo"], angle=0, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                                   label=label, labelOpts={"position": 0.02 if high else 0.98, "color": color,
                                                           "anchors": [anchor, anchor],
                                                           "fill": pg.mkBrush(255, 255, 255, 200)})
            self.plot.addItem(line)
            self.lines.append(line)
        self.hint.setVisible(not rows)
        every_lo = [r["elo_lo"] for r in rows] + [r["elo"] for r in rows]
        every_hi = [r["elo_hi"] for r in rows] + [r["elo"] for r in rows]
        if rows:
            y0, y1 = min(every_lo), max(every_hi)
            pad = max(30.0, 0.12 * (y1 - y0))
            self.plot.setYRange(y0 - pad, y1 + pad, padding=0)  # room for the lines' labels
        if len(self.xs):
            x0, x1 = float(self.xs.min()), float(self.xs.max())
            span = max(x1 - x0, max(1.0, x1) * 0.2)
            self.plot.setXRange(x0 - 0.08 * span, x1 + 0.08 * span, padding=0)

    def points(self) -> int:
        """Checkpoints drawn."""
        return len(self.xs)

    def references(self) -> list[str]:
        return [line.label.toPlainText().split()[0] for line in self.lines]


def _beam(xs: np.ndarray) -> float:
    if len(xs) < 2:
        return 0.0
    return float(np.min(np.diff(np.sort(xs)))) * 0.25


class LadderBox(QGroupBox):
    """Run the ladder on a run folder: games per pair, Ladder / Stop, progress; the result fills ``plot``."""

    def __init__(self, view: ArenaView, plot: EloPlot, on_running: Callable[[bool], None],
                 on_run_loaded: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        super().__init__("Strength ladder (Elo)")
        self.view = view
        self.plot = plot
        self.on_running = on_running
        self.on_run_loaded = on_run_loaded  # the run's logged evaluations, for the score plot
        self.run_dir = named(QLineEdit(), "arena.ladder-run", "Run folder whose checkpoints the ladder rates")
        self.run_dir.setPlaceholderText("a training run's folder")
        browse = named(QPushButton("Browse..."), "arena.ladder-browse", "Choose a finished run's folder")
        browse.clicked.connect(self._browse)
        self.games = named(spin(1, 10_000, 20, 10), "arena.ladder-games", "Games each pair plays in the ladder")
        self.start_btn = named(QPushButton("Ladder"), "arena.ladder-start",
                               "Rate the run's checkpoints and the reference opponents in a round robin")
        self.start_btn.setToolTip("Every checkpoint (at most 12, spread over the run) and every reference opponent "
                                  "play each other; a Bradley-Terry fit puts them on one Elo scale, random = 0")
        self.stop_btn = named(QPushButton("Stop"), "arena.ladder-stop", "Stop the ladder (rates the games played)")
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.run_dir, 1)
        row.addWidget(browse)
        form.addRow("run folder", row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.games)
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.stop_btn)
        form.addRow("games per pair", buttons)
        form.addRow(self.progress)
        form.addRow(self.status)
        self.task = None
        self.start_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(lambda: self.task.stop() if self.task is not None else None)
        self.run_dir.editingFinished.connect(self._folder_chosen)
        self.stop_btn.setEnabled(False)

    @property
    def running(self) -> bool:
        return self.task is not None

    def set_run(self, folder: str | Path) -> None:
        """The run the ladder is for (the Train page sets the run it trains); shows its saved ladder if any."""
        self.run_dir.setText(str(folder))
        self._folder_chosen()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A training run's folder", self.run_dir.text())
        if path:
            self.set_run(path)

    def _folder_chosen(self) -> None:
        if self.running:
            return
        folder = self.run_dir.text().strip()
        saved = Path(folder) / "ladder.json" if folder else None

        def load() -> tuple[dict[str, Any] | None, list[dict[str, Any]], str]:
            from engine.errors import UserError
            from engine.rl.game import game_info
            from engine.rl.ladder import load_ladder, run_game
            from engine.rl.train import list_checkpoints, run_evaluations

            evals = run_evaluations(folder) if folder else []
            kept = list_checkpoints(folder) if folder else []
            try:
                what = f"a {game_info(run_game(folder)).title} run, {len(kept)} checkpoints" if kept else ""
            except UserError as e:
                what = str(e)
            return (load_ladder(saved) if saved is not None and saved.is_file() else None), evals, what

        self.view.run(load, self._loaded, key="ladder-load", what="reading the ladder",
                      on_error=lambda text: self.status.setText(text))

    def _loaded(self, loaded: tuple[dict[str, Any] | None, list[dict[str, Any]], str]) -> None:
        data, evals, what = loaded
        if evals and self.on_run_loaded is not None:
            self.on_run_loaded(evals)
        if self.running:  # the ladder being played replaces the saved one
            return
        if data is None:
            self.plot.clear()
            self.status.setText(what)
            return
        self.plot.show(data)
        self.status.setText(f"{what}; saved ladder: {data.get('games_played', 0):,} games, "
                            f"{data.get('games_per_pair')} per pair{'' if data.get('complete') else ' (stopped)'}")

    def start(self) -> None:
        from engine.rl.ladder import run_ladder

        folder = self.run_dir.text().strip()
        if not folder:
            self.view.error("Choose a training run's folder for the ladder.")
            return
        games = self.games.value()

        def make(token):
            return run_ladder(folder, games, token=token, report_every_s=0.25)

        task = self.view.start_task(TASK, make, self.on_events, self.on_finished, what="the ladder")
        if task is None:
            return
        self.task = task
        self.plot.clear()
        self.progress.setRange(0, 0)
        self.status.setText(f"ladder of {folder}: loading the players\u2026")
        self.set_running(True)

    def set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running)
        self.run_dir.setEnabled(not running)
        self.on_running(running)

    def on_events(self, events: list[Any]) -> None:
        snap = None
        for e in events:
            if isinstance(e, Progress):
                self.progress.setRange(0, int(e.total or 0))
                self.progress.setValue(e.step)
                m = e.metrics
                self.status.setText(f"pair {m['pair']} of {m['pairs']} \u00b7 {e.step:,} of {e.total:,} games \u00b7 "
                                    f"{m['games_per_s']:,.0f} games/s")
            elif isinstance(e, Snapshot):
                snap = e
        if snap is not None:  # the newest fit only: each one replaces the last
            self.plot.show(snap.data.to_dict())
            self.view.mark_painted()

    def on_finished(self, finished: Finished | None, error: str) -> None:
        self.task = None
        self.set_running(False)
        if error:
            self.view.error(error)
            self.status.setText(f"failed: {error}")
            self.progress.setRange(0, 1)
            return
        if finished is None:
            self.status.setText("stopped")
            return
        s = finished.summary
        self.plot.show(s)
        self.view.mark_painted()
        top = max(s["players"], key=lambda r: r["elo"])
        how = "stopped" if finished.stopped else "done"
        self.status.setText(f"{how}: {s['games_played']:,} games in {s['elapsed_s']:.0f} s; strongest {top['player']} "
                            f"({top['elo']:.0f} Elo, {s['anchor']} = 0). Saved in {s.get('out', '')}")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
