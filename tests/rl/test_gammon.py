"""Backgammon with gammons: GNU Backgammon's five outputs in the TD network, the gnubg reference agent,
points per game in the evaluation."""

import json
import random

import numpy as np
import pytest

from engine.errors import UserError
from engine.rl.agents.base import read_agent_file, save_tensor_agent
from engine.rl.agents.gnubg import GnubgAgent, afterstate_probabilities
from engine.rl.agents.td import TDAgent, equity, flip_probs, with_gammons
from engine.rl.analysis import analyse
from engine.rl.arena import evaluate
from engine.rl.backgammon import position
from engine.rl.game import get_game
from engine.rl.registry import load_agent, make_agent

BG = get_game("backgammon")


def random_positions(n: int, seed: int = 0, min_moves: int = 0):
    """Decision positions (dice rolled) met in random self-play, at least ``min_moves`` turns in."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        s, turn = BG.new_initial_state(), 0
        while not s.is_terminal() and len(out) < n:
            if s.is_chance_node():
                s.apply_random_chance(rng)
                continue
            if turn >= min_moves:
                out.append(s.clone())
            s.apply_action(rng.choice(s.legal_actions()))
            turn += 1
    return out


def test_equity_and_the_other_players_view():
    p = np.array([0.6, 0.2, 0.05, 0.1, 0.01])
    assert equity(p) == pytest.approx(2 * 0.6 - 1 + 0.2 - 0.1 + 0.05 - 0.01)
    q = flip_probs(p)
    assert q.tolist() == pytest.approx([0.4, 0.1, 0.01, 0.2, 0.05])  # win' = 1 - win, wg' = lg, ...
    assert flip_probs(q).tolist() == pytest.approx(p.tolist()) and equity(q) == pytest.approx(-equity(p))
    # a certain backgammon is worth 3 points, its mirror -3; one output: 2 p - 1
    assert equity(np.array([1.0, 1, 1, 0, 0])) == 3 and equity(flip_probs(np.array([1.0, 1, 1, 0, 0]))) == -3
    assert equity(np.array([0.75])) == pytest.approx(0.5)


def test_td_learns_each_output_toward_the_result_from_each_side():
    """X bears off five checkers from its 1-point while O's fifteen are far from home: every game is a gammon
    for X, never a backgammon (O never enters X's home board). TD(lambda) pulls X's afterstates toward
    (1, 1, 0, 0, 0) and O's toward the mirror (0, 0, 0, 1, 0): each output its own way."""
    agent = TDAgent("backgammon", hidden=6, lr=0.5, lam=0.7, seed=3, outputs=5)
    # an afterstate of X's (mover's view) and one of O's from this kind of game
    feats = [agent.afterstates(position({1: 4}, {12: 15}, player=p, dice=(2, 1)))[0][:1] for p in (0, 1)]
    before = [agent.net.values(f)[0] for f in feats]
    for _ in range(12):
        winner, err, moves = agent.train_episode(position({1: 5}, {12: 15}, player=0))
        assert winner == 0 and moves >= 3 and err > 0
    up_x, up_o = (agent.net.values(f)[0] - b for f, b in zip(feats, before, strict=True))
    assert (np.sign(up_x) == [1, 1, -1, -1, -1]).all(), up_x  # the winner's view: win, win gammon up
    assert (np.sign(up_o) == [-1, -1, -1, 1, -1]).all(), up_o  # the loser's view: lose gammon up
    assert agent.games_trained == 12


def test_save_load_round_trip_and_damaged_files(tmp_path):
    agent = TDAgent("backgammon", hidden=5, seed=1, outputs=5)
    agent.plies = 2
    agent.save(tmp_path / "a.safetensors")
    back = load_agent(tmp_path / "a.safetensors", "backgammon")
    assert isinstance(back, TDAgent) and back.outputs == 5 and back.plies == 2
    for p, q in zip(agent.net.params(), back.net.params(), strict=True):
        assert p.shape == q.shape and np.allclose(p, q, atol=1e-6)  # saved as float32
    header, arrays = read_agent_file(tmp_path / "a.safetensors")
    assert header["outputs"] == 5
    for bad_header, bad_arrays, words in (
            ({**header, "outputs": 1}, arrays, "w2 has shape"),  # 5-output tensors under a 1-output header
            ({**header, "outputs": 3}, arrays, "3 outputs"),
            (header, {**arrays, "b2": np.zeros(1)}, "b2 has shape")):
        save_tensor_agent(tmp_path / "bad.safetensors", bad_header, bad_arrays)
        with pytest.raises(UserError, match=words):
            load_agent(tmp_path / "bad.safetensors", "backgammon")
    with pytest.raises(UserError, match="5 \\(backgammon"):
        TDAgent("connect4", outputs=5)


def test_warm_start_keeps_the_win_head_and_two_ply_gives_probabilities():
    old = make_agent("default:1ply", "backgammon")
    if old.outputs != 1:  # the shipped agent is already a gammon network: widen a 1-output one instead
        old = TDAgent("backgammon", hidden=8, seed=2)
    new = with_gammons(old)
    s = BG.new_initial_state()
    s.set_dice(6, 4)
    s.first = False
    x, p1 = old.afterstate_probs(s)
    assert np.allclose(new.net.values(x)[:, 0], p1[:, 0])  # P(win) unchanged by the warm start
    new.plies = 2
    values, details = new.move_details(s)
    assert len(values) == new.two_ply_candidates
    for a, d in details.items():
        probs = np.array([d[k] for k in ("win", "win_gammon", "win_backgammon", "lose_gammon", "lose_backgammon")])
        assert ((probs >= 0) & (probs <= 1)).all() and d["equity"] == pytest.approx(equity(probs))
        assert values[a] == pytest.approx(d["equity"])
    assert new.step(s) in values  # 2-ply plays one of the moves it examined
    result = analyse(new, s)
    assert result.details == details and "probs" in result.top(s, 1)[0]


def test_gnubg_moves_are_legal_turns_and_gnubg_beats_random():
    agent = GnubgAgent()
    for s in random_positions(300, seed=4):
        a = agent.step(s)
        assert 0 <= a < len(s.legal_actions())
    r = evaluate(BG, make_agent("gnubg", "backgammon"), make_agent("random", "backgammon"), 4, seed=1)
    assert r["a_wins"] == 4 and r["a_points"] >= 1.0
    assert r["a_gammons"] + r["a_backgammons"] <= 4 and r["b_gammons"] == r["b_backgammons"] == 0
    # points are the sum of what each game was worth: 1 + gammons + 2 * backgammons for four wins
    assert r["a_points"] * 4 == pytest.approx(4 + r["a_gammons"] + 2 * r["a_backgammons"])
    lo, hi = r["a_points_ci95"]
    assert lo <= r["a_points"] <= hi


def test_net_probabilities_follow_gnubgs():
    """The shipped network's P(win) (and gammons) of afterstates met in gnubg's own games against gnubg's."""
    net, judge, rng = make_agent("default:1ply", "backgammon"), GnubgAgent(), random.Random(7)
    ours, theirs = [], []
    while len(ours) < 60:
        s = BG.new_initial_state()
        while not s.is_terminal():
            if s.is_chance_node():
                s.apply_random_chance(rng)
                continue
            if rng.random() < 0.3:
                _, p = net.afterstate_probs(s)
                ours.append(p[0])
                theirs.append(afterstate_probabilities(*s.legal_turns()[0][1:]))
            s.apply_action(judge.step(s))
    ours, theirs = np.array(ours), np.array(theirs)
    assert np.corrcoef(ours[:, 0], theirs[:, 0])[0, 1] > 0.85
    if net.outputs == 5:  # the shipped gammon network: P(win a gammon), P(lose a gammon) follow gnubg's too
        for k in (1, 3):
            assert np.corrcoef(ours[:, k], theirs[:, k])[0, 1] > 0.7


def test_eval_cli_prints_points_and_refuses_bad_agents(txe):
    code, out, _ = txe("rl", "eval", "--game", "backgammon", "--a", "gnubg", "--b", "pubeval", "--games", "4")
    assert code == 0 and "points per game" in out and "gammons" in out
    code, out, _ = txe("rl", "eval", "--json", "--game", "backgammon", "--a", "gnubg", "--b", "pubeval",
                       "--games", "2")
    r = json.loads(out)
    assert code == 0 and {"a_points", "a_points_ci95", "a_gammons", "b_backgammons"} <= set(r)
    for bad in ("gnubg:9ply", "gnubgx", "gnubg:2ply"):
        code, _, err = txe("rl", "eval", "--game", "backgammon", "--a", bad, "--b", "pubeval", "--games", "2")
        assert code == 2 and err.strip() and len(err.strip().splitlines()) == 1
    code, _, err = txe("rl", "eval", "--game", "connect4", "--a", "gnubg", "--b", "random", "--games", "2")
    assert code == 2 and "connect4" in err


def test_two_ply_with_gammons_is_the_expectation_over_the_opponents_rolls():
    """The batched 21-roll look-ahead against the game API: each roll, the opponent's best reply by its
    equity, its five probabilities seen from the mover."""
    agent = TDAgent("backgammon", hidden=8, seed=5, outputs=5)
    agent.net.w2 *= 20  # outputs that differ from move to move
    s = BG.new_initial_state()
    s.apply_action(7)  # an opening roll
    _, one_ply = agent.afterstate_probs(s)
    agent.plies = 2
    two_ply, score, examined = agent.move_estimates(s)
    assert examined.sum() == agent.two_ply_candidates
    for i in np.flatnonzero(examined):
        after = s.clone()
        after.apply_action(s.legal_actions()[i])
        expected = np.zeros(5)
        for outcome, prob in after.chance_outcomes():
            rolled = after.clone()
            rolled.apply_action(outcome)
            _, q = agent.afterstate_probs(rolled)
            expected += prob * flip_probs(q[int(np.argmax(equity(q)))])
        assert two_ply[i] == pytest.approx(expected, abs=1e-9) and score[i] == pytest.approx(equity(expected))
    assert (score[~examined] < score[examined].min()).all()
    assert set(np.argsort(-equity(one_ply))[:4]) == set(np.flatnonzero(examined))


def test_train_warm_starts_a_gammon_network_and_resumes_it(tmp_path):
    from engine.rl.train import train

    init = TDAgent("backgammon", hidden=6, seed=1)
    init.games_trained = 100
    init.save(tmp_path / "init.safetensors")
    out = tmp_path / "run"
    s = list(train("backgammon", "td", games=2, out=out, outputs=5, init=str(tmp_path / "init.safetensors"),
                   eval_every=10, eval_games=2, lr=0.05))
    agent = load_agent(out / "agent.safetensors", "backgammon")
    assert agent.outputs == 5 and agent.hidden == 6 and agent.games_trained == 102 and agent.lr == 0.05
    assert {"random", "pubeval", "gnubg"} <= set(s[-1].summary["final_eval"])
    assert "points" in s[-1].summary["final_eval"]["gnubg"]
    list(train("backgammon", "td", games=1, out=out, resume=True, eval_every=10, eval_games=2))
    assert load_agent(out / "agent.safetensors", "backgammon").outputs == 5
    with pytest.raises(UserError, match="not a TD agent"):
        list(train("backgammon", "td", games=1, out=tmp_path / "x", outputs=5, init="pubeval"))
