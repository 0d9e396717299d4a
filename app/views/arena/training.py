"""Train: run ``engine.rl.train.train`` as the bridge's "rl" task and plot what it yields.

The score against each reference opponent (win = 1, draw = 1/2, loss = 0, over ``eval games`` games)
with its 95% Wilson interval as a band, and from the progress events the TD error, the exploration
rate epsilon and the games per second. When the run ends, its agent (and the best one kept against
the strongest reference) can be chosen as an opponent straight away. Below the scores, the run's
strength over training on one Elo scale: the ladder (app.views.arena.elo) of its checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.views.arena.controls import GameCombo, remember_saved_agent
from app.views.arena.elo import EloPlot, LadderBox
from app.views.training.view import spin
from app.widgets.dialogs import ask_reuse
from app.widgets.names import named
from engine.events import Evaluation, Finished, Progress
from engine.rl.arena import wilson_interval
from engine.rl.game import game_info
from engine.workspace import next_run_folder

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView

ALGO_TITLES = {"q": "Q-learning", "sarsa": "SARSA", "td": "TD(\u03bb)", "selfplay": "self-play + search (AlphaZero)"}
RULES = {  # the update each algorithm makes, in the seed's notation
    "q": "Q(s,a) \u2190 Q(s,a) + \u03b7 [r + \u03b3 max<sub>a'</sub> Q(s',a') \u2212 Q(s,a)], r = +1 win, 0 draw, "
         "\u22121 loss; \u03b5-greedy self-play, one table for both sides.",
    "sarsa": "Q(s,a) \u2190 Q(s,a) + \u03b7 [r + \u03b3 Q(s',a') \u2212 Q(s,a)] with a' the move the "
             "\u03b5-greedy policy really plays next.",
    "td": "\u03b4w<sub>t</sub> = \u03b7 [r<sub>t+1</sub> + O(s<sub>t+1</sub>) \u2212 O(s<sub>t</sub>)] "
          "\u03a3<sub>\u03c4\u2264t</sub> \u03bb<sup>t\u2212\u03c4</sup> \u2207O(s<sub>\u03c4</sub>): a network "
          "of afterstate values learnt by self-play, as TD-Gammon.",
    "selfplay": "PUCT search guided by a policy/value network f(s) = (p, v); the network learns the visit "
                "counts \u03c0 and the result z, loss (z \u2212 v)\u00b2 \u2212 \u03c0\u00b7log p, as AlphaGo Zero.",
}
REF_COLORS = ["#2ca02c", "#d62728", "#1f77b4", "#9467bd"]
TITLE = "#1d2733"
TASK = "rl"


class ScoreCurves:
    """One curve per reference opponent with a 95% band, in one plot."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.items: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem, pg.PlotDataItem, pg.FillBetweenItem]] = {}
        self.data: dict[str, list[tuple[float, float, float, float]]] = {}

    def clear(self) -> None:
        for curve, lo, hi, band in self.items.values():
            for item in (curve, lo, hi, band):
                self.plot.removeItem(item)
        self.items, self.data = {}, {}

    def add(self, name: str, games: float, score: float, lo: float, hi: float) -> None:
        if name not in self.items:
            color = pg.mkColor(REF_COLORS[len(self.items) % len(REF_COLORS)])
            band_color = pg.mkColor(color)
            band_color.setAlpha(55)
            lo_item = self.plot.plot(pen=pg.mkPen(band_color, width=0.5))
            hi_item = self.plot.plot(pen=pg.mkPen(band_color, width=0.5))
            band = pg.FillBetweenItem(lo_item, hi_item, brush=pg.mkBrush(band_color))
            self.plot.addItem(band)
            curve = self.plot.plot(pen=pg.mkPen(color, width=2.5), symbol="o", symbolSize=7, symbolBrush=color,
                                   symbolPen="w", name=f"vs {name}")
            self.items[name] = (curve, lo_item, hi_item, band)
            self.data[name] = []
        self.data[name].append((games, score, lo, hi))
        arr = np.array(self.data[name], dtype=float)
        curve, lo_item, hi_item, _ = self.items[name]
        curve.setData(arr[:, 0], arr[:, 1])
        lo_item.setData(arr[:, 0], arr[:, 2])
        hi_item.setData(arr[:, 0], arr[:, 3])

    def points(self) -> int:
        return sum(len(v) for v in self.data.values())


class TrainPanel(QWidget):
    def __init__(self, view: ArenaView) -> None:
        super().__init__()
        self.view = view
        self.game_box = named(GameCombo(), "arena.train-game", "Game to train on")
        self.algo = named(QComboBox(), "arena.algorithm", "Learning algorithm")
        self.budget = named(QComboBox(), "arena.budget", "Train for games or minutes")
        self.budget.addItems(["games", "minutes"])
        self.games = named(spin(1, 10_000_000, 20_000, 1000), "arena.games", "Training games")
        self.minutes = named(QDoubleSpinBox(), "arena.minutes", "Training minutes")
        self.minutes.setRange(0.1, 10_000)
        self.minutes.setValue(5)
        self.eval_every = named(spin(1, 1_000_000, 2000, 100), "arena.eval-every", "Evaluate every N games")
        self.eval_games = named(spin(1, 10_000, 200, 10), "arena.eval-games", "Games per evaluation")
        self.out = named(QLineEdit(), "arena.out", "Output folder for the agent")
        browse = named(QPushButton("Browse..."), "arena.out-browse", "Choose the output folder")
        browse.clicked.connect(self._browse)
        form = QFormLayout()
        form.addRow("game", self.game_box)
        form.addRow("algorithm", self.algo)
        budget_row = QHBoxLayout()
        budget_row.addWidget(self.games, 1)
        budget_row.addWidget(self.minutes, 1)
        budget_row.addWidget(self.budget)
        form.addRow("train for", budget_row)
        form.addRow("evaluate every (games)", self.eval_every)
        form.addRow("games per evaluation", self.eval_games)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        form.addRow("output folder", out_row)
        box = QGroupBox("Training run")
        box.setLayout(form)
        self.start_btn = named(QPushButton("Start"), "arena.train-start", "Start training an agent")
        self.pause_btn = named(QPushButton("Pause"), "arena.train-pause", "Pause or resume the agent's training")
        self.stop_btn = named(QPushButton("Stop"), "arena.train-stop", "Stop the agent's training")
        self.use_btn = named(QPushButton("Play against it"), "arena.play-against", "Play against the trained agent")
        self.use_btn.setToolTip("Choose the trained agent (the best one kept) as the opponent on the Play page")
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        self.rule = QLabel()
        self.rule.setWordWrap(True)
        self.rule.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.state = QLabel("idle")
        self.state.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        left = QVBoxLayout()
        left.addWidget(box)
        left.addWidget(self.rule)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.state)
        left.addWidget(self.summary)
        left.addWidget(self.use_btn)
        left.addStretch(1)
        left_w = QWidget()
        left_w.setLayout(left)
        left_w.setMaximumWidth(420)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.score_plot = self.plots.addPlot(row=0, col=0, colspan=3)
        self.score_plot.setTitle("Score against each reference opponent (band: 95% interval)", color=TITLE)
        self.score_plot.setLabel("left", "score (win 1, draw \u00bd)")
        self.score_plot.setLabel("bottom", "training games")
        self.score_plot.setYRange(0, 1, padding=0.03)
        self.score_plot.showGrid(x=True, y=True, alpha=0.25)
        self.score_plot.addLegend(offset=(-10, -10), brush=pg.mkBrush(255, 255, 255, 220),
                                  pen=pg.mkPen("#c8ced6"), labelTextColor=TITLE)
        self.score_plot.addItem(pg.InfiniteLine(pos=0.5, angle=0, pen=pg.mkPen("#7f8c8d", style=Qt.PenStyle.DashLine)))
        self.scores = ScoreCurves(self.score_plot)
        self.small: dict[str, pg.PlotDataItem] = {}
        for col, (key, title, color) in enumerate((("td_error", "TD error |\u03b4|", "#8c564b"),
                                                   ("epsilon", "exploration \u03b5", "#ff7f0e"),
                                                   ("games_per_s", "games / s", "#17becf"))):
            p = self.plots.addPlot(row=2, col=col)
            p.setTitle(title, color=TITLE)
            p.setLabel("bottom", "training games")
            p.showGrid(x=True, y=True, alpha=0.25)
            curve = p.plot(pen=pg.mkPen(color, width=2))
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="mean")
            self.small[key] = curve
        self.elo_plot = EloPlot(self.plots.addPlot(row=1, col=0, colspan=3))
        self.plots.ci.layout.setRowStretchFactor(0, 3)
        self.plots.ci.layout.setRowStretchFactor(1, 3)
        self.plots.ci.layout.setRowStretchFactor(2, 2)
        self.ladder = LadderBox(view, self.elo_plot, lambda _running: self.set_running(self.running),
                                self.show_logged_run)
        left.insertWidget(left.count() - 1, self.ladder)  # above the stretch
        self.progress_data: dict[str, list[tuple[float, float]]] = {k: [] for k in self.small}
        self.curves_run: Path | None = None  # the run whose progress curves are drawn

        lay = QHBoxLayout(self)
        lay.addWidget(left_w)
        lay.addWidget(self.plots, 1)

        self.running = False
        self.task = None  # the bridge's Task while an agent trains
        self.run_game = ""
        self.run_games: int | None = None
        self.trained: dict[str, str] = {}  # game -> path of the agent to play against
        self.game_box.currentIndexChanged.connect(lambda _i: self._game_changed())
        self.algo.currentIndexChanged.connect(lambda _i: self._defaults())
        self.budget.currentIndexChanged.connect(lambda _i: self._budget_changed())
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self._pause_clicked)
        self.stop_btn.clicked.connect(lambda: self.task.stop() if self.task is not None else None)
        self.use_btn.clicked.connect(self._use)
        self._game_changed()
        self._budget_changed()
        self.set_running(False)

    # --- form -----------------------------------------------------------------------------------

    def _game_changed(self) -> None:
        self.algo.blockSignals(True)
        self.algo.clear()
        for a in game_info(self.game_box.game()).algorithms:
            self.algo.addItem(ALGO_TITLES[a], a)
        self.algo.blockSignals(False)
        self._defaults()

    def _defaults(self) -> None:
        game, algo = self.game_box.game(), self.algo.currentData()
        if algo is None:
            return
        info = game_info(game)
        refs = " and ".join(info.references)
        self.rule.setText(f"<b>{ALGO_TITLES[algo]}</b>: {RULES[algo]}<br><span style='color:#6b7785'>Evaluated "
                          f"against {refs}, half the games as each side.</span>")
        d = info.training[algo]
        self.games.setValue(int(d["games"]))
        self.eval_every.setValue(int(d["eval_every"]))
        self.eval_games.setValue(int(d["eval_games"]))
        self.out.setText(str(next_run_folder(Path("runs") / "arena", f"{game}-{algo}")))  # a new folder per run

    def _budget_changed(self) -> None:
        by_games = self.budget.currentText() == "games"
        self.games.setVisible(by_games)
        self.minutes.setVisible(not by_games)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder for the trained agent", self.out.text())
        if path:
            self.out.setText(path)

    # --- running --------------------------------------------------------------------------------

    def start(self) -> None:
        from engine.rl.train import train

        game, algo = self.game_box.game(), str(self.algo.currentData())
        out = self.out.text().strip()
        if not out:
            self.view.error("Choose an output folder for the trained agent.")
            return
        if Path(out).exists() and not Path(out).is_dir():
            self.view.error(f"The output folder {out} is a file; choose a folder.")
            return
        resume = overwrite = False
        if (Path(out) / game_info(game).agent_file).exists():
            answer = self.ask_reuse(Path(out))
            if answer == "cancel":
                return
            if answer == "new":
                out = str(next_run_folder(Path(out).parent, f"{game}-{algo}"))
                self.out.setText(out)
            resume, overwrite = answer == "resume", answer == "overwrite"
        games = self.games.value() if self.budget.currentText() == "games" else None
        minutes = self.minutes.value() if games is None else None
        eval_every, eval_games = self.eval_every.value(), self.eval_games.value()

        def make(token):
            return train(game, algo, games=games, minutes=minutes, out=out, token=token, report_every_s=0.5,
                         threads=0, eval_every=eval_every, eval_games=eval_games, resume=resume, overwrite=overwrite)

        engine = self.view.ctx.engine
        task = engine.start_task(TASK, make, on_events=self.on_events, on_finished=self.on_finished)
        if task is None:
            assert engine.task is not None
            self.view.error(f"{engine.task.name} is running; stop it first")
            return
        self.task = task
        self.clear_curves()
        self.curves_run = Path(out).resolve()
        self.run_game, self.run_games, self.run_eval_games = game, games, eval_games
        self.ladder.set_run(out)
        self.progress.setRange(0, games or 0)
        self.set_running(True)
        self.state.setText(f"training {ALGO_TITLES[algo]} on {game_info(game).title}\u2026")
        self.summary.setText("")
        self.view.show_source(f"Training {ALGO_TITLES[algo]} on {game_info(game).title}", f"into {out}")

    def ask_reuse(self, out: Path) -> str:
        """A folder that holds a trained agent: "resume", "overwrite", "new" or "cancel"."""
        return ask_reuse(self, "arena.reuse", "The folder holds an agent",
                         f"{out} already holds a trained agent. Go on training it, replace it, or train in a new "
                         "folder?", "Go on training it")

    def clear_curves(self) -> None:
        self.scores.clear()
        self.progress_data = {k: [] for k in self.small}
        for curve in self.small.values():
            curve.setData([], [])

    def set_running(self, running: bool, paused: bool = False) -> None:
        self.running = running
        ladder = getattr(self, "ladder", None)
        laddering = ladder is not None and ladder.running
        if ladder is not None:
            ladder.start_btn.setEnabled(not running and not laddering)  # the engine runs one task at a time
        self.start_btn.setEnabled(not running and not laddering)
        self.pause_btn.setEnabled(running)
        self.stop_btn.setEnabled(running)
        self.pause_btn.setText("Resume" if paused else "Pause")
        self.use_btn.setEnabled(not running and self.game_box.game() in self.trained)
        if paused:
            self.state.setText("paused")

    def _pause_clicked(self) -> None:
        task = self.task
        if task is None:
            return
        if task.state == "paused":
            task.resume()
            self.state.setText("training\u2026")
        else:
            task.pause()
        self.set_running(True, task.state == "paused")

    def on_finished(self, finished: Finished | None, error: str) -> None:
        self.task = None
        if finished is not None:
            self._done(finished)
        self.set_running(False)
        if error:
            self.view.error(error)
            self.state.setText(f"failed: {error}")
        elif finished is None:
            self.state.setText("ended")

    def on_events(self, events: list[Any]) -> None:
        drew = False
        for e in events:
            if isinstance(e, Progress):
                self._progress(e)
            elif isinstance(e, Evaluation):
                self._eval(e)
                drew = True
        for key, curve in self.small.items():
            if self.progress_data[key]:
                arr = np.array(self.progress_data[key], dtype=float)
                curve.setData(arr[:, 0], arr[:, 1])
        if drew:
            self.view.mark_painted()

    def _progress(self, ev: Progress) -> None:
        e = ev.metrics
        for key in self.small:
            if key in e:
                self.progress_data[key].append((float(e["games"]), float(e[key])))
        if self.run_games:
            self.progress.setValue(min(self.run_games, ev.step))
        self.state.setText(f"{e['games']:,} games \u00b7 {e['games_per_s']:,.0f} games/s \u00b7 "
                           f"TD error {e['td_error']:.4f} \u00b7 \u03b5 {e['epsilon']:.3f}")

    def show_logged_run(self, evals: list[dict[str, Any]]) -> None:
        """A finished run chosen for the ladder: its logged scores (stats.jsonl) in the score plot, unless a
        run is training (its own curves stay)."""
        if self.running:
            return
        chosen = Path(self.ladder.run_dir.text().strip() or ".").resolve()
        if chosen == self.curves_run:  # the run just trained: its TD error, epsilon and speed curves stay
            self.scores.clear()
        else:
            self.clear_curves()
        for e in evals:
            n = e.get("eval_games")
            for name, r in e.items():
                if isinstance(r, dict) and isinstance(r.get("score"), int | float):
                    lo, hi = wilson_interval(r["score"] * n, n) if isinstance(n, int) and n > 0 else (r["score"],) * 2
                    self.scores.add(name, float(e["games"]), float(r["score"]), lo, hi)

    def _eval(self, ev: Evaluation) -> None:
        n, e = self.run_eval_games, ev.metrics
        for name in game_info(self.run_game).references:
            r = e.get(name)
            if isinstance(r, dict):
                lo, hi = wilson_interval(r["score"] * n, n)
                self.scores.add(name, float(e["games"]), float(r["score"]), lo, hi)

    def _done(self, finished: Finished) -> None:
        e = finished.summary
        game = e["game"]
        agent = e.get("best_agent") if e.get("best_agent") and Path(e["best_agent"]).exists() else e.get("agent")
        for path in (e.get("agent"), e.get("best_agent")):
            if path and Path(path).exists():
                remember_saved_agent(game, path)
        if agent:
            self.trained[game] = agent
        final = e.get("final_eval") or {}
        refs = game_info(game).references
        parts = [f"vs {name}: {final[name]['score']:.2f}" for name in refs if name in final]
        how = "stopped" if finished.stopped else "finished"
        self.summary.setText(f"<b>{how}</b> after {e['games']:,} games ({e['games_per_s']:,.0f} games/s); "
                             f"score {', '.join(parts)}.<br>Agent: {e.get('agent')}<br>"
                             f"Best against {refs[-1]}: {e.get('best_agent')}")
        self.state.setText(how)
        if self.run_games:
            self.progress.setValue(self.progress.maximum())
        out = Path(e["agent"]).parent if e.get("agent") else None
        algo = ALGO_TITLES.get(str(e.get("algo")), str(e.get("algo")))
        self.view.show_source(f"Trained {algo} on {game_info(game).title}",
                              f"{how} after {e['games']:,} games: {out or 'not saved'}")
        if out is not None:
            self.ladder.set_run(out)  # its checkpoints are ready for the ladder
        if out is not None and Path(self.out.text()).resolve() == out.resolve():  # the next run: a new folder
            self.out.setText(str(next_run_folder(out.parent, f"{game}-{e.get('algo')}")))

    def describe(self) -> None:
        """The view's header while the Train page is shown."""
        if self.task is None and not self.summary.text():
            game, algo = game_info(self.game_box.game()).title, ALGO_TITLES.get(str(self.algo.currentData()), "")
            self.view.show_source(f"Train an agent: {algo} on {game}", f"into {self.out.text()}")

    def _use(self) -> None:
        game = self.game_box.game()
        if game in self.trained:
            self.view.play_against(game, self.trained[game])
