import random

import numpy as np
import pytest

from engine.errors import UserError
from engine.rl.agents.alphazero import AlphaZeroAgent, SelfPlayTrainer
from engine.rl.agents.base import RandomAgent
from engine.rl.agents.pubeval import PubEvalAgent
from engine.rl.agents.search import AlphaBetaConnectFour, MCTSAgent, PerfectTicTacToe
from engine.rl.agents.tabular import TabularAgent
from engine.rl.agents.td import TDAgent
from engine.rl.arena import evaluate, play_steps, wilson_interval
from engine.rl.backgammon import BackgammonState, position
from engine.rl.connect4 import ConnectFourState
from engine.rl.game import get_game
from engine.rl.registry import load_agent, make_agent
from engine.rl.tictactoe import TicTacToeState


def test_perfect_play_never_loses_to_random():
    r = evaluate(get_game("tictactoe"), PerfectTicTacToe(), RandomAgent(), 300, seed=3)
    assert r["b_wins"] == 0 and r["a_wins"] > 200


def test_perfect_values_on_a_known_position():
    s = TicTacToeState([1, 1, 0, 2, 2, 0, 0, 0, 0])  # X to move wins at cell 2
    v = PerfectTicTacToe().action_values(s)
    assert v[2] == 1.0 and v[8] < 1.0
    assert PerfectTicTacToe().step(s) == 2


def test_q_learning_learns_tictactoe():
    agent = TabularAgent("q", seed=0)
    for i in range(20_000):
        agent.train_episode(max(0.05, 1 - i / 14_000))
    game = get_game("tictactoe")
    assert evaluate(game, agent, RandomAgent(), 200, seed=1)["a_score"] > 0.85
    assert evaluate(game, agent, PerfectTicTacToe(), 100, seed=1)["a_score"] >= 0.45


def test_sarsa_runs_and_improves():
    agent = TabularAgent("sarsa", seed=0)
    for i in range(5_000):
        agent.train_episode(max(0.1, 1 - i / 4_000))
    assert evaluate(get_game("tictactoe"), agent, RandomAgent(), 200, seed=2)["a_score"] > 0.7


def test_alphabeta_takes_wins_and_blocks():
    s = ConnectFourState()
    for a in (0, 6, 0, 6, 0):  # X threatens 0; O to move must block
        s.apply_action(a)
    assert AlphaBetaConnectFour(2).step(s) == 0
    s = ConnectFourState()
    for a in (0, 6, 0, 6, 1, 6, 2):  # O has three in column 6 and wins at once
        s.apply_action(a)
    assert AlphaBetaConnectFour(3).step(s) == 6  # O wins at once


def test_mcts_beats_random_and_reports_visits():
    m = MCTSAgent(200, seed=0)
    r = evaluate(get_game("connect4"), m, RandomAgent(), 10, seed=0)
    assert r["a_wins"] >= 9
    s = ConnectFourState()
    m.search(s)
    assert sum(m.last_visits.values()) == 200 and set(m.last_visits) == set(range(7))
    assert -1 <= m.win_probability(s) * 2 - 1 <= 1


def test_pubeval_beats_random():
    r = evaluate(get_game("backgammon"), PubEvalAgent(), RandomAgent(), 60, seed=0)
    assert r["a_score"] > 0.85


def test_td_backgammon_trains_and_reports_values():
    agent = TDAgent("backgammon", hidden=20, seed=0)
    for _ in range(5):
        winner, err, moves = agent.train_episode(BackgammonState())
        assert winner in (0, 1) and err >= 0 and moves > 0
    s = BackgammonState()
    s.apply_action(3)
    vals = agent.action_values(s)
    assert set(vals) == set(s.legal_actions()) and all(-1 <= v <= 1 for v in vals.values())
    assert 0 <= agent.win_probability(s) <= 1


def test_td_two_ply_is_the_expectation_over_the_opponents_rolls():
    """2-ply through the game API: apply the move, each of the opponent's rolls, their best reply by O."""
    agent = TDAgent("backgammon", hidden=20, seed=3)
    for _ in range(3):
        agent.train_episode(BackgammonState())
    s = BackgammonState()
    s.apply_action(5)  # an opening roll
    one_ply = agent.afterstate_values(s)[1]
    agent.plies = 2
    two_ply = agent.play_values(s)
    examined = np.argsort(-one_ply)[: agent.two_ply_candidates]
    for i in examined:
        after = s.clone()
        after.apply_action(s.legal_actions()[i])
        expected = 0.0
        for outcome, prob in after.chance_outcomes():
            rolled = after.clone()
            rolled.apply_action(outcome)
            expected += prob * (1.0 - agent.afterstate_values(rolled)[1].max())
        assert two_ply[i] == pytest.approx(expected, abs=1e-9)
    assert set(agent.action_values(s)) == {s.legal_actions()[i] for i in examined}
    assert agent.step(s) == s.legal_actions()[int(examined[np.argmax(two_ply[examined])])]
    last = position({1: 1}, {24: 15}, dice=(3, 1))  # bearing off the last checker wins outright
    assert agent.play_values(last).max() == 1.0


def test_td_connect4_afterstates():
    agent = TDAgent("connect4", hidden=16, epsilon=0.1, seed=0)
    for _ in range(20):
        agent.train_episode(ConnectFourState())
    s = ConnectFourState()
    for a in (0, 6, 0, 6, 0):
        s.apply_action(a)
    s.apply_action(1)  # O fails to block: X's win at column 0 is a known afterstate value of 1
    assert agent.action_values(s)[0] == 1.0 and agent.step(s) == 0


def test_selfplay_trainer_and_search_counts():
    agent = AlphaZeroAgent(hidden=32, sims=30, seed=0)
    trainer = SelfPlayTrainer(agent, {"sims": 16, "train_every": 2, "batches": 2, "batch_size": 32},
                              random.Random(0))
    for _ in range(4):
        info = trainer.episode()
        assert info["moves"] > 0
    s = ConnectFourState()
    agent.step(s)
    assert sum(agent.last_visits.values()) == 30
    assert 0 <= agent.win_probability(s) <= 1


def test_selfplay_search_values_a_threat_exactly():
    """With the leaf check an untrained network still sees that any move but the block loses at once."""
    s = ConnectFourState()
    for a in (0, 6, 0, 6, 0):  # X threatens column 0; O to move
        s.apply_action(a)
    agent = AlphaZeroAgent(hidden=16, sims=60, seed=0)
    assert agent.step(s) == 0
    assert all(v == -1.0 for a, v in agent.last_values.items() if a != 0 and agent.last_visits[a])


@pytest.mark.parametrize("kind", ["tabular", "td", "selfplay"])
def test_save_load_round_trip(tmp_path, kind):
    if kind == "tabular":
        agent, game, state = TabularAgent("q", seed=0), "tictactoe", TicTacToeState()
        for _ in range(200):
            agent.train_episode(0.5)
        path = tmp_path / "a.json"
    elif kind == "td":
        agent, game = TDAgent("backgammon", hidden=8, seed=0), "backgammon"
        agent.train_episode(BackgammonState())
        state = BackgammonState()
        state.apply_action(4)
        path = tmp_path / "a.safetensors"
    else:
        agent, game, state = AlphaZeroAgent(hidden=16, sims=8, seed=0), "connect4", ConnectFourState()
        path = tmp_path / "a.safetensors"
    agent.save(path)
    back = load_agent(path, game)
    if kind == "selfplay":
        assert back.evaluate(state)[0] == pytest.approx(agent.evaluate(state)[0], abs=1e-6)
        assert back.evaluate(state)[1] == pytest.approx(agent.evaluate(state)[1], abs=1e-6)
    else:
        assert back.action_values(state) == pytest.approx(agent.action_values(state))
    assert make_agent(str(path), game).describe() == back.describe()
    with pytest.raises(UserError, match="not a"):
        load_agent(path, "connect4" if game != "connect4" else "tictactoe")


def test_corrupt_and_missing_agent_files(tmp_path):
    bad = tmp_path / "agent.safetensors"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(UserError, match="damaged"):
        load_agent(bad, "backgammon")
    j = tmp_path / "t.json"
    j.write_text('{"format": "txe-agent", "game": "tictactoe"')
    with pytest.raises(UserError, match="damaged"):
        load_agent(j, "tictactoe")
    j.write_text('{"format": "txe-agent", "game": "tictactoe", "algo": "q", "table": {"x": [1]}}')
    with pytest.raises(UserError, match="damaged"):
        load_agent(j, "tictactoe")
    with pytest.raises(UserError, match="does not exist"):
        load_agent(tmp_path / "nope.json", "tictactoe")
    with pytest.raises(UserError, match="No saved agent"):
        load_agent(tmp_path / "..", "tictactoe")


@pytest.mark.parametrize("spec", ["mcts:0", "mcts:abc", "alphabeta:99", "wizard", "pubeval", "perfect:2ply"])
def test_bad_agent_strings(spec):
    with pytest.raises(UserError):
        make_agent(spec, "tictactoe")


def test_search_suffixes_set_the_look_ahead_and_plies_are_saved(tmp_path):
    assert make_agent("default:2ply", "backgammon").plies == 2
    assert make_agent("default:1ply", "backgammon").plies == 1
    agent = TDAgent("backgammon", hidden=8, seed=0)
    agent.plies = 2
    agent.save(tmp_path / "bg.safetensors")
    assert load_agent(tmp_path / "bg.safetensors", "backgammon").plies == 2
    with pytest.raises(UserError, match="plies"):
        make_agent("mcts:20:2ply", "connect4")
    assert make_agent("default:800sims", "connect4").sims == 800
    with pytest.raises(UserError, match="self-play"):
        make_agent("perfect:100sims", "tictactoe")


def test_wilson_interval_and_steps():
    lo, hi = wilson_interval(60, 100)
    assert 0.5 < lo < 0.6 < hi < 0.7
    moves = list(play_steps(get_game("tictactoe"), (RandomAgent(0), PerfectTicTacToe(1)), random.Random(0),
                            with_values=True))
    assert moves[-1].state.is_terminal() and all(m.player in (0, 1) for m in moves)
    assert any(m.values for m in moves if m.player == 1)
