"""Strength over training: checkpoints kept by train(), the Bradley-Terry fit, the round robin and
``txe rl ladder``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import UserError
from engine.events import Finished, Progress, Snapshot, Started
from engine.rl.control import CancelToken
from engine.rl.ladder import (
    ELO_PER_NAT,
    Player,
    bradley_terry,
    ladder,
    load_ladder,
    pair_order,
    run_players,
    spread,
)
from engine.rl.train import checkpoint_path, list_checkpoints, run_evaluations, train


def expected(elo_i: float, elo_j: float) -> float:
    return 1.0 / (1.0 + 10 ** (-(elo_i - elo_j) / 400))


def sample(true: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = len(true)
    s, g = np.zeros((k, k)), np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            w = rng.binomial(n, expected(true[i], true[j]))
            s[i, j], s[j, i], g[i, j], g[j, i] = w, n - w, n, n
    return s, g


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real tic-tac-toe Q-learning run: 3,000 games, a checkpoint every 1,500."""
    out = tmp_path_factory.mktemp("ladder") / "ttt-q"
    list(train("tictactoe", "q", games=3000, out=out, eval_every=1500, eval_games=2, seed=0))
    return out


# --- the fit -------------------------------------------------------------------------------------

def test_expected_scores_give_back_the_true_ratings():
    true = np.array([0.0, 200.0, 400.0])
    n = 1000
    s = np.array([[0 if i == j else n * expected(true[i], true[j]) for j in range(3)] for i in range(3)])
    g = n * (1 - np.eye(3))
    r = bradley_terry(s, g, ["a", "b", "c"], "a")
    assert r.elo == pytest.approx(true, abs=1.0)  # the weak prior moves nothing the games pin down
    assert r.anchor == "a" and r.lo[0] == r.hi[0] == 0.0
    # the observed information of a pair at 200 Elo apart, n games: 1/(n p (1-p)) in beta units
    assert 40 < r.hi[1] - r.lo[1] < 80 and ELO_PER_NAT == pytest.approx(173.7178, abs=1e-3)


def test_sampled_round_robins_are_recovered_and_the_intervals_cover():
    rng = np.random.default_rng(7)
    true = np.array([0.0, 150.0, 400.0])
    covered, errors = 0, []
    for _ in range(120):
        s, g = sample(true, 100, rng)
        r = bradley_terry(s, g, ["random", "mid", "top"], "random")
        covered += int(np.all((r.lo[1:] <= true[1:]) & (true[1:] <= r.hi[1:])))
        errors.append(r.elo - true)
    assert np.abs(np.mean(errors, axis=0)).max() < 15  # unbiased (within the noise of 120 fits)
    assert 0.85 <= covered / 120 <= 1.0  # each interval is 95%; both at once about 90%+


def test_anchoring_moves_the_zero_not_the_differences():
    s, g = sample(np.array([0.0, 300.0, -100.0]), 200, np.random.default_rng(1))
    a = bradley_terry(s, g, ["x", "y", "z"], "x")
    b = bradley_terry(s, g, ["x", "y", "z"], "z")
    assert b.elo[2] == 0 and (a.elo - a.elo[2]) == pytest.approx(b.elo, abs=1e-6)
    assert b.hi[0] - b.lo[0] > 0 and b.anchor == "z"


def test_draws_count_as_half_a_win():
    g = np.array([[0, 10], [10, 0]], dtype=float)
    draws = bradley_terry(np.array([[0, 5.0], [5.0, 0]]), g, ["a", "b"])  # 10 draws = 5 wins and 5 losses
    assert draws.elo == pytest.approx([0.0, 0.0], abs=1e-6)
    mostly = bradley_terry(np.array([[0, 7.5], [2.5, 0]]), g, ["a", "b"], "b")  # 5 wins, 5 draws: 3 to 1
    assert mostly.elo[0] == pytest.approx(400 * np.log10(3), abs=5)


def test_an_undefeated_player_stays_finite_with_a_wide_interval():
    r = bradley_terry(np.array([[0, 0.0], [20, 0]]), np.array([[0, 20], [20, 0.0]]), ["random", "best"])
    assert 400 < r.elo[1] < 2000 and np.isfinite(r.hi[1]) and r.hi[1] - r.lo[1] > 1000


def test_bad_matrices_are_refused():
    with pytest.raises(UserError, match="add up"):
        bradley_terry(np.array([[0, 3.0], [3.0, 0]]), np.array([[0, 4.0], [4.0, 0]]), ["a", "b"])
    with pytest.raises(UserError, match="anchor"):
        bradley_terry(np.zeros((2, 2)), np.zeros((2, 2)), ["a", "b"], "c")


def test_spread_and_pair_order():
    assert spread(list(range(10)), 4) == [0, 3, 6, 9] and spread([1, 2], 5) == [1, 2] and spread([1, 2, 3], 1) == [3]
    players = [Player(f"p{i}", "random") for i in range(5)]
    pairs = pair_order(players, anchor=4)
    assert len(pairs) == 10 and len({frozenset(p) for p in pairs}) == 10
    assert all(4 in p for p in pairs[:4])  # everyone meets the anchor first: an early fit rates everyone


# --- checkpoints ---------------------------------------------------------------------------------

def test_train_keeps_a_checkpoint_at_every_evaluation_and_resume_keeps_them(tmp_path):
    list(train("tictactoe", "q", games=600, out=tmp_path, eval_every=200, eval_games=2))
    kept = list_checkpoints(tmp_path)
    assert [c.games for c in kept] == [200, 400, 600]
    assert kept[0].path == checkpoint_path(tmp_path, "agent.json", 200) == tmp_path / "checkpoints/agent-000000200.json"
    records = [json.loads(x) for x in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert [r.get("checkpoint") for r in records if r["kind"] == "eval"] == [
        f"checkpoints/agent-{n:09d}.json" for n in (200, 400, 600)]
    assert json.loads(kept[1].path.read_text())["games_trained"] == 400  # the agent as it was then
    assert [(e["games"], e["eval_games"]) for e in run_evaluations(tmp_path)] == [(200, 2), (400, 2), (600, 2)]
    (tmp_path / "checkpoints" / ".agent-000000800.json.123.tmp").write_text("half")  # an interrupted write
    list(train("tictactoe", "q", games=300, out=tmp_path, resume=True, eval_every=200, eval_games=2))
    assert [c.games for c in list_checkpoints(tmp_path)] == [200, 400, 600, 800, 900]
    list(train("tictactoe", "q", games=200, out=tmp_path, overwrite=True, eval_every=200, eval_games=2))
    assert [c.games for c in list_checkpoints(tmp_path)] == [200]  # a replaced run's checkpoints go with it


def test_a_long_run_thins_its_checkpoints(tmp_path):
    list(train("tictactoe", "q", games=700, out=tmp_path, eval_every=100, eval_games=1, keep_checkpoints=4))
    # 100..400, then 500 makes 5 > 4: every 200 from the first stays (100, 300, 500); 600 stays as the newest
    # until 700 comes (100, 300, 500, 700): evenly spread, the spacing doubled
    assert [c.games for c in list_checkpoints(tmp_path)] == [100, 300, 500, 700]


# --- the round robin -----------------------------------------------------------------------------

def test_ladder_of_a_real_run_puts_random_lowest_and_perfect_highest(run, tmp_path):
    players = run_players(run, "tictactoe")
    assert [p.label for p in players] == ["agent@1500", "agent@3000", "random", "perfect"]
    events = list(ladder("tictactoe", players, 20, out=tmp_path / "ladder.json", report_every_s=0.0))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished) and not events[-1].stopped
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert len(snaps) == 6 and snaps[-1].data.complete and not snaps[0].data.complete
    assert [e.step for e in events if isinstance(e, Progress)][-1] == 120
    result = events[-1].result
    elo = dict(zip(result.ratings.labels, result.ratings.elo, strict=True))
    assert elo["random"] == 0 and min(elo, key=elo.get) == "random" and max(elo, key=elo.get) == "perfect"
    assert result.games.sum() == 2 * 120 and np.allclose(result.score + result.score.T, result.games)
    saved = json.loads((tmp_path / "ladder.json").read_text())
    assert saved["anchor"] == "random" and saved["games_played"] == 120
    assert [r["games_trained"] for r in saved["players"]] == [1500, 3000, None, None]
    assert "perfect" in result.table().splitlines()[1]  # strongest first
    assert load_ladder(tmp_path / "ladder.json")["players"] == saved["players"]
    for damage in ('"elo": "high"', '"games_trained": -5', '"player": 3'):  # what a view would draw, refused
        key = damage.split(":")[0]
        text = (tmp_path / "ladder.json").read_text()
        bad = tmp_path / "bad.json"
        row = saved["players"][0]
        bad.write_text(text.replace(f'{key}: {json.dumps(row[key.strip(chr(34))])}', damage, 1))
        with pytest.raises(UserError, match="ladder"):
            load_ladder(bad)


def test_a_stopped_ladder_rates_the_games_played(run):
    token = CancelToken()
    events = []
    for e in ladder("tictactoe", run_players(run, "tictactoe", ["random"]), 10, token=token, report_every_s=0.0):
        events.append(e)
        if isinstance(e, Snapshot):
            token.cancel()
    done = events[-1]
    assert done.stopped and not done.result.complete and done.summary["games_played"] == 10


def test_players_are_checked_before_any_game(run, tmp_path):
    with pytest.raises(UserError, match="does not play tictactoe"):
        list(ladder("tictactoe", run_players(run, "tictactoe", ["random", "pubeval"]), 2))
    with pytest.raises(UserError, match="run of tictactoe, not connect4"):
        run_players(run, "connect4")
    with pytest.raises(UserError, match="no checkpoints"):
        run_players(tmp_path, "tictactoe")
    with pytest.raises(UserError, match="anchor"):
        list(ladder("tictactoe", run_players(run, "tictactoe"), 2, anchor="mcts:5"))


# --- the command line ----------------------------------------------------------------------------

def test_cli_ladder_prints_the_table_and_writes_json(run, txe, tmp_path):
    code, out, err = txe("rl", "ladder", "--game", "tictactoe", "--run", str(run), "--with", "random",
                         "--games-per-pair", "4", "--last", "1", "--out", str(tmp_path / "l.json"))
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["player", "trained", "Elo"] and "agent@3000" in out
    assert "agent@1500" not in out
    data = json.loads((tmp_path / "l.json").read_text())
    assert [p["player"] for p in data["players"]] == ["agent@3000", "random"] and data["games_played"] == 4
    code, out, _ = txe("rl", "ladder", "--game", "tictactoe", "--run", str(run), "--games-per-pair", "2", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["kind"] == "txe-ladder"
    assert (run / "ladder.json").exists()  # the default: beside the run's checkpoints


@pytest.mark.parametrize(("args", "message"), [
    (["--game", "connect4"], "run of tictactoe, not connect4"),
    (["--game", "tictactoe", "--with", "random,nonsense"], "Unknown agent 'nonsense'"),
    (["--game", "tictactoe", "--anchor", "perfect", "--with", "random"], "anchor 'perfect'"),
    (["--game", "tictactoe", "--run", "/nonexistent/run"], "No run folder"),
])
def test_cli_ladder_errors_exit_2_with_one_line(run, txe, args, message):
    full = ["rl", "ladder", "--games-per-pair", "2", *args]
    if "--run" not in args:
        full += ["--run", str(run)]
    code, out, err = txe(*full)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
