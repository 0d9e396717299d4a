"""Shared fixtures: a small text and a tiny model trained once per session on it."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "TXE_CACHE_DIR" not in os.environ:  # token caches of test corpora stay out of the user's cache
    import atexit
    import shutil
    import tempfile

    os.environ["TXE_CACHE_DIR"] = tempfile.mkdtemp(prefix="txe-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TXE_CACHE_DIR"], True)

import torch  # noqa: E402  (torch before any QApplication: pytorch #11326)

# two torch threads alone; one per process when pytest-xdist runs two (make test): 2 cores in all
torch.set_num_threads(max(1, 2 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))

SMALL_TEXT = (
    "HAMLET:\nTo be, or not to be: that is the question:\nWhether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles,\n"
    "And by opposing end them? To die: to sleep;\nNo more; and by a sleep to say we end\n\n"
    "OPHELIA:\nGood my lord,\nHow does your honour for this many a day?\n\n"
) * 20


@pytest.fixture
def one_thread():
    """Small models on a busy 2-core machine: a second torch thread only adds waiting (4-5x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text(SMALL_TEXT, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, small_corpus) -> str:
    """A 2-layer, 2-head char model trained for 40 steps on the small text, saved with training state."""
    from engine.training import TrainConfig, Trainer

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    cfg = TrainConfig(corpus=small_corpus, context=32, d=32, H=2, L=2, batch=8, steps=40, eval_every=20,
                      eval_batches=2, snapshot_every=0, out=str(out))
    for _ in Trainer(cfg).run():
        pass
    return str(out)
