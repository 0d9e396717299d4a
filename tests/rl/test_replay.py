"""engine.rl.replay and ``txe rl record | replay``: game records, and the review that marks blunders."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from engine.errors import UserError
from engine.rl.agents.base import RandomAgent
from engine.rl.agents.pubeval import PubEvalAgent
from engine.rl.agents.search import PerfectTicTacToe
from engine.rl.game import get_game
from engine.rl.replay import analyse_game, load_record, record_from_state, summarise
from engine.tasks import Cancelled, CancelToken


def tictactoe_game(opening: list[int], then: list[int] | None = None):
    """X and O play ``opening`` (cells 0..8), then perfect play to the end (``then`` first if given)."""
    state = get_game("tictactoe").new_initial_state()
    for a in opening + (then or []):
        state.apply_action(a)
    perfect = PerfectTicTacToe(0)
    while not state.is_terminal():
        state.apply_action(perfect.step(state))
    return state


def test_record_round_trip_and_replay(tmp_path):
    final = tictactoe_game([4, 1])
    rec = record_from_state(final, ("you", "perfect"), source="play")
    assert [m.action for m in rec.moves] == final.history and rec.moves[0].text == "5"
    assert rec.returns == [1.0, -1.0] and rec.result_text() == "you won"
    path = rec.save(tmp_path / "game.json")
    back = load_record(path)
    assert back.to_dict() == rec.to_dict() and back.final_state().to_json() == final.to_json()
    assert [s.to_json() for s, _ in back.states()][0] == get_game("tictactoe").new_initial_state().to_json()


def test_backgammon_record_with_dice_replays_to_the_same_position(tmp_path):
    rng = random.Random(5)
    agents = (RandomAgent(1), RandomAgent(2))
    state = get_game("backgammon").new_initial_state()
    while not state.is_terminal():
        if state.is_chance_node():
            state.apply_random_chance(rng)
        else:
            state.apply_action(agents[state.current_player()].step(state))
    rec = record_from_state(state, ("A", "B"))
    rolls = [m for m in rec.moves if m.player == -1]
    assert "starts with" in rolls[0].text and rolls[1].text.startswith("roll ")
    back = load_record(rec.save(tmp_path / "bg.json"))
    assert back.final_state().to_dict() == state.to_dict() and back.returns == state.returns()
    # the review keeps the dice with the move and has pubeval's (unbounded) values: no blunders on its scale
    reviews = list(itertools.islice(analyse_game(back, PubEvalAgent(0)), 3))
    assert [r.ply for r in reviews] == [1, 2, 3] and all("-" in r.dice for r in reviews)
    assert all(not r.bounded and not r.blunder and r.value_lost is not None and r.value_lost >= 0 for r in reviews)
    assert reviews[0].index == 1 and len(reviews[0].values) == len(next(itertools.islice(back.states(), 1, 2))[0]
                                                                   .legal_actions())


def _damage(data: dict, how: str) -> dict:
    d = json.loads(json.dumps(data))
    if how == "format":
        d["format"] = "txe-agent"
    elif how == "version":
        d["version"] = 7
    elif how == "game":
        d["game"] = "chess"
    elif how == "players":
        d["players"] = ["one"]
    elif how == "illegal":
        d["moves"][1]["action"] = d["moves"][0]["action"]
    elif how == "text":
        d["moves"][0]["text"] = "9"
    elif how == "player":
        d["moves"][0]["player"] = 1
    elif how == "unfinished":
        d["moves"] = d["moves"][:-1]
    elif how == "result":
        d["result"]["returns"] = [0.0, 0.0]
    elif how == "start":
        d["start"] = {"board": [5] * 9}
    return d


@pytest.mark.parametrize("how", ["format", "version", "game", "players", "illegal", "text", "player", "unfinished",
                                 "result", "start"])
def test_damaged_or_foreign_records_are_refused(tmp_path, how):
    data = record_from_state(tictactoe_game([4, 1]), ("a", "b")).to_dict()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_damage(data, how)))
    with pytest.raises(UserError) as e:
        load_record(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_unreadable_files_are_refused(tmp_path):
    cases = {"empty.json": b"", "text.json": b"not json", "nested.json": b"[" * 100_000,
             "binary.json": b"\x00\x01\x02", "huge.json": b" " * (4 * 2**20 + 1), "list.json": b"[1, 2]"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError):
            load_record(tmp_path / name)
    for path in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(UserError):
            load_record(path)


def test_perfect_review_flags_the_losing_reply_and_not_the_perfect_move():
    # X takes the centre (perfect: a draw either way), O answers on an edge: that reply loses (X wins)
    rec = record_from_state(tictactoe_game([4, 1]), ("X", "O"))
    reviews = list(analyse_game(rec, PerfectTicTacToe(0)))
    assert len(reviews) == rec.player_moves()
    first, reply = reviews[0], reviews[1]
    assert first.value_lost == 0 and not first.disagreed and not first.blunder and first.wp_after == 0.5
    assert reply.blunder and reply.disagreed and reply.value_lost >= 1
    assert reply.played_value == -1 and reply.best_value == 0 and reply.best in (0, 2, 6, 8)
    assert reply.wp_before == 0.5 and reply.wp_after == 1.0  # P(X wins) jumps to certain
    assert not any(r.blunder for r in reviews[2:])  # perfect play from there on
    summary = summarise(rec, reviews, "perfect", 0.2)
    assert summary["per_player"][1]["blunders"] == 1 and summary["per_player"][0]["blunders"] == 0
    # X then throws the won game away: a move that turns +1 into a draw or a loss loses at least 1
    state = get_game("tictactoe").new_initial_state()
    for a in (4, 1):
        state.apply_action(a)
    values = PerfectTicTacToe(0).action_values(state)
    throw = next(a for a, v in values.items() if v < 1)
    rec2 = record_from_state(tictactoe_game([4, 1], [throw]), ("X", "O"))
    r = list(itertools.islice(analyse_game(rec2, PerfectTicTacToe(0), threshold=0.5), 3))[2]
    assert r.action == throw and r.blunder and r.value_lost >= 1 and r.best_value == 1


def test_review_is_cancellable_and_checks_its_threshold():
    rec = record_from_state(tictactoe_game([4, 1]), ("X", "O"))
    token = CancelToken()
    gen = analyse_game(rec, PerfectTicTacToe(0), token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)
    with pytest.raises(UserError):
        next(analyse_game(rec, PerfectTicTacToe(0), threshold=0))


def test_search_agent_prices_a_move_it_never_tried():
    from engine.rl.agents.search import MCTSAgent

    rec = record_from_state(tictactoe_game([4, 1]), ("X", "O"))
    reviews = list(itertools.islice(analyse_game(rec, MCTSAgent(60, seed=0)), 2))
    assert all(r.played_value is not None and -1 <= r.played_value <= 1 for r in reviews)
    assert reviews[1].visits and reviews[1].best == max(reviews[1].visits, key=reviews[1].visits.get)


def test_cli_record_and_replay(txe, tmp_path):
    out = tmp_path / "game.json"
    code, stdout, err = txe("rl", "record", "--game", "tictactoe", "--a", "random", "--b", "perfect", "--seed", "3",
                            "--out", str(out), "--json")
    data = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and data["moves"] >= 5 and out.exists(), err
    code, stdout, _ = txe("rl", "replay", str(out), "--agent", "perfect", "--json")
    data = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and len(data["reviews"]) == data["moves"] and data["agent"] == "perfect"
    assert sum(p["blunders"] for p in data["per_player"]) == sum(r["blunder"] for r in data["reviews"])
    code, stdout, _ = txe("rl", "replay", str(out), "--agent", "perfect", "--threshold", "0.5")
    assert code == 0 and "reviewed by perfect" in stdout.lower() and "mean value lost" in stdout
    (tmp_path / "bad.json").write_text('{"format": "txe-game", "version": 1, "game": "tictactoe"}')
    for bad in (["replay", str(tmp_path / "missing.json")], ["replay", str(tmp_path / "bad.json")],
                ["replay", str(out), "--agent", "alphabeta:2"], ["replay", str(out), "--agent", "nonsense"],
                ["replay", str(out), "--threshold", "0"],
                ["record", "--game", "tictactoe", "--a", "random", "--b", "random", "--out", str(tmp_path)],
                ["record", "--game", "connect4", "--a", "perfect", "--b", "random", "--out", str(out)]):
        code, _, err = txe("rl", *bad)
        assert code == 2 and len(err.strip().splitlines()) == 1, (bad, err)


def test_a_game_from_a_set_up_position_keeps_its_start(tmp_path):
    from engine.rl.backgammon import position

    start = position({1: 2, 2: 2}, {1: 1, 3: 2}, player=0, dice=(6, 1))  # a bear-off race, White to play 6-1
    state, rng, agents = start.clone(), random.Random(2), (RandomAgent(3), RandomAgent(4))
    while not state.is_terminal():
        if state.is_chance_node():
            state.apply_random_chance(rng)
        else:
            state.apply_action(agents[state.current_player()].step(state))
    rec = record_from_state(state, ("W", "B"), start=start)
    assert rec.start is not None and rec.start["dice"] == [6, 1] and rec.moves[0].player == 0
    back = load_record(rec.save(tmp_path / "race.json"))
    assert back.initial_state().to_dict() == start.to_dict() and back.final_state().to_dict() == state.to_dict()
    with pytest.raises(UserError):  # a final position that did not come from that start
        record_from_state(tictactoe_game([4, 1]), ("a", "b"), start=tictactoe_game([0, 1]))
