"""The Arena's Positions page on the real window and engine: the shipped agent's table as a game tree,
expanding a row, the flawed-only filter, the selected position's values drawn on the board, and an agent
without a table refused in the header."""

from __future__ import annotations

import os

from PySide6.QtCore import QPointF

from app.views.arena.tictactoe_board import cell_rect


def test_positions_page_browses_the_table_and_marks_the_flaws(window, qtbot):
    view = window.views["arena"]
    window.tabs.setCurrentIndex(window.view_index("arena"))
    qtbot.waitUntil(lambda: window.painted["arena"] > 0, timeout=20_000)
    page = view.positions
    view.tabs.setCurrentWidget(page)
    qtbot.waitUntil(lambda: page.loaded > 0, timeout=20_000)
    model, tree = page.model, page.tree
    assert "5,478 positions" in page.summary.text() and "2 flawed positions" in page.summary.text()
    assert "plays such a move in <b>0</b>" in page.summary.text()
    assert "38 never updated" in page.summary.text()

    # the start is open: its 9 moves, each a row with whose move, Q and minimax
    start = model.index(0, 0)
    assert model.data(start) == "start" and model.rowCount(start) == 9
    centre = model.index(4, 0, start)
    assert model.data(centre) == "5" and model.data(centre.siblingAtColumn(1)) == "O"
    assert model.data(centre.siblingAtColumn(3)) == "draw"
    assert model.rowCount(centre) == 0 and model.canFetchMore(centre)  # made only when expanded
    tree.expand(centre)
    qtbot.waitUntil(lambda: model.rowCount(centre) == 8, timeout=5000)
    assert [model.data(model.index(r, 0, centre)) for r in range(2)] == ["5 1", "5 2"]

    # only flawed positions: the tree opens down to the two flaws and selects the first
    page.only_flawed.setChecked(True)
    p = page.board.position
    assert p is not None and p.flawed and p.key in ("...OOXXX.", "XO.O.X.X.")
    assert "counts pick 9" in model.data(tree.currentIndex().siblingAtColumn(4))
    assert "third party" in page.details.text()
    flawed_rows = []

    def walk(index):
        for r in range(model.rowCount(index)):
            child = model.index(r, 0, index)
            pos = model.position(child)
            assert pos.key in page.model.only
            if pos.flawed:
                flawed_rows.append(pos.key)
            walk(child)

    walk(model.index(0, 0))
    assert set(flawed_rows) == {"...OOXXX.", "XO.O.X.X."}

    # the board draws each legal move's Q in its cell: the greedy losing move 0.00 (pale), the blocked
    # 2 at -0.885 (red); the cells hold the values shown
    board = page.board
    img = board.grab().toImage()
    greedy_losing = next(m for m in p.moves if m.top and m.minimax < 0)
    bad = next(m for m in p.moves if m.q < -0.4)
    pale = img.pixelColor(board.widget_point(cell_rect(greedy_losing.action).topLeft() + QPointF(30, 60)))
    red = img.pixelColor(board.widget_point(cell_rect(bad.action).topLeft() + QPointF(30, 60)))
    assert red.red() > red.green() + 40 and abs(pale.red() - pale.green()) < 40
    if os.environ.get("TXE_SHOT"):
        view.grab().save(os.environ["TXE_SHOT"])

    # an agent without a table: one line in the header, the page says so
    page.only_flawed.setChecked(False)
    page.agent.set_spec("perfect")
    qtbot.waitUntil(lambda: page.table is None, timeout=10_000)
    assert "tabular" in view.header.error_text and "no table" in page.summary.text()
