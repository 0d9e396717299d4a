"""The Arena's Replay page on the real window and engine: a game lost on the Play page is reviewed by the
perfect player, its blunder marked in the move list and on the curve, and the board steps through it."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from tests.gui.test_arena import choose_opponent, click, human_turn, open_arena, watch_random_game


def test_play_a_game_then_replay_it_with_the_blunder_marked(window, qtbot, tmp_path):
    view = open_arena(window, qtbot)
    play = view.play
    choose_opponent(qtbot, window, play, "perfect")
    board = play.pane.board
    for cell, moves in ((0, 2), (1, 4), (8, 6)):  # X leaves O's diagonal 3-5-7 open with its third move
        click(qtbot, board, board.cell_center(cell))
        qtbot.waitUntil(lambda n=moves: human_turn(play) and len(play.state.history) == n, timeout=10_000)
    while not play.state.is_terminal():  # perfect play wins, now or (a tie) a little later
        n = len(play.state.history) + 2
        click(qtbot, board, board.cell_center(play.state.legal_actions()[0]))
        qtbot.waitUntil(lambda n=n: human_turn(play) and (play.state.is_terminal() or len(play.state.history) == n),
                        timeout=10_000)
    assert play.state.winner() == 1
    n = len(play.state.history)

    panel = view.replay
    view.tabs.setCurrentWidget(panel)  # the page takes the Play page's last game
    qtbot.waitUntil(lambda: panel.record is not None and panel.record.player_moves() == n, timeout=10_000)
    assert panel.record.players == ("you", "perfect") and panel.table.rowCount() == n
    panel.agent.set_spec("perfect")  # another agent: the game is reviewed again
    qtbot.waitUntil(lambda: not panel.analysing and panel.agent_desc == "perfect" and len(panel.reviews) == n,
                    timeout=20_000)
    lost = [panel.table.item(r, 4).text() for r in range(n)]
    assert "\u2716" in lost[4] and "1.00" in lost[4]  # X's 8 instead of blocking at 7
    assert not any("\u2716" in t for i, t in enumerate(lost) if i != 4) and lost[0] == "0.00"
    blunder_bg = panel.table.item(4, 0).background().color()
    assert blunder_bg.red() > 200 and blunder_bg.green() < 230 and panel.table.item(0, 0).background().color() \
        != blunder_bg
    assert panel.marks.blunders.data["x"].tolist() == [5.0]  # on the curve, after move 5
    assert "2 blunder" not in panel.summary.text() and "1 blunder" in panel.summary.text()

    # stepping: the board shows the position before the selected move, with the agent's values over it
    qtbot.mouseClick(panel.first_btn, Qt.MouseButton.LeftButton)
    assert panel.step == 0 and not any(panel.pane.board.state.board)
    for _ in range(4):
        qtbot.mouseClick(panel.next_btn, Qt.MouseButton.LeftButton)
    assert panel.step == 4 and sum(1 for c in panel.pane.board.state.board if c) == 4
    overlay = panel.pane.board.overlay
    assert overlay is not None and overlay.chosen == 8 and overlay.values[6] == 0 and overlay.values[8] == -1
    assert panel.table.selectionModel().selectedRows()[0].row() == 4 and panel.marks.cursor.value() == 4
    assert "Blunder" in panel.pane.detail.text()
    ring = panel.played_marks["tictactoe"]  # the move played, ringed in the blunder's red
    assert ring.action == 8 and ring.color.red() > 150 and ring.color.green() < 100
    panel.slider.setValue(n)  # the end: the final position, no values
    assert panel.pane.board.state.is_terminal() and panel.pane.board.overlay is None
    assert not panel.next_btn.isEnabled()

    # saved and opened again; a damaged file is refused in the header
    path = tmp_path / "game.json"
    assert panel.save_file(str(path)) and json.loads(path.read_text())["players"] == ["you", "perfect"]
    bad = tmp_path / "bad.json"
    bad.write_text(path.read_text().replace('"text": "9"', '"text": "7"'))
    assert not panel.open_file(str(bad)) and "damaged" in view.header.error_text
    assert panel.open_file(str(path)) and panel.record.player_moves() == n
    qtbot.waitUntil(lambda: not panel.analysing and len(panel.reviews) == n, timeout=20_000)

    # a game watched on the Watch page is offered too, with the agents' names and sides
    watch_random_game(qtbot, view)
    watched = panel.records["watch"]
    assert watched.players == ("A random", "B random") and watched.final_state().is_terminal()
    assert "A random v B random" in panel.source.itemText(panel.source.findData("watch"))

    # a slow review can be cancelled: the list keeps what was done and says it stopped
    view.tabs.setCurrentWidget(panel)
    panel.agent.set_spec("mcts:5000")
    assert panel.analysing and panel.cancel_btn.isEnabled()
    qtbot.mouseClick(panel.cancel_btn, Qt.MouseButton.LeftButton)
    assert not panel.analysing and "stopped after" in panel.summary.text()
    assert len(panel.reviews) < panel.record.player_moves()
    assert "analysed by mcts:5000" in view.header.source_text()  # the header follows the agent
