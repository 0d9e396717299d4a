"""One validation layer: bad numbers in flags and files end in one clear line, before any allocation."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.errors import UserError
from engine.model import ModelConfig
from engine.validate import float_flag, int_flag, real, whole


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Run ``txe argv`` in this process: (exit code, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's usage errors
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- the checkers ----------------------------------------------------------------------------------


def test_checkers_refuse_wrong_types_and_ranges():
    assert whole(16, "d", 1, 64) == 16
    for bad in (16.0, True, "16", None, 0, 65):
        with pytest.raises(UserError, match="d must"):
            whole(bad, "d", 1, 64)
    assert real(1, "lr", 0, 10) == 1.0
    for bad in (float("nan"), float("inf"), True, "x", -1.0, 10**400):
        with pytest.raises(UserError, match="lr must"):
            real(bad, "lr", 0, 10)
    assert int_flag(0, 10)("7") == 7 and float_flag(0, 1)("0.5") == 0.5
    for raw in ("1e3", "7.0", "", "seven", "11", "-1", "1" * 60):
        with pytest.raises(Exception, match="must"):
            int_flag(0, 10)(raw)
    for raw in ("nan", "inf", "-inf", "2", "x", ""):
        with pytest.raises(Exception, match="must"):
            float_flag(0, 1)(raw)


# --- flags of every command --------------------------------------------------------------------------


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--out", "x", "--dropout", "2"], "--dropout: must be a finite number in [0, 1)"),
    (["train", "--out", "x", "--context", "1000000"], "--context: must be from 1 to 65,536"),
    (["train", "--out", "x", "--seed", "1e23"], "--seed: must be a whole number"),
    (["train", "--out", "x", "--seed", "100000000000000000000000"], "--seed: must be from 0"),
    (["train", "--out", "x", "--threads", "-1"], "--threads: must be from 0 to 256"),
    (["train", "--out", "x", "--d-model", "16.0"], "--d-model: must be a whole number"),
    (["train", "--out", "x", "--lr", "nan"], "--lr: must be a finite number"),
    (["train", "--out", "x", "--batch", "0"], "--batch: must be from 1"),
    (["sample", "--prompt", "a", "--temperature", "inf"], "--temperature: must be a finite number"),
    (["sample", "--prompt", "a", "--max-new", "10000000000"], "--max-new: must be from 0 to 100,000"),
    (["generate", "--method", "beam", "--k", "100000"], "--k: must be from 1 to 256"),
    (["generate", "--top-p", "0"], "--top-p: must be a finite number in (0, 1]"),
    (["generate", "--alpha", "nan"], "--alpha"),
    (["generate", "--window-keep", "-3"], "--window-keep"),
    (["word2vec", "--out", "v.txt", "--dim", "-1"], "--dim: must be from 1"),
    (["word2vec", "--out", "v.txt", "--sample", "inf"], "--sample"),
    (["neighbours", "--vectors", "v.txt", "king", "-k", "0"], "-k: must be from 1"),
    (["project-embeddings", "--vectors", "v.txt", "--out", "c.csv", "--perplexity", "nan"], "--perplexity"),
    (["project-embeddings", "--vectors", "v.txt", "--out", "c.csv", "--iterations", "1e9"], "--iterations"),
    (["rl", "train", "--game", "tictactoe", "--algo", "q", "--out", "o", "--games", "0"], "--games: must be from 1"),
    (["rl", "train", "--game", "connect4", "--algo", "selfplay", "--out", "o", "--sims", "1000000000000"],
     "--sims: must be from 1 to 100,000"),
    (["rl", "train", "--game", "backgammon", "--algo", "td", "--out", "o", "--hidden", "0"], "--hidden"),
    (["rl", "train", "--game", "backgammon", "--algo", "td", "--out", "o", "--minutes", "inf"], "--minutes"),
    (["rl", "eval", "--game", "tictactoe", "--a", "random", "--b", "random", "--games", "-5"], "--games"),
    (["rl", "analyse", "--game", "tictactoe", "--top", "0"], "--top"),
])
def test_bad_flag_values_are_one_line_and_exit_2(capsys, argv, fragment):
    assert_one_line(*cli(capsys, *argv), fragment)


@pytest.mark.parametrize("spec, fragment", [
    ("mcts:1000000000000", "from 1 to 100,000"),
    ("alphabeta:12", "from 1 to 9"),
    ("mcts:1e3", "whole number"),
    ("default:99999999999999sims", "Unknown agent"),
])
def test_absurd_agent_searches_are_refused(capsys, spec, fragment):
    assert_one_line(*cli(capsys, "rl", "eval", "--game", "connect4", "--a", spec, "--b", "random"), fragment)


def test_a_stray_newline_in_an_argument_stays_one_line(capsys):
    assert_one_line(*cli(capsys, "info", "a\nb"), "unrecognized arguments")


# --- checkpoint files ----------------------------------------------------------------------------------


@pytest.fixture
def ckpt(tiny_checkpoint, tmp_path):
    dest = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint, dest)
    return dest


def edit_config(path, **model):
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    cfg["model"].update(model)
    (path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")


@pytest.mark.parametrize("change, fragment", [
    ({"d": 16.0}, "d must be a whole number"),
    ({"dropout": "x"}, "dropout must be a number"),
    ({"dropout": 1.5}, "dropout must be a finite number in [0, 1)"),
    ({"L": True}, "L must be a whole number"),
    ({"H": -2}, "H must be"),
    ({"context": 10**9}, "context must be"),
    ({"tied": "yes"}, "tied must be true or false"),
    ({"positional": 3}, "positional must be one of"),
    ({"d": 64, "m": 256}, "does not match its config"),
])
def test_bad_model_settings_in_config_json(ckpt, change, fragment):
    edit_config(ckpt, **change)
    with pytest.raises(UserError, match=None) as e:
        load_checkpoint(ckpt)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_a_1kb_config_cannot_exhaust_memory(ckpt):
    """d 8192 and L 48 imply a 13-billion-parameter model: refused from the numbers alone, in a process
    that could not even allocate 3 GB."""
    edit_config(ckpt, d=8192, L=48, m=0)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30)); "
            "from engine.entry import main; sys.exit(main(['info', '--checkpoint', sys.argv[1]]))")
    r = subprocess.run([sys.executable, "-c", code, str(ckpt)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "above the limit of 2,000,000,000" in r.stderr, r.stderr
    edit_config(ckpt, d=4096, L=8, m=0, H=2)  # 1.6 billion parameters: below the cap, above 6 GB
    r = subprocess.run([sys.executable, "-c", code, str(ckpt)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "needs about" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_the_size_arithmetic_matches_the_model():
    from engine.model import GPT

    for kw in ({}, {"tied": False, "bias": True, "positional": "sinusoidal", "norm": "post", "m": 40}):
        cfg = ModelConfig(vocab_size=30, context=12, d=16, H=2, L=3, **kw)
        model = GPT(cfg)
        assert cfg.parameter_count() == model.num_parameters()
        stored = {k: tuple(v.shape) for k, v in model.state_dict().items() if not (cfg.tied and k == "lm_head.weight")}
        assert stored == cfg.weight_shapes()


def test_nan_weights_are_refused(ckpt):
    state = load_file(str(ckpt / "model.safetensors"))
    state["wte.weight"][0, 0] = float("nan")
    save_file(state, str(ckpt / "model.safetensors"), metadata={"format": "txe-checkpoint"})
    with pytest.raises(UserError, match="wte.weight has NaN or infinite values"):
        load_checkpoint(ckpt)


def test_other_config_fields(ckpt):
    cfg = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    for key, value, fragment in [("step", "x", "step must be"), ("step", -1, "step must be"),
                                 ("tokenizer", "morse", "tokenizer must be one of"), ("model", [1], "JSON object"),
                                 ("train", 5, "train must be a JSON object")]:
        (ckpt / "config.json").write_text(json.dumps({**cfg, key: value}), encoding="utf-8")
        with pytest.raises(UserError, match=fragment):
            load_checkpoint(ckpt)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda t: t.update(step="20"), "step must be a whole number"),
    (lambda t: t.update(history=5), "history must be a JSON object"),
    (lambda t: t["history"].update(loss=["a"]), "history.loss must hold only numbers"),
    (lambda t: t["history"].update(loss=t["history"]["loss"][:-1]), "different lengths"),
    (lambda t: t.update(train_seconds=-1), "train_seconds must be"),
    (lambda t: t.update(tokens_seen=1.5), "tokens_seen must be a whole number"),
])
def test_damaged_trainer_json_is_refused_when_resuming(ckpt, small_corpus, mutate, fragment):
    from engine.training import TrainConfig, Trainer

    state = json.loads((ckpt / "trainer.json").read_text(encoding="utf-8"))
    mutate(state)
    (ckpt / "trainer.json").write_text(json.dumps(state), encoding="utf-8")
    cfg = TrainConfig(corpus=small_corpus, context=32, d=32, H=2, L=2, batch=8, steps=50, eval_every=20,
                      eval_batches=2, snapshot_every=0, out=str(ckpt))
    with pytest.raises(UserError, match=fragment):
        Trainer(cfg, resume=True)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda o: o.update(optimizer=[1, 2]), "optimizer must be a JSON object"),
    (lambda o: o["optimizer"].update(param_groups=[]), "parameter groups differ"),
    (lambda o: o["optimizer"]["state"][0].update(exp_avg=torch.zeros(3)), "exp_avg of parameter 0 should be"),
    (lambda o: o["optimizer"]["state"][0]["exp_avg_sq"].fill_(float("nan")), "NaN"),
    (lambda o: o["optimizer"]["state"].update({999: {}}), "which this model lacks"),
    (lambda o: o["optimizer"]["state"][1].update(step="x"), "no valid step count"),
    (lambda o: o.update(rng=torch.zeros(5, dtype=torch.uint8)), "random state is damaged"),
    (lambda o: o.pop("rng"), "random state is missing"),
])
def test_damaged_optimizer_state_is_refused_when_resuming(ckpt, small_corpus, mutate, fragment):
    from engine.training import TrainConfig, Trainer

    state = torch.load(ckpt / "optimizer.pt", weights_only=True)
    mutate(state)
    torch.save(state, ckpt / "optimizer.pt")
    cfg = TrainConfig(corpus=small_corpus, context=32, d=32, H=2, L=2, batch=8, steps=50, eval_every=20,
                      eval_batches=2, snapshot_every=0, out=str(ckpt))
    with pytest.raises(UserError, match=fragment):
        Trainer(cfg, resume=True)


def test_a_tokenizer_with_absurd_ids_is_refused(ckpt):
    raw = json.loads((ckpt / "tokenizer.json").read_text(encoding="utf-8"))
    raw["added_tokens"][0]["id"] = 10**9
    raw["model"]["vocab"]["<|bos|>"] = 10**9
    (ckpt / "tokenizer.json").write_text(json.dumps(raw), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError, match="tokenizer"):
        load_checkpoint(ckpt)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: nothing like 8 GB
    (ckpt / "tokenizer.json").write_text('{"model": 5}', encoding="utf-8")
    with pytest.raises(UserError, match="not a valid tokenizer.json"):
        load_checkpoint(ckpt)


# --- agent files ------------------------------------------------------------------------------------


@pytest.fixture
def td_agent(tmp_path):
    from engine.rl.agents.td import TDAgent

    path = tmp_path / "agent.safetensors"
    TDAgent("connect4", hidden=8, seed=1).save(path)
    return path


def rewrite_agent(path, header_change=None, array_change=None):
    from safetensors import safe_open
    from safetensors.numpy import save_file as save_np

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    header = json.loads(meta["header"])
    header.update(header_change or {})
    if array_change:
        array_change(arrays)
    save_np(arrays, str(path), metadata={**meta, "header": json.dumps(header)})


@pytest.mark.parametrize("header, arrays, fragment", [
    ({"hidden": 10**9}, None, "hidden must be"),
    ({"hidden": 16}, None, "W1 has shape (8, 84), expected (16, 84)"),
    ({"hidden": 8.0}, None, "hidden must be a whole number"),
    ({"lr": float("nan")}, None, "lr must be a finite number"),
    ({"plies": 7}, None, "plies must be"),
    (None, lambda a: a["W1"].__setitem__((0, 0), np.nan), "NaN"),
])
def test_damaged_agent_files_are_one_line(capsys, td_agent, header, arrays, fragment):
    rewrite_agent(td_agent, header, arrays)
    assert_one_line(*cli(capsys, "rl", "analyse", "--game", "connect4", "--agent", str(td_agent)), fragment)


def test_selfplay_agent_sims_are_capped(capsys, tmp_path):
    from engine.rl.agents.alphazero import AlphaZeroAgent

    path = tmp_path / "agent.safetensors"
    AlphaZeroAgent(hidden=8, sims=5).save(path)
    rewrite_agent(path, {"sims": 10**12})
    assert_one_line(*cli(capsys, "rl", "analyse", "--game", "connect4", "--agent", str(path)), "sims must be")
    rewrite_agent(path, {"sims": 5, "hidden": 4096})
    assert_one_line(*cli(capsys, "rl", "analyse", "--game", "connect4", "--agent", str(path)), "expected (4096, 84)")


def test_a_damaged_tabular_agent(capsys, tmp_path):
    from engine.rl.agents.tabular import TabularAgent

    path = tmp_path / "agent.json"
    TabularAgent().save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    for change, fragment in [({"table": {"." * 9: [float("nan")] * 9}}, "must hold only numbers"),
                             ({"table": {"abc": [0] * 9}}, "not a board"),
                             ({"hparams": {"lr": "fast"}}, "lr must be a number"),
                             ({"games_trained": -3}, "games_trained must be")]:
        path.write_text(json.dumps({**data, **change}), encoding="utf-8")
        assert_one_line(*cli(capsys, "rl", "analyse", "--game", "tictactoe", "--agent", str(path)), fragment)


def test_a_long_context_costs_no_context_squared_mask():
    from engine.model import MASK_KEPT, causal_mask, causal_rows

    cfg = ModelConfig(vocab_size=50, context=65536, d=16, H=2, L=2, positional="sinusoidal")
    assert cfg.model_bytes() < 4 * cfg.parameter_count() + MASK_KEPT**2 + 65536 * 16 * 4 + 1
    small = causal_mask(6)
    for start, end in [(0, 6), (2, 5), (0, 9), (4, 9)]:  # beyond the kept mask, rows are built on demand
        np.testing.assert_array_equal(causal_rows(small, start, end), causal_mask(9)[start:end, :end])


@pytest.mark.parametrize("change", [
    lambda raw: raw["pre_tokenizer"]["pattern"].update(Regex="(a+)+$"),  # a regular expression that can take forever
    lambda raw: raw.update(normalizer={"type": "Lowercase"}),
    lambda raw: raw["model"].update(type="WordPiece"),
])
def test_a_foreign_tokenizer_pipeline_is_refused(ckpt, change):
    raw = json.loads((ckpt / "tokenizer.json").read_text(encoding="utf-8"))
    change(raw)
    (ckpt / "tokenizer.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(UserError, match="tokenizer"):
        load_checkpoint(ckpt)
