"""The move table beside the backgammon board: GNU Backgammon's five probabilities and the equity of each
candidate move when the agent gives them (gnubg, a 5-output TD network), the plain table otherwise."""

from __future__ import annotations

from app.views.arena.game_pane import FIRST_PROB, PROB_COLUMNS, GamePane
from engine.rl.backgammon import BackgammonState
from engine.rl.play import AgentPool, think


def test_move_table_shows_probabilities_only_when_given(qtbot):
    pane = GamePane("arena.gammon-test")
    qtbot.addWidget(pane)
    pane.set_game("backgammon")
    s = BackgammonState()
    s.set_dice(6, 4)
    s.first = False
    pool = AgentPool()
    result = think(pool, "backgammon", "gnubg", s, 0)
    assert result["ok"] and result["details"]
    pane.show_values(result, s, "gnubg")
    table = pane.table
    shown = [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]
    assert shown == [0, 1, *range(FIRST_PROB, FIRST_PROB + len(PROB_COLUMNS))]
    assert table.horizontalHeaderItem(1).text() == "equity" and table.rowCount() == 9
    best = result["top"][0]
    assert table.item(0, FIRST_PROB).text() == f"{100 * best['probs']['win']:.1f}"
    assert table.item(0, 1).text() == f"{best['probs']['equity']:+.2f}"
    assert "probabilities in %" in pane.values_title.text()
    plain = think(pool, "backgammon", "pubeval", s, 0)  # no probabilities: the columns go
    pane.show_values(plain, s, "pubeval")
    assert all(table.isColumnHidden(c) for c in range(FIRST_PROB, table.columnCount()))
    assert table.horizontalHeaderItem(1).text() == "value"
