import random

import numpy as np
import pytest

from engine.errors import UserError
from engine.rl.connect4 import ConnectFourState
from engine.rl.game import CHANCE, TERMINAL, get_game
from engine.rl.tictactoe import TicTacToeState


def test_tictactoe_win_and_returns():
    s = TicTacToeState()
    for a in (0, 3, 1, 4, 2):  # X takes the top row
        s.apply_action(a)
    assert s.is_terminal() and s.returns() == [1.0, -1.0] and s.winner() == 0
    assert s.current_player() == TERMINAL and s.legal_actions() == []


def test_tictactoe_draw_and_illegal_move():
    s = TicTacToeState()
    for a in (0, 1, 2, 4, 3, 5, 7, 6, 8):
        s.apply_action(a)
    assert s.is_terminal() and s.returns() == [0.0, 0.0]
    with pytest.raises(ValueError):
        TicTacToeState([1, 0, 0, 0, 0, 0, 0, 0, 0]).apply_action(0)


def test_connect4_vertical_horizontal_diagonal():
    s = ConnectFourState()
    for a in (0, 1, 0, 1, 0, 1, 0):
        s.apply_action(a)
    assert s.winner() == 0
    s = ConnectFourState()
    for a in (0, 0, 1, 1, 2, 2, 3):
        s.apply_action(a)
    assert s.winner() == 0
    s = ConnectFourState()  # O builds the rising diagonal a1-d4 ... here X: 0,1,2,3 rising
    for a in (0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3):
        s.apply_action(a)
    assert s.winner() == 0


def test_connect4_full_column_and_undo():
    s = ConnectFourState()
    for _ in range(6):
        s.apply_action(3)
    assert 3 not in s.legal_actions()
    with pytest.raises(ValueError):
        s.apply_action(3)
    before = str(s)
    s.apply_action(0)
    s.undo()
    assert str(s) == before


@pytest.mark.parametrize("name", ["tictactoe", "connect4", "backgammon"])
def test_random_playouts_and_json_round_trip(name):
    game = get_game(name)
    rng = random.Random(1)
    for _ in range(20):
        s = game.new_initial_state()
        while not s.is_terminal():
            if s.is_chance_node():
                assert s.current_player() == CHANCE
                outcomes = s.chance_outcomes()
                assert abs(sum(p for _, p in outcomes) - 1) < 1e-9
                s.apply_random_chance(rng)
            else:
                legal = s.legal_actions()
                assert legal and len(set(legal)) == len(legal)
                obs = s.observation_tensor()
                assert obs.dtype == np.float32 and obs.ndim == 1
                c = s.clone()
                c.apply_action(legal[0])  # a clone never changes the original
                assert s.legal_actions() == legal
                s.apply_action(rng.choice(legal))
            back = game.state_from_json(s.to_json())
            assert str(back) == str(s) and back.legal_actions() == s.legal_actions()
        r = s.returns()
        assert r[0] == -r[1] and str(s)


def test_bad_game_and_bad_json():
    with pytest.raises(UserError):
        get_game("chess")
    with pytest.raises(UserError):
        get_game("tictactoe").state_from_json("{nope")
    with pytest.raises(UserError):
        get_game("tictactoe").state_from_json(get_game("connect4").new_initial_state().to_json())
