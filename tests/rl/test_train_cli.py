import json
import threading

import pytest

from engine.events import Evaluation, Finished, Progress, Saved
from engine.rl.control import CancelToken
from engine.rl.train import train


def test_train_yields_progress_eval_done_and_saves(tmp_path):
    stats = list(train("tictactoe", "q", games=3000, out=tmp_path, eval_every=1000, eval_games=20,
                       report_every_s=0.0))
    kinds = [type(s) for s in stats]
    assert kinds[-1] is Finished and Progress in kinds and kinds.count(Evaluation) == 3
    assert kinds.count(Saved) == 3 and stats[-1].result == str(tmp_path / "agent.json")
    prog = next(s for s in stats if isinstance(s, Progress))
    assert {"games", "games_per_s", "td_error", "epsilon"} <= set(prog.metrics) and prog.total == 3000
    ev = next(s.metrics for s in stats if isinstance(s, Evaluation))
    assert set(ev["random"]) == {"win", "draw", "loss", "score"} and "perfect" in ev
    assert (tmp_path / "agent.json").exists()
    lines = (tmp_path / "stats.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["games"] == 3000
    assert [json.loads(line)["kind"] for line in lines] == ["eval"] * 3 + ["done"]
    # the best agent against the strongest reference (perfect play) is kept beside the last one
    evals = [s.metrics for s in stats if isinstance(s, Evaluation)]
    best = max(e["perfect"]["score"] for e in evals)
    assert stats[-1].summary["best_score"] == {"perfect": best}
    assert (tmp_path / "best-agent.json").exists()


def test_evaluations_are_logged_as_they_happen(tmp_path):
    gen = train("tictactoe", "q", games=10**6, out=tmp_path, eval_every=500, eval_games=4, report_every_s=0.0)
    for s in gen:
        if isinstance(s, Evaluation) and s.metrics["games"] == 1000:
            break  # a run killed here has written its learning curve so far
    gen.close()
    lines = [json.loads(x) for x in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert [(x["kind"], x["games"]) for x in lines] == [("eval", 500), ("eval", 1000)]


def test_cancel_stops_and_resume_continues(tmp_path):
    token = CancelToken()
    gen = train("tictactoe", "sarsa", games=10**6, out=tmp_path, token=token, eval_every=500, eval_games=4,
                report_every_s=0.0)
    for s in gen:
        if isinstance(s, Progress) and s.metrics["games"] >= 700:
            token.cancel()
        if isinstance(s, Finished):
            done = s.summary
    assert done["stopped"] and done["games"] < 10**6
    again = list(train("tictactoe", "sarsa", games=100, out=tmp_path, resume=True, eval_every=1000,
                       eval_games=4))
    assert again[-1].summary["games"] == done["games"] + 100


def test_resume_takes_a_new_learning_rate(tmp_path):
    from engine.rl.registry import load_agent

    list(train("backgammon", "td", games=2, out=tmp_path, eval_every=10, eval_games=2, hidden=8, lr=0.1))
    assert load_agent(tmp_path / "agent.safetensors", "backgammon").lr == pytest.approx(0.1)
    list(train("backgammon", "td", games=2, out=tmp_path, resume=True, eval_every=10, eval_games=2, lr=0.02,
               lam=0.5))
    agent = load_agent(tmp_path / "agent.safetensors", "backgammon")
    assert agent.lr == pytest.approx(0.02) and agent.lam == pytest.approx(0.5) and agent.games_trained == 4
    assert agent.hidden == 8


def test_pause_blocks_until_resume(tmp_path):
    token = CancelToken()
    token.pause()
    out = []
    t = threading.Thread(target=lambda: out.extend(train("tictactoe", "q", games=50, token=token,
                                                         eval_every=1000, eval_games=2)))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not out  # paused before the first game
    token.resume()
    t.join(30)
    assert isinstance(out[-1], Finished) and out[-1].summary["games"] == 50


def test_td_and_selfplay_train_briefly(tmp_path):
    s = list(train("backgammon", "td", games=3, out=tmp_path / "bg", eval_every=10, eval_games=2,
                   hidden=8))
    assert s[-1].summary["games"] == 3 and (tmp_path / "bg" / "agent.safetensors").exists()
    s = list(train("connect4", "selfplay", games=2, out=tmp_path / "c4", eval_every=10, eval_games=2,
                   sims=8, hidden=16, eval_sims=8))
    assert s[-1].summary["games"] == 2


def test_cli_eval_json(txe):
    code, out, err = txe("rl", "eval", "--game", "tictactoe", "--a", "perfect", "--b", "random",
                         "--games", "20", "--seed", "1", "--json")
    assert code == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert {"games", "a_wins", "draws", "b_wins", "a_score", "a_score_ci95"} <= set(r)
    assert r["games"] == 20 and r["b_wins"] == 0 and r["a_wins"] + r["draws"] == 20


@pytest.mark.parametrize("args", [
    ("--a", "mcts:lots", "--b", "random"),
    ("--a", "pubeval", "--b", "random"),
    ("--a", "/no/such/agent.json", "--b", "random"),
])
def test_cli_bad_agent_exits_2(txe, args):
    code, out, err = txe("rl", "eval", "--game", "tictactoe", *args, "--games", "2", "--json")
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out


def test_cli_train_then_eval_saved_agent(txe, tmp_path):
    code, out, err = txe("rl", "train", "--game", "tictactoe", "--algo", "q", "--games", "2000",
                         "--out", str(tmp_path), "--eval-games", "4", "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["games"] == 2000 and summary["agent"].endswith("agent.json")
    code, out, err = txe("rl", "eval", "--game", "tictactoe", "--a", str(tmp_path), "--b", "random",
                         "--games", "10", "--json")
    assert code == 0, err
    code, out, err = txe("rl", "eval", "--game", "connect4", "--a", str(tmp_path), "--b", "random",
                         "--games", "2", "--json")
    assert code == 2 and "tictactoe agent" in err


def test_cli_play_in_terminal(txe, monkeypatch):
    moves = iter(["5", "oops", "1", "9", "3", "7", "2", "4", "6", "8"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(moves))
    code, out, err = txe("rl", "play", "--game", "tictactoe", "--agent", "perfect", "--seed", "0", "--json")
    assert code == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["result"] in ("draw", "loss")


def test_cli_default_agents_are_shipped(txe):
    code, out, err = txe("rl", "eval", "--game", "tictactoe", "--a", "default", "--b", "perfect",
                         "--games", "20", "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["a_wins"] + json.loads(out)["draws"] == 20
    code, out, err = txe("rl", "eval", "--game", "backgammon", "--a", "default", "--b", "random",
                         "--games", "6", "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["a_wins"] >= 4
