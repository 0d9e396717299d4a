"""The search inspector's engine: stepping is the agents' own search, snapshots obey the formulas and bounds."""

import json
import math

import pytest

from engine.rl.connect4 import ConnectFourState
from engine.rl.registry import make_agent
from engine.rl.search_trace import MAX_NODES, SearchSession, describe_step, root_rows
from engine.rl.tictactoe import TicTacToeState
from engine.tasks import Cancelled, CancelToken


def c4(*moves: int) -> ConnectFourState:
    s = ConnectFourState()
    for a in moves:
        s.apply_action(a)
    return s


@pytest.mark.parametrize(("spec", "state", "sims"), [
    ("mcts:300", c4(3, 3, 4), 300), ("mcts:200", TicTacToeState(), 200), ("default", c4(3, 3), 150)])
def test_stepping_and_advancing_give_the_agents_own_visits(spec, state, sims):
    game = state.game_name
    own = make_agent(spec, game, seed=7)
    expected = own.search(state, sims) if spec == "default" else own.search(state)
    session = SearchSession(make_agent(spec, game, seed=7), state)
    steps = [session.step() for _ in range(25)]  # traced and untraced simulations interleave
    session.advance(sims - 25)
    assert session.sims == sims and session.visits() == expected
    # every traced simulation went one level deeper than it selected, or stopped at a finished game
    for st in steps:
        assert len(st.backup) == len(st.path) + 1 and st.backup[-1] == st.value
        assert st.kind in ("playout", "network", "terminal", "solver")
        assert all(a == -b for a, b in zip(st.backup, st.backup[1:], strict=False)) or st.value == 0.0
    first = steps[0]
    assert first.path and first.expanded  # the first simulation adds (UCT) or expands (PUCT) a root child


def test_snapshot_scores_follow_the_formulas_and_the_next_selection():
    state = c4(3, 3, 4)
    for spec in ("mcts:1", "default"):
        session = SearchSession(make_agent(spec, "connect4", seed=1), state)
        session.advance(400)
        snap = session.snapshot(top_k=3, depth=3)
        nodes = snap["nodes"]
        root = nodes[0]
        assert root["n"] == 400 == sum(r["n"] for r in root_rows(snap))
        c = snap["c"]
        for nd in nodes[1:]:
            parent = nodes[nd["parent"]]
            if snap["kind"] == "uct":
                want = nd["w"] / nd["n"] + c * math.sqrt(math.log(parent["n"]) / nd["n"])
                assert nd["q"] == pytest.approx(2 * nd["w"] / nd["n"] - 1) and nd["p"] is None
            else:
                q = nd["w"] / nd["n"] if nd["n"] else 0.0
                want = q + c * nd["p"] * math.sqrt(parent["n"] + 1) / (1 + nd["n"])
                assert 0.0 <= nd["p"] <= 1.0
            assert nd["score"] == pytest.approx(want)
            assert nd["path"][:-1] == parent["path"] and nd["mover"] != parent["mover"]
        # the next simulation selects the root child with the highest score (UCT: all children exist)
        best = max(root_rows(snap), key=lambda r: r["score"])
        assert session.step().path[0] == best["path"][0]


def test_snapshot_is_bounded_keeps_the_included_path_and_is_json():
    session = SearchSession(make_agent("mcts:1", "connect4", seed=2), c4())
    session.advance(2000)
    big = session.snapshot(top_k=9, depth=12, max_nodes=10_000)
    assert len(big["nodes"]) == MAX_NODES
    st = session.step()
    small = session.snapshot(top_k=1, depth=1, include=st.path)
    paths = [tuple(n["path"]) for n in small["nodes"]]
    assert all(st.path[:i] in paths for i in range(len(st.path) + 1))
    assert len(small["nodes"]) <= 1 + 7 + len(st.path)
    json.dumps(small)
    board = session.position(st.path)
    assert board.history == list(st.path)
    lines = [describe_step(st, ph, [str(a + 1) for a in st.path]) for ph in ("select", "expand", "evaluate",
                                                                               "back up")]
    assert lines[0].startswith("Select") and lines[3].startswith("Back up") and "playout" in lines[2]


def test_advance_reports_snapshots_and_stops_when_cancelled():
    session = SearchSession(make_agent("mcts:1", "connect4", seed=3), c4())
    got = []
    session.advance(100, report=got.append, every=0.0)
    assert [g["sims"] for g in got] == [16, 32, 48, 64, 80, 96, 100]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        session.advance(1000, token=token)
    assert session.sims == 116  # one chunk, then the cancel is seen


def test_cli_search_prints_the_root_and_json_tree(txe):
    code, out, _ = txe("rl", "search", "--game", "connect4", "--agent", "mcts:50", "--sims", "300",
                       "--moves", "4,4,5", "--json")
    assert code == 0
    res = json.loads(out.splitlines()[-1])
    assert res["sims"] == 300 and res["search"] == "uct" and sum(r["n"] for r in res["children"]) == 300
    assert res["tree"][0]["move"] == "root" and res["choice"] in {r["move"] for r in res["children"]}
    code, out, _ = txe("rl", "search", "--game", "tictactoe", "--agent", "mcts:20")
    assert code == 0 and "score = W/N + c sqrt(ln N_parent / N)" in out and "plays " in out


@pytest.mark.parametrize(("args", "message"), [
    (("--game", "connect4", "--agent", "random"), "does not search a tree"),
    (("--game", "tictactoe", "--agent", "mcts:5", "--moves", "1,2,3,4,5,6,7"), "game is over"),
])
def test_cli_search_refuses_bad_input_in_one_line(txe, args, message):
    code, out, err = txe("rl", "search", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
