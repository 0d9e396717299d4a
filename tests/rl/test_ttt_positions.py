"""Every tic-tac-toe position with the tabular agent's values: enumeration, exact values, update counts,
the flaws of a table (a greedy tie between a losing and a drawing move) and ``txe rl positions``."""

from __future__ import annotations

import json

import pytest

from engine.errors import UserError
from engine.rl.agents.search import PerfectTicTacToe
from engine.rl.agents.tabular import TabularAgent
from engine.rl.registry import ASSETS, load_agent, make_agent
from engine.rl.ttt_positions import PositionTable, describe_position, state_of

SHIPPED_FLAWS = ["...OOXXX.", "XO.O.X.X."]  # found by this module (docs/benchmarks.md)


@pytest.fixture(scope="module")
def shipped() -> PositionTable:
    return PositionTable(make_agent("default", "tictactoe"))


def test_every_position_is_enumerated_once(shipped):
    s = shipped.summary()
    assert (s["positions"], s["terminal"], s["non_terminal"]) == (5478, 958, 4520)
    start = shipped["........."]
    assert start.depth == 0 and start.mover == 0 and len(start.moves) == 9 and start.path == ()
    for p in list(shipped.positions.values())[::97]:  # each path really leads to its position
        s = state_of(".........")
        for a in p.path:
            s.apply_action(a)
        assert s.key() == p.key and len(p.path) == p.depth


def test_minimax_of_each_move_agrees_with_the_perfect_player(shipped):
    perfect = PerfectTicTacToe(seed=0)
    for p in shipped.positions.values():
        if p.terminal:
            assert not p.moves
            continue
        values = perfect.action_values(state_of(p.key))
        assert {m.action: m.minimax for m in p.moves} == values
        assert p.value == max(values.values())
    assert shipped["........."].value == 0.0  # tic-tac-toe is a draw


def test_training_counts_every_update_and_saving_keeps_them(tmp_path):
    agent = TabularAgent("q", seed=3)
    moves = 0
    for _ in range(300):
        agent.train_episode(0.5)
    for key, row in agent.counts.items():
        assert key in agent.q and all(n >= 0 for n in row)
        moves += sum(row)
    # one update per move played: 300 games of 5 to 9 moves
    assert 1500 <= moves <= 2700 and agent.counts["........."] and sum(agent.counts["........."]) == 300
    path = tmp_path / "agent.json"
    agent.save(path)
    again = load_agent(path, "tictactoe")
    assert again.counts == agent.counts and again.q == agent.q
    assert again.update_counts("XXXOOO...") == [0] * 9  # a position never seen: nothing updated


def test_a_table_saved_without_counts_still_loads(tmp_path):
    agent = TabularAgent("sarsa", seed=1)
    for _ in range(50):
        agent.train_episode(1.0)
    path = tmp_path / "old.json"
    agent.save(path)
    data = json.loads(path.read_text())
    del data["counts"]
    path.write_text(json.dumps(data))
    old = load_agent(path, "tictactoe")
    assert old.counts is None and old.update_counts(".........") is None and old.q == agent.q
    s = PositionTable(old).summary()
    assert not s["counts_known"] and s["never_updated_entries"] is None and s["positions"] == 5478
    old.train_episode(0.1)  # training further cannot make up the counts it never had
    assert old.counts is None


def test_damaged_counts_are_refused(tmp_path):
    agent = TabularAgent()
    agent.train_episode(1.0)
    path = tmp_path / "bad.json"
    agent.save(path)
    data = json.loads(path.read_text())
    data["counts"]["........."] = [1, 2, 3]
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="update counts"):
        load_agent(path, "tictactoe")


def test_a_tie_between_a_losing_and_a_drawing_move_is_flawed():
    # O to move; X threatens 7-8-9, so only 9 draws. The table holds Q = 0 for 1 (loses) and 9 (draws).
    key = "...OOXXX."
    agent = TabularAgent()
    agent.q[key] = [0.0, -0.8, -0.5, 0, 0, 0, 0, 0, 0.0]
    agent.counts = {key: [0, 4, 4, 0, 0, 0, 0, 0, 6]}
    table = PositionTable(agent)
    p = table[key]
    assert p.mover == 1 and p.value == 0.0 and p.flawed and p.tie_lost == 1.0
    assert [m.action for m in p.moves if m.top] == [0, 8] and p.never_updated == [0]
    # the agent breaks the tie toward the updated move: flawed, but it does not throw the draw
    assert [m.action for m in p.moves if m.greedy] == [8] and not p.can_throw and p.value_lost == 0.0
    assert {agent.step(state_of(key)) for _ in range(20)} == {8}
    assert key in [f.key for f in table.flawed()]
    text = describe_position(p)
    lines = text.splitlines()
    assert lines[0] == ". . .    O to move, draw with perfect play; on the agent's path"  # every Q else is 0
    assert lines[1].startswith("O O X    depth 5, reached by") and lines[2] == "X X ."
    assert "would throw a draw; not played" in text and "never updated" in text
    agent.counts[key][0] = 6  # counts that cannot break the tie: the agent may throw the draw
    p = PositionTable(agent)[key]
    assert p.can_throw and p.value_lost == 1.0 and [m.action for m in p.moves if m.greedy] == [0, 8]
    assert "throws a draw" in describe_position(p)
    agent.q[key][8] = 0.2  # the drawing move now stands alone
    assert not PositionTable(agent)[key].flawed


def test_the_shipped_agent_has_two_flaws_off_its_own_path(shipped):
    s = shipped.summary()
    assert s["counts_known"] and s["in_table"] == 4520
    assert s["never_updated_entries"] == 38 and s["top_never_updated"] == 0
    flawed = shipped.flawed()
    assert [p.key for p in flawed] == SHIPPED_FLAWS
    assert all(not p.on_path and p.mover == 1 and p.tie_lost == 1.0 for p in flawed)
    assert (s["flawed"], s["flawed_on_path"], s["flawed_off_path"], s["can_throw"]) == (2, 0, 2, 0)
    # the losing moves of top Q were updated, but on a successor value not learned yet, and less often than
    # the drawing move they tie with, so the agent plays the draw
    losing = [m for p in flawed for m in p.moves if m.top and m.minimax < 0]
    drawing = [m for p in flawed for m in p.moves if m.greedy]
    assert [m.action for m in losing] == [0, 6] and all(m.count and m.target < -0.5 for m in losing)
    # and so it does, by itself and as the Arena asks it (engine.rl.play.think)
    from engine.rl.play import AgentPool, think

    pool = AgentPool()
    for key in SHIPPED_FLAWS:
        assert {think(pool, "tictactoe", "default", state_of(key), 0)["choice"] for _ in range(12)} == {8}
        assert {shipped.agent.step(state_of(key)) for _ in range(12)} == {8}
    assert [m.action for m in drawing] == [8, 8] and all(
        d.count > m.count for d, m in zip(drawing, losing, strict=True))


def test_cli_lists_the_flawed_positions_and_refuses_bad_agents(txe, tmp_path):
    code, out, _ = txe("rl", "positions", "--agent", "default", "--flawed")
    assert code == 0 and "2 flawed positions" in out and "the agent can throw there in 0" in out
    assert ". . .    O to move" in out and out.count("would throw a draw") == 2
    code, out, _ = txe("rl", "positions", "--flawed", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and [p["board"] for p in result["positions"]] == SHIPPED_FLAWS
    assert result["summary"]["non_terminal"] == 4520
    code, _, err = txe("rl", "positions", "--agent", str(ASSETS / "connect4.safetensors"))
    assert code == 2 and "not a tictactoe" in err and len(err.strip().splitlines()) == 1
    code, _, err = txe("rl", "positions", "--agent", "perfect")
    assert code == 2 and "tabular" in err
    damaged = tmp_path / "damaged.json"
    damaged.write_text((ASSETS / "tictactoe.json").read_text()[:5000])
    code, _, err = txe("rl", "positions", "--agent", str(damaged))
    assert code == 2 and "damaged" in err
