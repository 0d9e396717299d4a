"""Backgammon rules on hand-made positions ({point: checkers} in each player's own numbering, 25 = bar)."""

import random

from engine.rl.backgammon import NUM_CHECKERS, BackgammonState, position


def results(s: BackgammonState) -> set[tuple[tuple[int, int], ...]]:
    return {steps for steps, _, _ in s.legal_turns()}


def test_opening_roll_decides_starter_and_dice():
    s = BackgammonState()
    assert s.is_chance_node() and len(s.chance_outcomes()) == 30
    s.apply_action(15)  # second half of the opening outcomes: O starts
    assert s.current_player() == 1 and s.dice == (2, 1)


def test_start_position_six_one_moves():
    s = position({6: 5, 8: 3, 13: 5, 24: 2}, {6: 5, 8: 3, 13: 5, 24: 2}, dice=(6, 1))
    texts = {s.action_to_string(a) for a in s.legal_actions()}
    assert "13/7 8/7" in texts or "8/7 13/7" in texts
    assert len(texts) == 10  # 13/12 and 18/17 are blocked by O's midpoint and 8-point


def test_bar_checker_must_enter_first():
    # O holds its 6-point (X's entry point for a 6): X must enter with the 5, then play the 6 freely
    s = position({25: 1, 13: 14}, {6: 2, 1: 13}, dice=(6, 5))
    for steps in results(s):
        assert steps[0] == (25, 20)
        assert len(steps) == 2


def test_closed_board_means_pass():
    s = position({25: 1, 13: 14}, {1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 12: 3}, dice=(4, 2))
    assert s.legal_actions() == [0] and s.legal_turns()[0][0] == ()
    assert s.action_to_string(0) == "pass"
    s.apply_action(0)
    assert s.current_player() != 0 and s.board[0][24] == 1


def test_hitting_a_blot_sends_it_to_the_bar():
    # O blot on its 17-point = X's 8-point
    s = position({10: 1, 6: 14}, {17: 1, 1: 14}, dice=(2, 1))
    hits = [a for a in s.legal_actions() if "10/8*" in s.action_to_string(a)]
    assert hits
    s.apply_action(hits[0])
    assert s.board[1][24] == 1 and s.board[1][16] == 0


def test_blocked_point_cannot_be_landed_on():
    s = position({10: 1, 1: 14}, {17: 2, 24: 13}, dice=(2, 2))  # X's 8-point is O's 17-point
    assert all((10, 8) not in steps for steps in results(s))


def test_bear_off_exact_and_with_higher_die():
    s = position({3: 1, 2: 1}, {1: 15}, dice=(6, 5))
    assert results(s) == {((3, 0), (2, 0))}
    s = position({6: 1, 2: 1}, {1: 15}, dice=(5, 1))
    # the 5 cannot bear off from the 2 while a checker is on the 6
    for steps in results(s):
        assert (2, 0) not in steps[:1] or (6, 1) in steps


def test_no_bear_off_until_all_home():
    s = position({7: 1, 2: 14}, {1: 15}, dice=(2, 1))
    assert all(steps[0][0] == 7 or (7, 6) in steps or (7, 5) in steps or steps[0][1] != 0
               for steps in results(s))
    assert all((2, 0) not in steps[:1] for steps in results(s))


def test_must_use_both_dice_when_possible():
    # 10/4 is blocked (O holds X's 4 = O's 21), but 10/9/3 uses both dice, so 10/4 alone is illegal
    s = position({10: 1}, {21: 2, 1: 13}, dice=(6, 1))
    assert results(s) == {((10, 9), (9, 3))}


def test_larger_die_when_only_one_can_be_played():
    # X's 24s are blocked for both dice; the 10 can move 6 or 5 but never both: the 6 must be played
    s = position({10: 1, 24: 14}, {7: 2, 6: 2, 1: 11}, dice=(6, 5))
    assert results(s) == {((10, 4),)}


def test_doubles_are_played_four_times():
    s = position({6: 5, 8: 3, 13: 5, 24: 2}, {6: 5, 8: 3, 13: 5, 24: 2}, dice=(2, 2))
    assert all(len(steps) == 4 for steps in results(s))
    s = position({6: 1}, {1: 15}, dice=(1, 1))
    assert results(s) == {((6, 5), (5, 4), (4, 3), (3, 2))}


def test_scoring_single_gammon_backgammon():
    s = position({1: 1}, {1: 14}, dice=(6, 5))  # O has borne one checker off: single game
    s.apply_action(0)
    assert s.is_terminal() and s.returns() == [1.0, -1.0]
    s = position({1: 1}, {12: 15}, dice=(6, 5))  # none off, none in X's home: gammon
    s.apply_action(0)
    assert s.returns() == [2.0, -2.0]
    s = position({1: 1}, {12: 14, 20: 1}, dice=(6, 5))  # one left in X's home board: backgammon
    s.apply_action(0)
    assert s.returns() == [3.0, -3.0]
    s = position({1: 1}, {12: 14, 25: 1}, dice=(6, 5))  # one on the bar: backgammon
    s.apply_action(0)
    assert s.returns() == [3.0, -3.0]
    s = position({12: 15}, {1: 1}, player=1, dice=(3, 3))  # and for O
    s.apply_action(0)
    assert s.returns() == [-2.0, 2.0]


def test_checker_by_checker_entry_matches_turns():
    s = position({6: 5, 8: 3, 13: 5, 24: 2}, {6: 5, 8: 3, 13: 5, 24: 2}, dice=(6, 1))
    first = s.next_checker_steps([])
    assert (13, 7) in first and (8, 7) in first and (13, 12) not in first
    assert (8, 7) in s.next_checker_steps([(13, 7)])
    a = s.turn_for_steps([(13, 7), (8, 7)])
    assert a is not None and s.string_to_action("8/7 13/7") == a
    assert s.turn_for_steps([(13, 7)]) is None  # half a turn is not a turn


def test_random_playout_invariants():
    rng = random.Random(7)
    for _ in range(30):
        s = BackgammonState()
        turns = 0
        while not s.is_terminal():
            if s.is_chance_node():
                s.apply_random_chance(rng)
                continue
            d1, d2 = s.dice
            for steps, m, o in s.legal_turns():
                assert len(steps) <= (4 if d1 == d2 else 2)
                for b in (m, o):
                    assert min(b) >= 0 and sum(b) <= NUM_CHECKERS
                # no point holds checkers of both players
                assert all(not (m[i] and o[23 - i]) for i in range(24))
            lengths = {len(t[0]) for t in s.legal_turns()}
            assert len(lengths) == 1  # every legal turn uses the same (maximal) number of dice
            s.apply_action(rng.randrange(len(s.legal_actions())))
            turns += 1
            for p in (0, 1):
                assert sum(s.board[p]) + s.off(p) == NUM_CHECKERS
        assert 1 <= max(s.returns()) <= 3 and turns > 10
