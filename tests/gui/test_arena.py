"""The Arena view on the real window and engine: boards, clicks, the agent's answers and values, watch
mode, a short training run, and bad agents shown as errors."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from app.views.arena import backgammon_geometry as geo
from app.views.arena.connect4_board import column_x, row_y
from engine.rl.backgammon import position
from engine.rl.connect4 import ConnectFourState
from engine.rl.tictactoe import TicTacToeState


def open_arena(window, qtbot):
    view = window.views["arena"]
    window.tabs.setCurrentIndex(window.view_index("arena"))
    qtbot.waitUntil(lambda: window.painted["arena"] > 0, timeout=20_000)
    view.play.reveal_ms = 0
    return view


def click(qtbot, board, logical: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    qtbot.mouseClick(board, button, pos=board.widget_point(logical))


def choose_opponent(qtbot, window, play, spec: str) -> None:
    seen = window.painted["arena"]
    play.opponent.set_spec(spec)
    qtbot.waitUntil(lambda: window.painted["arena"] > seen, timeout=20_000)


def human_turn(play) -> bool:
    s = play.state
    return not play.thinking and (s.is_terminal() or s.current_player() == play.human)


def pixel(board, logical: QPointF) -> QColor:
    return board.grab().toImage().pixelColor(board.widget_point(logical))


def test_each_board_renders_its_initial_position(window, qtbot):
    view = open_arena(window, qtbot)
    play = view.play
    board = play.pane.board
    assert isinstance(play.state, TicTacToeState) and not any(play.state.board)
    line = pixel(board, QPointF(210, 300))  # a grid line between the first two columns
    assert line.blue() > line.red() and line.value() < 120
    play.game_box.set_game("connect4")
    qtbot.waitUntil(lambda: isinstance(play.pane.board.state, ConnectFourState), timeout=5000)
    board = play.pane.board
    face = pixel(board, QPointF(column_x(0) + 48, row_y(0) + 45))  # between holes: the blue face
    hole = pixel(board, QPointF(column_x(3), row_y(0)))
    assert face.blue() > 150 and face.red() < 80 and hole.value() > 200
    play.game_box.set_game("backgammon")
    qtbot.waitUntil(lambda: play.pane.game == "backgammon" and play.pane.board.state is not None, timeout=5000)
    board = play.pane.board
    s = board.state
    assert s.dice is not None  # the opening roll is shown
    me, them = (QColor("#f3ead7"), QColor("#3a3230")) if play.human == 0 else (QColor("#3a3230"), QColor("#f3ead7"))
    mine = pixel(board, geo.slot_center(24, 0))  # the viewer's two back checkers
    theirs = pixel(board, geo.slot_center(1, 0))  # the opponent's back checkers on the viewer's 1 point
    empty = pixel(board, geo.slot_center(2, 0))
    assert abs(mine.value() - me.value()) < 60 and abs(theirs.value() - them.value()) < 60
    assert abs(empty.value() - mine.value()) > 30 or abs(empty.value() - theirs.value()) > 30


def test_click_plays_and_perfect_agent_blocks_the_threat(window, qtbot):
    view = open_arena(window, qtbot)
    play = view.play
    choose_opponent(qtbot, window, play, "perfect")
    board = play.pane.board
    click(qtbot, board, board.cell_center(0))
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 2, timeout=10_000)
    assert play.state.board[0] == 1 and play.state.board[4] == 2  # the only reply to a corner that draws
    click(qtbot, board, board.cell_center(1))  # X threatens 0-1-2
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 4, timeout=10_000)
    assert play.state.board[2] == 2  # blocked
    assert play.pane.curve.points() == 4  # one win-probability point per move
    assert play.pane.curve.last() == 0.5  # perfect play from here is a draw


def test_illegal_clicks_change_nothing(window, qtbot):
    view = open_arena(window, qtbot)
    play = view.play
    choose_opponent(qtbot, window, play, "perfect")
    board = play.pane.board
    click(qtbot, board, board.cell_center(4))
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 2, timeout=10_000)
    before, refused = list(play.state.board), board.refused
    click(qtbot, board, board.cell_center(4))  # taken
    click(qtbot, board, QPointF(5, 5))  # off the grid
    click(qtbot, board, board.cell_center(0), Qt.MouseButton.RightButton)
    qtbot.wait(100)
    assert play.state.board == before and board.refused == refused + 2 and not window.last_error


def test_connect4_click_drops_into_the_lowest_empty_cell(window, qtbot):
    view = open_arena(window, qtbot)
    play = view.play
    play.game_box.set_game("connect4")
    choose_opponent(qtbot, window, play, "alphabeta:2")
    board = play.pane.board
    top_hole = QPointF(column_x(2), row_y(5))  # clicking the top of the column drops to the bottom
    click(qtbot, board, top_hole)
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 2, timeout=15_000)
    s = play.state
    assert s.cell(0, 2) == 1
    height = s.heights[2]
    click(qtbot, board, top_hole)
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 4, timeout=15_000)
    assert play.state.cell(height, 2) == 1


def test_backgammon_turn_checker_by_checker(window, qtbot):
    view = open_arena(window, qtbot)
    play = view.play
    play.game_box.set_game("backgammon")
    qtbot.waitUntil(lambda: play.pane.game == "backgammon", timeout=5000)
    choose_opponent(qtbot, window, play, "pubeval")
    play.side.setCurrentIndex(0)
    start = {6: 5, 8: 3, 13: 5, 24: 2}
    play.set_position(position(start, start, player=0, dice=(6, 1)))
    board = play.pane.board
    assert board.sources() == {24, 13, 8, 6}
    refused = board.refused
    click(qtbot, board, geo.anchor(13))
    assert board.selected == 13 and board.destinations() == {7}  # 13/12 is blocked by the opponent
    click(qtbot, board, geo.anchor(12))  # an illegal destination: refused
    click(qtbot, board, geo.anchor(3))
    assert board.partial == [] and board.refused == refused + 2
    click(qtbot, board, geo.anchor(7))
    assert board.partial == [(13, 7)] and board.board_view()[1] == [1]  # one die left
    play.undo_btn.click()  # takes back the checker step, not a whole move
    assert board.partial == [] and play.state.history == []
    click(qtbot, board, geo.anchor(13))
    click(qtbot, board, geo.anchor(7))
    click(qtbot, board, geo.anchor(8))
    click(qtbot, board, geo.anchor(7))  # the turn is complete: 13/7 8/7
    qtbot.waitUntil(lambda: len(play.state.history) >= 1, timeout=5000)
    before = play.snapshots[0][0]
    assert play.state.history[0] == before.turn_for_steps([(13, 7), (8, 7)])
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) >= 3, timeout=15_000)
    assert play.state.board[0][6] == 2 and play.state.board[0][12] == 4  # the 7 point made (and kept)
    assert play.pane.curve.points() >= 2


def test_agent_values_overlay_hint_and_undo(window, qtbot):
    view = open_arena(window, qtbot)
    play = view.play
    choose_opponent(qtbot, window, play, "mcts:200")
    play.reveal_ms = 4000  # keep the values on the board before the move lands
    board = play.pane.board
    click(qtbot, board, board.cell_center(4))
    qtbot.waitUntil(lambda: board.overlay is not None and not play.thinking, timeout=15_000)
    ov = board.overlay
    assert len(ov.values) == 8 == len(play.state.legal_actions())  # the agent to move: 8 empty cells
    assert sum(ov.visits.values()) == 200 and play.pane.table.rowCount() == 8
    play.reveal_ms = 0
    play.undo()  # while the agent's move is pending: back to the empty board, the answer is dropped
    assert play.state.history == [] and play.pane.curve.points() == 0
    play.hint.setChecked(True)
    qtbot.wait(600)
    assert play.state.history == [] and board.overlay is not None and board.overlay.hint
    assert len(board.overlay.values) == 9  # the hint: values for all of the human's moves
    click(qtbot, board, board.cell_center(0))
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 2, timeout=15_000)
    qtbot.waitUntil(lambda: board.overlay is not None and board.overlay.hint, timeout=15_000)
    assert len(board.overlay.values) == 7
    assert play.pane.curve.points() == 2


def watch_random_game(qtbot, view):
    """Random against random on the Watch page at full speed until one game ends; the page."""
    view.tabs.setCurrentWidget(view.watch)
    w = view.watch
    w.agent_a.set_spec("random")
    w.agent_b.set_spec("random")
    w.speed.setValue(w.speed.maximum())
    w.play_btn.setChecked(True)
    qtbot.waitUntil(lambda: w.games >= 1, timeout=20_000)
    w.play_btn.setChecked(False)
    return w


def test_watch_random_agents_play_to_the_end(window, qtbot):
    view = open_arena(window, qtbot)
    w = watch_random_game(qtbot, view)
    assert sum(w.score_abd) == w.games >= 1 and "Score after" in w.score.text()
    winner, moves, points = w.finished[0]
    assert moves >= 5 and points == moves  # a win-probability point per move (the judge: the shipped agent)
    assert not window.last_error


def test_short_training_run_plots_evaluations(window, qtbot, tmp_path):
    view = open_arena(window, qtbot)
    view.tabs.setCurrentWidget(view.train)
    t = view.train
    t.games.setValue(2000)
    t.eval_every.setValue(500)
    t.eval_games.setValue(20)
    t.out.setText(str(tmp_path / "ttt-q"))
    t.start_btn.click()
    qtbot.waitUntil(lambda: t.running, timeout=5000)
    qtbot.waitUntil(lambda: not t.running, timeout=60_000)
    assert t.scores.points() == 8  # 4 evaluations x 2 reference opponents
    assert set(t.scores.data) == {"random", "perfect"}
    assert all(lo <= s <= hi for pts in t.scores.data.values() for _, s, lo, hi in pts)
    assert t.use_btn.isEnabled() and "finished" in t.summary.text()
    t.use_btn.click()
    assert view.tabs.currentWidget() is view.play and str(tmp_path) in view.play.opponent.spec()
    qtbot.waitUntil(lambda: view.play.agent_desc.startswith("q ("), timeout=10_000)  # the trained table
    assert not window.last_error


def test_training_pause_and_stop(window, qtbot, tmp_path):
    view = open_arena(window, qtbot)
    view.tabs.setCurrentWidget(view.train)
    t = view.train
    t.algo.setCurrentIndex(1)  # SARSA
    t.games.setValue(1_000_000)
    t.eval_every.setValue(1_000_000)
    t.eval_games.setValue(10)
    t.out.setText(str(tmp_path / "sarsa"))
    t.start_btn.click()
    qtbot.waitUntil(lambda: bool(t.progress_data["epsilon"]), timeout=10_000)
    t.pause_btn.click()
    qtbot.waitUntil(lambda: t.pause_btn.text() == "Resume", timeout=5000)
    t.stop_btn.click()
    qtbot.waitUntil(lambda: not t.running, timeout=20_000)
    assert "stopped" in t.summary.text() and t.scores.points() == 2  # the final evaluation
    assert (tmp_path / "sarsa" / "agent.json").exists()
    # the run's folder goes to the ladder, and the progress curves stay drawn
    assert Path(t.ladder.run_dir.text()) == tmp_path / "sarsa"
    qtbot.waitUntil(lambda: "checkpoints" in t.ladder.status.text(), timeout=10_000)  # its log read back
    assert t.progress_data["epsilon"] and len(t.small["epsilon"].xData) == len(t.progress_data["epsilon"])


def test_bad_agents_and_settings_show_errors(window, qtbot, tmp_path):
    view = open_arena(window, qtbot)
    play = view.play
    bad = tmp_path / "agent.json"
    bad.write_text('{"format": "txe-agent", "game": "tictactoe"', encoding="utf-8")
    play.opponent.set_spec(str(bad))
    qtbot.waitUntil(lambda: "damaged" in window.last_error, timeout=10_000)
    assert "could not be loaded" in play.pane.status.text()
    from engine.rl.registry import ASSETS

    play.opponent.set_spec(str(ASSETS / "backgammon.safetensors"))
    qtbot.waitUntil(lambda: "not a tictactoe" in window.last_error, timeout=10_000)
    play.opponent.set_spec("mcts:lots")
    qtbot.waitUntil(lambda: "whole number" in window.last_error, timeout=10_000)
    view.tabs.setCurrentWidget(view.train)
    (tmp_path / "file").write_text("x")
    view.train.out.setText(str(tmp_path / "file"))
    view.train.start_btn.click()
    assert "is a file" in window.last_error and not view.train.running
    view.tabs.setCurrentWidget(view.play)  # the app keeps running: a good agent plays again
    choose_opponent(qtbot, window, play, "perfect")
    click(qtbot, play.pane.board, play.pane.board.cell_center(0))
    qtbot.waitUntil(lambda: human_turn(play) and len(play.state.history) == 2, timeout=10_000)
