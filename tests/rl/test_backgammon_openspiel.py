"""Cross-check legal turns against OpenSpiel's backgammon (a test-only reference; skipped without it).

From positions of random OpenSpiel games, every way OpenSpiel lets the player finish the turn (two
actions for doubles) must reach exactly the set of positions our legal_turns() reaches.
"""

import random
import re

import pytest

from engine.rl.backgammon import BackgammonState

pyspiel = pytest.importorskip("pyspiel")


def os_position(s) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """OpenSpiel state -> our boards (each player's own numbering, bar last)."""
    text = s.to_string()
    off = [int(v) for v in re.search(r"Scores, X: (\d+), O: (\d+)", text).groups()]
    boards = []
    for p in (0, 1):
        pts = [s.board(p, 24 - k) if p == 0 else s.board(p, k - 1) for k in range(1, 25)]
        boards.append(tuple(pts + [15 - sum(pts) - off[p]]))
    return boards[0], boards[1]


def os_dice(s) -> tuple[int, int]:
    d = re.search(r"Dice: (\d)(\d)", s.to_string()).groups()
    return int(d[0]), int(d[1])


def os_turn_results(s, player: int) -> set:
    out = set()
    stack = [s]
    while stack:
        st = stack.pop()
        if st.is_terminal() or st.is_chance_node() or st.current_player() != player:
            out.add(os_position(st))
            continue
        for a in st.legal_actions():
            stack.append(st.child(a))
    return out


def test_legal_turns_match_openspiel():
    game = pyspiel.load_game("backgammon")
    rng = random.Random(0)
    checked = 0
    for _ in range(20):
        s = game.new_initial_state()
        turn_start = False
        while not s.is_terminal():
            if s.is_chance_node():
                outcomes = s.chance_outcomes()
                s.apply_action(rng.choices([o for o, _ in outcomes], [p for _, p in outcomes])[0])
                turn_start = True
                continue
            player = s.current_player()
            if turn_start:
                mine = BackgammonState()
                mine.board = list(os_position(s))
                mine.player = player
                mine.set_dice(*os_dice(s))
                ours = set()
                for _, m, o in mine.legal_turns():
                    ours.add((m, o) if player == 0 else (o, m))
                assert ours == os_turn_results(s, player), str(s)
                checked += 1
                turn_start = False
            s.apply_action(rng.choice(s.legal_actions()))
    assert checked > 500
