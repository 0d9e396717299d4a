"""Search: the tree an MCTS (UCT) or self-play (PUCT) agent grows for its next move, one simulation at a time.

Step runs one simulation and shows its four phases one after another (select, expand, evaluate, back up;
Browne et al. 2012), +10 / +100 / All run more, Reset starts again. A click on a node shows its board and
its numbers. The search (engine.rl.search_trace.SearchSession) lives in the engine thread and is only ever
touched by jobs; a long run reports a snapshot every 0.1 s (the bridge drains at 20 Hz) and the page draws
only the newest.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.views.arena.connect4_board import ConnectFourBoard
from app.views.arena.controls import SAVED_AGENTS, agent_label
from app.views.arena.search_tree import SearchTree, fmt
from app.views.arena.tictactoe_board import TicTacToeBoard
from app.widgets.names import named
from engine.rl.game import State, game_info, get_game
from engine.rl.registry import make_agent
from engine.rl.search_trace import PHASES, SearchSession, SimStep, describe_step

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView

GAMES = ("connect4", "tictactoe")
MAX_GUI_SIMS = 10_000
DRAW_DEPTH = 6  # a stepped simulation's path is drawn this deep (PUCT lines can run 20 moves)
PHASE_MS = 550  # each phase of a stepped simulation stays this long
REPORT_S = 0.1  # a running search sends a snapshot this often: drawing one costs the engine the GIL for ~5-10 ms
SNAP = {"connect4": {"top_k": 2, "depth": 3}, "tictactoe": {"top_k": 2, "depth": 3}}
INTRO = ("Step runs one simulation and shows its phases; +10, +100 and All run more. Click a node to see its "
         "board. Colour: Q for the player who moved into the node (red -1, yellow 0, green +1); edge width: "
         "share of the parent's visits.")


def agents_for(game: str) -> list[tuple[str, str]]:
    """(label, spec) of the tree-search agents for ``game``: the shipped self-play one first where there is one."""
    out = [("mcts (UCT, random playouts)", "mcts:1")]
    if game == "connect4":
        out.insert(0, ("default (self-play, PUCT)", "default"))
        out += [(f"{agent_label(p)} (PUCT)", p) for p in SAVED_AGENTS.get(game, [])]
    return out


def new_session(game: str, spec: str, state: State, seed: int, snap: dict[str, Any]) -> tuple[SearchSession,
                                                                                               dict[str, Any]]:
    session = SearchSession(make_agent(spec, game, seed=seed), state)
    return session, session.snapshot(**snap)


def one_step(session: SearchSession, snap: dict[str, Any]) -> tuple[SimStep, dict[str, Any]]:
    step = session.step()
    return step, session.snapshot(include=step.path[:DRAW_DEPTH], **snap)


class SearchPanel(QWidget):
    def __init__(self, view: ArenaView) -> None:
        super().__init__()
        self.view = view
        self.game_box = named(QComboBox(), "arena.search-game", "Game of the search")
        for g in GAMES:
            self.game_box.addItem(game_info(g).title, g)
        self.agent_box = named(QComboBox(), "arena.search-agent", "Agent whose search is shown")
        self.agent_box.setToolTip("default: the shipped self-play network guiding PUCT; mcts: UCT with random "
                                  "playouts")
        self.sims = named(QSpinBox(), "arena.search-sims", "Simulations that All runs to")
        self.sims.setRange(1, MAX_GUI_SIMS)
        self.sims.setSingleStep(100)
        self.sims.setValue(800)
        self.sims.setToolTip(f"All runs the search to this many simulations (at most {MAX_GUI_SIMS:,})")
        self.take_btn = named(QPushButton("Take the Play page's position"), "arena.search-take",
                              "Search the Play page's position")
        self.last_btn = named(QPushButton("…before its last move"), "arena.search-take-last",
                              "Search the Play page's position before its last move")
        self.last_btn.setToolTip("The tree behind the last move played on the Play page, with the opponent's agent "
                                 "and simulations when it searches (PUCT: the same tree; UCT: a run of its own, "
                                 "with other random playouts)")
        self.start_btn = named(QPushButton("Start position"), "arena.search-start", "Search the start position")
        self.step_btn = named(QPushButton("Step"), "arena.search-step", "Run one simulation, phase by phase")
        self.ten_btn = named(QPushButton("+10"), "arena.search-10", "Run 10 simulations")
        self.hundred_btn = named(QPushButton("+100"), "arena.search-100", "Run 100 simulations")
        self.all_btn = named(QPushButton("All"), "arena.search-all", "Run to the chosen number of simulations")
        self.stop_btn = named(QPushButton("Stop"), "arena.search-stop", "Stop the running simulations")
        self.reset_btn = named(QPushButton("Reset"), "arena.search-reset", "Start the search again")
        self.tree = named(SearchTree(), "arena.search-tree", "The search tree")
        # the boards draw off the page into a picture: a label repaints a picture for nothing, while a board
        # repaints its whole face whenever Qt lays the page out again (20 times a second while a search runs)
        self.board_of: dict[str, Any] = {"connect4": ConnectFourBoard(), "tictactoe": TicTacToeBoard()}
        self.board = named(QLabel(), "arena.search-board", "The board at the chosen node")
        self.board.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.board.setFixedSize(292, 250)
        for b in self.board_of.values():
            b.setMinimumSize(200, 180)
        self.numbers = named(QLabel(), "arena.search-node", "The chosen node's numbers")
        self.numbers.setWordWrap(True)
        self.numbers.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.numbers.setTextFormat(Qt.TextFormat.RichText)
        self.explain = named(QLabel(INTRO), "arena.search-phase", "What the last step did")
        self.explain.setWordWrap(True)
        self.explain.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        bar = QHBoxLayout()
        for label, w in (("Game", self.game_box), ("Agent", self.agent_box), ("Simulations", self.sims)):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
        bar.addWidget(self.take_btn)
        bar.addWidget(self.last_btn)
        bar.addWidget(self.start_btn)
        bar.addStretch(1)
        run = QHBoxLayout()
        for w in (self.step_btn, self.ten_btn, self.hundred_btn, self.all_btn, self.stop_btn, self.reset_btn):
            run.addWidget(w)
        self.count = named(QLabel(), "arena.search-count", "Simulations so far")
        self.count.setFixedSize(260, 24)
        run.addWidget(self.count)
        run.addStretch(1)
        side = QWidget()
        side.setFixedWidth(300)  # its label's text changes 20 times a second: the layout must not move the board
        # fixed sizes: a changing text then never lays the window out again, which would call into Python
        # (sizeHint, resizeEvent overrides) dozens of times, each call waiting for the engine thread's GIL
        self.numbers.setFixedSize(292, 170)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(4, 0, 0, 0)
        sl.addWidget(self.board)
        sl.addWidget(self.numbers)
        sl.addStretch(1)
        split = QSplitter()
        split.addWidget(self.tree)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addLayout(run)
        lay.addWidget(split, 1)
        lay.addWidget(self.explain)

        self.session: SearchSession | None = None  # lives in the engine thread: only jobs touch it
        self.state: State = get_game("connect4").new_initial_state()
        self.snap: dict[str, Any] | None = None
        self.picked: tuple[int, ...] = ()
        self.gen = 0  # bumped by every reset: results of an older search are dropped
        self.job: Any = None  # the running +10 / +100 / All
        self.step_info: SimStep | None = None
        self.phase = -1
        self.phase_timer = QTimer(self)
        self.phase_timer.setInterval(PHASE_MS)
        self.phase_timer.timeout.connect(self._next_phase)
        self.started = False
        self.last_run: tuple[int, float] | None = None

        self.game_box.currentIndexChanged.connect(lambda _i: self._game_changed())
        self.agent_box.activated.connect(lambda _i: self.reset())
        self.take_btn.clicked.connect(lambda: self.take_play_position())
        self.last_btn.clicked.connect(lambda: self.take_play_position(before_last=True))
        self.start_btn.clicked.connect(self.start_position)
        self.step_btn.clicked.connect(self.step)
        self.ten_btn.clicked.connect(lambda: self.advance(10))
        self.hundred_btn.clicked.connect(lambda: self.advance(100))
        self.all_btn.clicked.connect(lambda: self.advance(self.sims.value() - self.sims_done))
        self.stop_btn.clicked.connect(self.stop)
        self.reset_btn.clicked.connect(self.reset)
        self.sims.valueChanged.connect(lambda _v: self._update_count())
        self.tree.nodeClicked.connect(lambda path: self.pick(tuple(path)))
        self._fill_agents()
        self._set_running(False)

    # --- set-up ------------------------------------------------------------------------------------

    @property
    def game(self) -> str:
        return str(self.game_box.currentData())

    @property
    def sims_done(self) -> int:
        return self.snap["sims"] if self.snap else 0

    def _fill_agents(self) -> None:
        self.agent_box.clear()
        for label, spec in agents_for(self.game):
            self.agent_box.addItem(label, spec)

    def _game_changed(self) -> None:
        self._fill_agents()
        self.state = get_game(self.game).new_initial_state()
        self.reset()

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self.started:
            self.started = True
            self.reset()

    def describe(self) -> None:
        self.view.show_source("Arena · Search", f"the tree {self.agent_box.currentText()} grows for its next move")

    def start_position(self) -> None:
        self.state = get_game(self.game).new_initial_state()
        self.reset()

    def take_play_position(self, before_last: bool = False) -> None:
        """Search the Play page's position (or the one before its last move, with the Play page's opponent when
        it searches a tree: the tree behind the move it played)."""
        play = self.view.play
        if play.game not in GAMES:
            self.view.error(f"The search inspector follows tic-tac-toe and Connect Four, not {play.game}.")
            return
        state = play.state
        if before_last:
            if not state.history:
                self.view.error("No move has been played on the Play page yet.")
                return
            state = get_game(play.game).new_initial_state()
            for a in play.state.history[:-1]:
                state.apply_action(a)
        elif state.is_terminal():
            self.view.error("The Play page's game is over: there is no next move to search.")
            return
        self.state = state.clone()
        if self.game != play.game:
            self.game_box.blockSignals(True)
            self.game_box.setCurrentIndex(self.game_box.findData(play.game))
            self.game_box.blockSignals(False)
            self._fill_agents()
        if before_last:
            self._follow(play.opponent.spec())
        self.reset()

    def _follow(self, spec: str) -> None:
        """Choose the agent ``spec`` names and its simulations per move, if it is one the page can follow."""
        low = spec.strip().lower()
        sims = None
        if low.startswith("mcts:") and low[5:].isdigit():
            index, sims = self.agent_box.findData("mcts:1"), int(low[5:])
        else:
            base, _, suffix = spec.strip().partition(":")
            index = self.agent_box.findData(base)
            if index >= 0 and base != "mcts:1":
                sims = int(suffix[:-4]) if suffix.lower().endswith("sims") and suffix[:-4].isdigit() else 800
        if index >= 0:
            self.agent_box.setCurrentIndex(index)
            if sims is not None:
                self.sims.setValue(max(1, min(MAX_GUI_SIMS, sims)))

    # --- the engine ----------------------------------------------------------------------------------

    def _snap_args(self) -> dict[str, Any]:
        return dict(SNAP[self.game])

    def reset(self) -> None:
        """A new search of the chosen agent from ``state`` (the old one is dropped, a running one stopped)."""
        self.gen += 1
        self.tree.players = game_info(self.game).players
        self._cancel_run()
        self._stop_phases()
        self.session, self.snap, self.picked, self.step_info = None, None, (), None
        self.tree.set_phase(None, -1)
        self.tree.set_picked(())
        self.tree.set_snapshot(None)
        self.explain.setText(INTRO)
        game, spec, state, gen, snap = self.game, str(self.agent_box.currentData()), self.state.clone(), self.gen, \
            self._snap_args()
        self._draw_board(state)
        self.view.run(lambda: new_session(game, spec, state, 0, snap), lambda res: self._started(gen, res),
                      key="search:new", what="starting the search")
        self.describe()
        self._update_count()

    def _started(self, gen: int, res: tuple[SearchSession, dict[str, Any]]) -> None:
        if gen != self.gen:
            return
        self.session, snap = res
        self.tree.title = self.agent_box.currentText()
        self._show(snap)
        self.pick(())

    def step(self) -> None:
        if self.session is None or self.job is not None:
            return
        if self.sims_done >= MAX_GUI_SIMS:
            self.explain.setText(f"The inspector stops at {MAX_GUI_SIMS:,} simulations; Reset to start again.")
            return
        self._stop_phases()
        session, gen, snap = self.session, self.gen, {**self._snap_args()}
        self.view.run(lambda: one_step(session, snap), lambda res: self._stepped(gen, res), key="search:step",
                      what="one simulation")

    def _stepped(self, gen: int, res: tuple[SimStep, dict[str, Any]]) -> None:
        if gen != self.gen:
            return
        self.step_info, snap = res
        self._show(snap)
        self.phase = -1
        self._next_phase()
        self.phase_timer.start()

    def _next_phase(self) -> None:
        st = self.step_info
        if st is None or self.phase >= len(PHASES) - 1:
            self.phase_timer.stop()
            return
        self.phase += 1
        self.tree.set_phase(st, self.phase)
        labels = self._labels(st.path)
        self.explain.setText(f"Simulation {self.sims_done:,}, {PHASES[self.phase]}: "
                             + describe_step(st, PHASES[self.phase], labels).split(": ", 1)[1])
        if self.phase == len(PHASES) - 1:
            self.phase_timer.stop()

    def _stop_phases(self) -> None:
        self.phase_timer.stop()
        self.phase = -1
        self.tree.set_phase(None, -1)

    def advance(self, n: int) -> None:
        """Run ``n`` more simulations (at most to MAX_GUI_SIMS) in one cancellable job that reports snapshots."""
        n = min(n, MAX_GUI_SIMS - self.sims_done)
        if self.session is None or self.job is not None or n <= 0:
            if n <= 0 and self.session is not None:
                self.explain.setText(f"Already at {self.sims_done:,} simulations; raise Simulations or Reset.")
            return
        self._stop_phases()
        session, gen, snap = self.session, self.gen, {**self._snap_args(), "include": self.picked}

        def work(token: Any) -> dict[str, Any]:
            t0 = time.perf_counter()
            session.advance(n, token=token, report=token.report, every=REPORT_S, **snap)
            return {**session.snapshot(**snap), "run": (n, time.perf_counter() - t0)}

        self.explain.setText(f"Running {n:,} simulations\u2026")
        self.job = self.view.run(work, lambda s: self._advanced(gen, s), key="search:run", cancellable=True,
                                 what=f"{n:,} simulations", on_partial=lambda snaps: self._partial(gen, snaps))
        self.job_gen = gen
        self._set_running(True)
        self.job.on_end = self._wrap_end(self.job.on_end)

    def _wrap_end(self, inner: Any) -> Any:
        def end(job: Any) -> None:
            if inner is not None:
                inner(job)
            if job is self.job:
                self.job = None
                self._set_running(False)
                if job.state == "cancelled" and self.session is not None and self.job_gen == self.gen:
                    self._refresh()  # stopped: show where it got to
        return end

    def _partial(self, gen: int, snaps: list[dict[str, Any]]) -> None:
        if gen == self.gen and snaps:
            self._show(snaps[-1])  # only the newest matters to the eye

    def _advanced(self, gen: int, snap: dict[str, Any]) -> None:
        if gen != self.gen:
            return
        self._show(snap)
        if "run" in snap:
            self.last_run = snap["run"]  # simulations and seconds in the engine thread (bench/gui_search)
        self.explain.setText(f"{snap['sims']:,} simulations; the agent would play "
                             f"{self._move_label(snap)} (the most visited move).")

    def _refresh(self) -> None:
        session, gen, snap = self.session, self.gen, {**self._snap_args(), "include": self.picked}
        if session is None:
            return
        self.view.run(lambda: session.snapshot(**snap), lambda s: self._advanced(gen, s) if gen == self.gen else None,
                      key="search:snap", what="the tree")

    def stop(self) -> None:
        self._cancel_run()

    def _cancel_run(self) -> None:
        if self.job is not None:
            self.view.ctx.engine.cancel(self.job)

    def _set_running(self, running: bool) -> None:
        for b in (self.step_btn, self.ten_btn, self.hundred_btn, self.all_btn, self.reset_btn, self.take_btn,
                  self.last_btn, self.start_btn, self.game_box, self.agent_box):
            b.setEnabled(not running)
        self.stop_btn.setEnabled(running)

    # --- what it shows -------------------------------------------------------------------------------

    def _show(self, snap: dict[str, Any]) -> None:
        self.snap = snap
        self.tree.set_snapshot(snap)
        self._update_count()
        self._show_node()
        self.view.painted_once()

    def _update_count(self) -> None:
        self.count.setText(f"  {self.sims_done:,} / {self.sims.value():,} simulations" if self.snap else
                           "  starting\u2026")

    def _labels(self, path: tuple[int, ...]) -> list[str]:
        s, out = self.state.clone(), []
        for a in path:
            out.append(s.action_to_string(a))
            s.apply_action(a)
        return out

    def _move_label(self, snap: dict[str, Any]) -> str:
        return "–" if snap.get("choice") is None else self.state.action_to_string(snap["choice"])

    def pick(self, path: tuple[int, ...]) -> None:
        """Show the board and the numbers of the node at ``path``."""
        self.picked = tuple(path)
        self.tree.set_picked(self.picked)
        board = self.state.clone()
        for a in self.picked:
            board.apply_action(a)
        self._draw_board(board)
        self._show_node()

    def _draw_board(self, state: State) -> None:
        board = self.board_of[state.game_name]
        board.resize(self.board.size())
        board.set_state(state)
        self.board.setPixmap(board.grab())

    def _show_node(self) -> None:
        nd = self.tree.node(self.picked)
        moves = " ".join(self._labels(self.picked)) or "(the position searched)"
        if nd is None:
            self.numbers.setText(f"<b>Moves:</b> {moves}<br>(not in the drawn part of the tree now)")
            return
        who, to_move = self.tree.players[nd["mover"]], self.tree.players[1 - nd["mover"]]
        rows = [f"<b>Moves from the root:</b> {moves}", f"<b>N</b> = {nd['n']:,} visits",
                f"<b>Q</b> = {fmt(nd['q'], 3)} (mean value for {who}, who moved into it)"]
        if nd["p"] is not None:
            rows.append(f"<b>P</b> = {fmt(nd['p'], 3, signed=False)} (the network's prior)")
        if nd["score"] is not None:
            rows.append(f"<b>score</b> = {fmt(nd['score'], 3)} (what selection compares)")
        rows.append(f"{nd['children']} children in the tree; {to_move} to move")
        self.numbers.setText("<br>".join(rows))
