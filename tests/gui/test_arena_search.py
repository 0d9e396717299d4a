"""The Arena's Search page on the real window and engine: step phase by phase, run more, click a node, stop,
switch game, take the Play page's position."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.views.arena.connect4_board import ConnectFourBoard
from app.views.arena.tictactoe_board import TicTacToeBoard
from engine.rl.tictactoe import TicTacToeState


def test_search_journey(window, qtbot):
    view = window.views["arena"]
    window.tabs.setCurrentIndex(window.view_index("arena"))
    qtbot.waitUntil(lambda: window.painted["arena"] > 0, timeout=20_000)
    panel = view.search
    view.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.session is not None and panel.snap is not None, timeout=20_000)
    assert panel.game == "connect4" and panel.agent_box.currentData() == "default"
    assert panel.tree.node(())["n"] == 0 and len(panel.tree.snap["nodes"]) == 8  # root + 7 columns with priors

    # Step: one simulation, its four phases shown one after another, each explained
    panel.phase_timer.setInterval(30)
    seen: list[int] = []
    panel.phase_timer.timeout.connect(lambda: seen.append(panel.phase))
    qtbot.mouseClick(panel.step_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.phase == 0, timeout=10_000)
    assert panel.explain.text().startswith("Simulation 1, select") and panel.tree.phase == 0
    assert panel.tree.displayed()[0]["n"] == 0  # until the back-up phase the tree shows N before this simulation
    qtbot.waitUntil(lambda: panel.phase == 3, timeout=10_000)
    assert seen == [1, 2, 3] and "back up" in panel.explain.text()
    assert panel.tree.node(())["n"] == 1 == panel.tree.displayed()[0]["n"] and panel.tree.step.kind == "network"

    # +100 grows N at the root, in a job that disables the run buttons until it ends
    qtbot.mouseClick(panel.hundred_btn, Qt.MouseButton.LeftButton)
    assert panel.job is not None and not panel.step_btn.isEnabled() and panel.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: panel.job is None, timeout=20_000)
    root = panel.tree.node(())
    assert root["n"] == 101 == panel.sims_done and "101 / 800" in panel.count.text()
    assert panel.step_btn.isEnabled() and not panel.stop_btn.isEnabled()

    # clicking a node shows its board and its numbers
    kids = [n for n in panel.tree.snap["nodes"] if n["depth"] == 1]
    best = max(kids, key=lambda n: n["n"])
    path = tuple(best["path"])
    qtbot.mouseClick(panel.tree, Qt.MouseButton.LeftButton, pos=panel.tree.node_center(path).toPoint())
    assert panel.picked == path and panel.tree.picked == path
    board = panel.board_of["connect4"]
    assert isinstance(board, ConnectFourBoard) and board.state.history == list(path)
    assert not panel.board.pixmap().isNull() and panel.board.pixmap().width() == panel.board.width()
    assert f"<b>N</b> = {best['n']:,} visits" in panel.numbers.text() and "<b>P</b>" in panel.numbers.text()

    # All to 10,000, stopped at once: the tree keeps what was done and the page is usable again
    panel.sims.setValue(10_000)
    qtbot.mouseClick(panel.all_btn, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.stop_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.job is None and panel.tree.node(())["n"] == panel.sims_done, timeout=20_000)
    assert 101 <= panel.sims_done < 10_000 and panel.step_btn.isEnabled()

    # another game: a new search from its start, with its own board and agents
    panel.game_box.setCurrentIndex(panel.game_box.findData("tictactoe"))
    qtbot.waitUntil(lambda: panel.snap is not None and panel.snap["game"] == "tictactoe", timeout=20_000)
    assert panel.sims_done == 0 and [panel.agent_box.itemData(i) for i in range(panel.agent_box.count())] == [
        "mcts:1"]
    board = panel.board_of["tictactoe"]
    assert isinstance(board, TicTacToeBoard) and board.state.history == [] and panel.picked == ()

    # the Play page's position (tic-tac-toe, X in the centre, the human's O to move)
    play = view.play
    play.side.setCurrentIndex(1)
    s = TicTacToeState()
    s.apply_action(4)
    play.set_position(s)
    qtbot.mouseClick(panel.take_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.snap is not None and len(panel.snap["nodes"]) == 1, timeout=20_000)
    assert panel.state.history == [4]
    qtbot.mouseClick(panel.hundred_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.job is None and panel.sims_done == 100, timeout=20_000)
    assert {n["move"] for n in panel.snap["nodes"] if n["depth"] == 1} == {"1", "2", "3", "4", "6", "7", "8", "9"}

    # the tree behind the Play page's last move: the position before it, with the opponent's agent if it searches
    qtbot.mouseClick(panel.last_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.snap is not None and panel.sims_done == 0, timeout=20_000)
    assert panel.state.history == [] and panel.game == "tictactoe"
    panel._follow("mcts:300")
    assert panel.agent_box.currentData() == "mcts:1" and panel.sims.value() == 300
