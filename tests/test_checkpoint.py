import json
import os
import shutil

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import UserError


def test_round_trip_gives_identical_logits(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    x = torch.randint(0, loaded.tokenizer.vocab_size, (1, 20))
    copy = save_checkpoint(tmp_path / "copy", loaded.model, loaded.tokenizer, extra={"step": 40})
    again = load_checkpoint(copy)
    torch.testing.assert_close(loaded.model(x)[0], again.model(x)[0], atol=0, rtol=0)
    assert again.step == 40 and again.tokenizer.kind == "char"
    assert sorted(os.listdir(copy)) == ["config.json", "model.safetensors", "tokenizer.json"]


def test_save_is_atomic_and_leaves_no_temp_folders(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    dest = tmp_path / "ck"
    for step in (1, 2, 3):
        save_checkpoint(dest, loaded.model, loaded.tokenizer, extra={"step": step})
    assert load_checkpoint(dest).step == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_crash_between_renames_is_recovered(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    dest = tmp_path / "ck"
    save_checkpoint(dest, loaded.model, loaded.tokenizer, extra={"step": 5})
    os.replace(dest, tmp_path / ".ck.old")  # the state a crash after the first rename leaves
    assert load_checkpoint(dest).step == 5
    assert (dest / "config.json").is_file()


def test_refuses_to_overwrite_a_folder_that_is_not_a_checkpoint(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UserError, match="not a checkpoint"):
        save_checkpoint(tmp_path, loaded.model, loaded.tokenizer)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.fixture
def broken(tiny_checkpoint, tmp_path):
    dest = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, dest)
    return dest


def test_truncated_weights(broken):
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_checkpoint(broken)


def test_garbage_config(broken):
    (broken / "config.json").write_text("{{{", encoding="utf-8")
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(broken)


def test_wrong_format_and_version(broken):
    cfg = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    (broken / "config.json").write_text(json.dumps({**cfg, "version": 99}), encoding="utf-8")
    with pytest.raises(UserError, match="version 99"):
        load_checkpoint(broken)
    (broken / "config.json").write_text(json.dumps({"hello": 1}), encoding="utf-8")
    with pytest.raises(UserError, match="not a Transformer Explorer checkpoint"):
        load_checkpoint(broken)


def test_weights_that_do_not_match_the_config(broken):
    cfg = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    cfg["model"]["d"] = 64
    cfg["model"]["m"] = 256
    (broken / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(UserError, match="does not match its config"):
        load_checkpoint(broken)


def test_tokenizer_from_another_run(broken, tmp_path):
    from engine.tokenizers import Tokenizer

    Tokenizer.train("char", ["xyz"]).save(broken / "tokenizer.json")
    with pytest.raises(UserError, match="different runs"):
        load_checkpoint(broken)


def test_missing_things(tmp_path, broken):
    with pytest.raises(UserError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing")
    with pytest.raises(UserError, match="no config.json"):
        load_checkpoint(tmp_path)
    f = tmp_path / "file.bin"
    f.write_bytes(b"1234")
    with pytest.raises(UserError, match="is a file"):
        load_checkpoint(f)
    (broken / "model.safetensors").unlink()
    with pytest.raises(UserError, match="no model.safetensors"):
        load_checkpoint(broken)


def test_corrupt_optimizer_state(tiny_checkpoint, tmp_path, small_corpus):
    from engine.training import TrainConfig, Trainer

    dest = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, dest)
    (dest / "optimizer.pt").write_bytes(b"garbage")
    cfg = TrainConfig(corpus=small_corpus, context=32, d=32, H=2, L=2, batch=8, steps=50, out=str(dest))
    with pytest.raises(UserError, match="optimizer.pt is corrupt"):
        Trainer(cfg, resume=True)
