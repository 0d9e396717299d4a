"""engine.rl.analysis and ``txe rl analyse``: what the Arena view overlays on its boards."""

import json

import pytest

from engine.rl.agents.base import RandomAgent
from engine.rl.agents.pubeval import PubEvalAgent
from engine.rl.agents.search import AlphaBetaConnectFour, MCTSAgent, PerfectTicTacToe
from engine.rl.analysis import analyse, choose, has_win_estimate, win_probability_for
from engine.rl.backgammon import BackgammonState, position
from engine.rl.connect4 import ConnectFourState
from engine.rl.tictactoe import TicTacToeState


def test_perfect_values_choice_and_win_probability():
    s = TicTacToeState([1, 1, 0, 2, 2, 0, 0, 0, 0])  # X to move wins at cell 2
    agent = PerfectTicTacToe(0)
    a = analyse(agent, s)
    assert set(a.values) == set(s.legal_actions()) and a.values[2] == 1.0
    assert a.best() == 2 and choose(agent, s, a) == 2
    assert win_probability_for(agent, s, 0, a) == 1.0 and win_probability_for(agent, s, 1, a) == 0.0
    assert a.top(s, 2)[0] == {"action": 2, "move": "3", "value": 1.0}


def test_mcts_searches_once_and_reports_visits():
    s = ConnectFourState()
    agent = MCTSAgent(120, seed=0)
    a = analyse(agent, s)
    assert sum(a.visits.values()) == 120 and set(a.visits) == set(a.values) == set(range(7))
    assert choose(agent, s, a) == max(a.visits, key=a.visits.__getitem__)
    p = win_probability_for(agent, s, 0, a)
    assert p is not None and 0 <= p <= 1
    assert win_probability_for(agent, s, 1, a) == pytest.approx(1 - p)
    assert win_probability_for(agent, s, 0) is None  # no analysis: UCT would have to search again


def test_alphabeta_chooses_from_raw_scores():
    s = ConnectFourState()
    for c in (0, 6, 0, 6, 1, 6, 2):  # O to move wins at once in column 6
        s.apply_action(c)
    agent = AlphaBetaConnectFour(3, seed=0)
    a = analyse(agent, s)
    assert a.values[6] == 1.0 and a.raw and choose(agent, s, a) == 6
    assert all(-1 <= v <= 1 for v in a.values.values())


def test_agents_without_estimates_and_chance_nodes():
    s = TicTacToeState()
    assert analyse(RandomAgent(0), s).values == {}
    assert not has_win_estimate(RandomAgent(0)) and has_win_estimate(PerfectTicTacToe(0))
    assert choose(RandomAgent(0), s, analyse(RandomAgent(0), s)) in s.legal_actions()
    assert win_probability_for(RandomAgent(0), s, 0) is None
    bg = BackgammonState()
    assert win_probability_for(PubEvalAgent(), bg, 0) == 0.5  # before the opening roll
    done = TicTacToeState([1, 1, 1, 2, 2, 0, 0, 0, 0])
    assert win_probability_for(RandomAgent(0), done, 0) == 1.0


def test_backgammon_partial_position_and_pips():
    s = position({6: 5, 8: 3, 13: 5, 24: 2}, {6: 5, 8: 3, 13: 5, 24: 2}, dice=(6, 1))
    assert s.pip_count(0) == s.pip_count(1) == 167
    m, o, rest = s.partial_position([(13, 7)])
    assert m[12] == 4 and m[6] == 1 and rest == [1]
    assert s.partial_position([(13, 12)]) is None  # the opponent holds that point
    assert s.partial_position([]) == (s.board[0], s.board[1], [6, 1])
    a = analyse(PubEvalAgent(), s)
    assert a.bounded is False and len(a.values) == len(s.legal_actions())


def test_cli_analyse(txe):
    code, out, _ = txe("rl", "analyse", "--game", "tictactoe", "--agent", "perfect", "--moves", "1 4 2",
                       "--json")
    data = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and data["player"] == 1 and data["legal_moves"] == 6 and data["win_probability"] == 0.0
    code, out, _ = txe("rl", "analyse", "--game", "backgammon", "--agent", "pubeval", "--dice", "6-1",
                       "--top", "3", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and len(data["moves"]) == 3 and "/" in data["choice"]
    for bad in (["--game", "backgammon"], ["--game", "backgammon", "--dice", "9-1"],
                ["--game", "tictactoe", "--moves", "1 1"], ["--game", "tictactoe", "--dice", "6-1"]):
        code, _, err = txe("rl", "analyse", *bad)
        assert code == 2 and err.strip()


@pytest.mark.parametrize("game", ["tictactoe", "connect4", "backgammon"])
def test_every_listed_agent_name_is_made(game):
    from engine.rl.registry import agent_names, make_agent

    for name in agent_names(game):
        if name != "default":  # the shipped agents are loaded in test_agents / the GUI tests
            assert make_agent(name, game).name
