"""Fuzz the files the engine reads: mutated config.json, trainer.json, optimizer.pt, tokenizer.json,
model.safetensors headers, agent files, word2vec files, evaluation sets, positions and corpora. Each case
ends in exit 0 or one line with exit 2 (tests/fuzz/conftest.py)."""

from __future__ import annotations

import itertools
import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.assets import Assets, build_assets
from tests.fuzz.conftest import check_outcome
from tests.fuzz.strategies import HOSTILE_VALUES, fuzz_settings, mutated_bytes, mutated_json, paths_in, replaced

_case = itertools.count()


@pytest.fixture(scope="module")
def assets(tmp_path_factory, tiny_checkpoint) -> Assets:
    return build_assets(tmp_path_factory.mktemp("fuzz-files"), tiny_checkpoint)


def fresh_checkpoint(assets: Assets) -> tuple[Path, Path]:
    cwd = assets.case_dir(next(_case))
    ck = cwd / "ck"
    shutil.copytree(assets.checkpoint, ck)
    return cwd, ck


def run(worker, cwd: Path, argv: list[str]) -> None:
    check_outcome(worker.run(argv, cwd), argv)


RESUME = ["train", "--corpus", "{corpus}", "--steps", "{steps}", "--eval-every", "0", "--autosave-every", "0",
          "--resume", "--out", "{out}"]


def resume_argv(assets: Assets, ck: Path) -> list[str]:
    """Continue the tiny checkpoint (40 steps) for two more steps."""
    return [a.format(corpus=assets.corpus, steps=42, out=ck) for a in RESUME]


@given(data=st.data())
@fuzz_settings(quick=30)
def test_checkpoint_json_files(worker, assets, data):
    cwd, ck = fresh_checkpoint(assets)
    name = data.draw(st.sampled_from(["config.json", "config.json", "trainer.json", "tokenizer.json"]))
    original = json.loads((ck / name).read_text(encoding="utf-8"))
    (ck / name).write_bytes(data.draw(mutated_json(original)))
    command = data.draw(st.sampled_from(["info", "score", "resume"] if name != "trainer.json" else ["resume"]))
    if command == "resume":
        argv = resume_argv(assets, ck)
    elif command == "score":
        argv = ["score", "--checkpoint", str(ck), "--text", "To be, or not"]
    else:
        argv = ["info", "--checkpoint", str(ck), "--json"]
    run(worker, cwd, argv)


def _mutate_tree(data, obj):  # noqa: ANN001, ANN202
    """One node of a nested dict/list/tensor structure replaced by a hostile value of another kind."""
    def walk(o, prefix=()):  # noqa: ANN001, ANN202
        out = [prefix]
        if isinstance(o, dict):
            for k, v in o.items():
                out += walk(v, prefix + (k,))
        elif isinstance(o, list | tuple):
            for i, v in enumerate(o):
                out += walk(v, prefix + (i,))
        return out

    def put(o, path, value):  # noqa: ANN001, ANN202
        if not path:
            return value
        copy = dict(o) if isinstance(o, dict) else list(o)
        copy[path[0]] = put(o[path[0]], path[1:], value)
        return copy if not isinstance(o, tuple) else tuple(copy)

    path = data.draw(st.sampled_from(walk(obj)))
    value = data.draw(st.one_of(
        st.sampled_from([v for v in HOSTILE_VALUES if not isinstance(v, str) or len(v) < 100]),
        st.sampled_from([torch.zeros(3), torch.full((2, 2), float("nan")), torch.zeros(0),
                         torch.ones(5, dtype=torch.int64), torch.tensor(1e30), torch.zeros(3, 3, dtype=torch.uint8),
                         torch.tensor(-5.0)])))
    return put(obj, path, value)


@given(data=st.data())
@fuzz_settings(quick=18)
def test_optimizer_state(worker, assets, data):
    cwd, ck = fresh_checkpoint(assets)
    if data.draw(st.booleans()):
        state = torch.load(ck / "optimizer.pt", weights_only=True)
        torch.save(_mutate_tree(data, state), ck / "optimizer.pt")
    else:
        (ck / "optimizer.pt").write_bytes(data.draw(mutated_bytes((ck / "optimizer.pt").read_bytes())))
    run(worker, cwd, resume_argv(assets, ck))


@given(data=st.data())
@fuzz_settings(quick=18)
def test_weights_file(worker, assets, data):
    """The safetensors header (JSON after an 8-byte length) mutated, or the bytes damaged."""
    cwd, ck = fresh_checkpoint(assets)
    raw = (ck / "model.safetensors").read_bytes()
    if data.draw(st.booleans()):
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        new = data.draw(mutated_json(header))
        raw = struct.pack("<Q", len(new)) + new + raw[8 + n:]
    else:
        raw = data.draw(mutated_bytes(raw))
    (ck / "model.safetensors").write_bytes(raw)
    run(worker, cwd, data.draw(st.sampled_from([["info", "--checkpoint", str(ck)],
                                                 ["generate", "--checkpoint", str(ck), "--max-new", "3"],
                                                 ["neighbours", "--vectors", str(ck), "e"]])))


@given(data=st.data())
@fuzz_settings(quick=22)
def test_agent_files(worker, assets, data):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    cwd = assets.case_dir(next(_case))
    kind = data.draw(st.sampled_from(sorted(assets.agents)))
    source = assets.agents[kind]
    path = cwd / source.name
    game = {"tictactoe": "tictactoe", "backgammon": "backgammon"}.get(kind, "connect4")
    if kind == "tictactoe":
        path.write_bytes(data.draw(mutated_json(json.loads(source.read_text(encoding="utf-8")))))
    elif data.draw(st.booleans()):
        with safe_open(str(source), framework="numpy") as f:
            meta = f.metadata()
            arrays = {k: f.get_tensor(k) for k in f.keys()}
        header = data.draw(mutated_json(json.loads(meta["header"])))
        save_file(arrays, str(path), metadata={**meta, "header": header.decode("utf-8", "replace")})
    else:
        path.write_bytes(data.draw(mutated_bytes(source.read_bytes())))
    argv = data.draw(st.sampled_from([
        ["rl", "analyse", "--game", game, "--agent", str(path)],
        ["rl", "eval", "--game", game, "--a", str(path), "--b", "random", "--games", "1"]]))
    run(worker, cwd, argv)


@given(data=st.data())
@fuzz_settings(quick=22)
def test_text_files(worker, assets, data):
    """word2vec files, similarity and analogy sets, saved positions and corpora: damaged or hostile text."""
    cwd = assets.case_dir(next(_case))
    kind = data.draw(st.sampled_from(["vectors", "similarity", "analogies", "position", "corpus"]))
    lines = {"vectors": assets.vectors, "similarity": assets.similarity, "analogies": assets.analogies,
             "corpus": assets.corpus}
    hostile_line = st.one_of(st.text(max_size=40), st.sampled_from(
        ["3 2", "99999999999999999999 4", "2 99999999999", "king nan inf", "king 1e999 0 0 0", "king 1 2 3 4 5 6",
         "\x00\x01\x02", ": section", "a b c", "a b nan", "a b 1e400", "-1 -1", "king", "\ufeffking 1 2 3 4"]))
    path = cwd / f"{kind}.txt"
    if kind == "position":
        position = {"game": "tictactoe", "board": [0] * 9, "history": []}
        path.write_bytes(data.draw(mutated_json(position)))
        argv = ["rl", "analyse", "--game", "tictactoe", "--agent", "random", "--position", str(path)]
    else:
        original = lines[kind].read_text(encoding="utf-8").splitlines()
        edited = list(original)
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(edited)))
            edited.insert(i, data.draw(hostile_line))
        if data.draw(st.booleans()):
            edited.pop(data.draw(st.integers(0, len(edited) - 1)))
        content = "\n".join(edited).encode("utf-8", "surrogatepass")
        if data.draw(st.booleans()):
            content = data.draw(mutated_bytes(content))
        path.write_bytes(content)
        argv = {"vectors": ["neighbours", "--vectors", str(path), "king"],
                "similarity": ["evaluate-embeddings", "--vectors", str(assets.vectors), "--similarity", str(path)],
                "analogies": ["evaluate-embeddings", "--vectors", str(assets.vectors), "--analogies", str(path)],
                "corpus": ["train", "--corpus", str(path), "--steps", "2", "--layers", "1", "--heads", "1",
                           "--d-model", "8", "--context", "8", "--batch", "2", "--eval-every", "0",
                           "--out", str(cwd / "run")]}[kind]
    run(worker, cwd, argv)


def test_the_mutations_reach_every_field():
    """The mutation helpers themselves: every node can be replaced, and a deletion removes only its key."""
    tree = {"a": {"b": [1, 2]}, "c": 3}
    assert set(paths_in(tree)) == {(), ("a",), ("a", "b"), ("a", "b", 0), ("a", "b", 1), ("c",)}
    assert replaced(tree, ("a", "b", 1), "x") == {"a": {"b": [1, "x"]}, "c": 3}
    assert replaced(tree, ("c",), None, delete=True) == {"a": {"b": [1, 2]}}
