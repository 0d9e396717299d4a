"""Nothing lost: existing runs, crash leftovers, bad output folders, a full disk, signals (issue 11)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.checkpoint import load_checkpoint
from engine.errors import RunExists, UserError
from engine.files import WriteFailed, atomic_write_bytes, check_writable_folder
from engine.training import TrainConfig, Trainer
from tests.test_cli import txe_here

TINY = ["--layers", "1", "--heads", "1", "--d-model", "16", "--context", "16", "--batch", "4", "--eval-every", "0"]


def txe(*argv: str, preexec=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def one_error_line(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    return lines[-1]


def step_of(path: Path) -> int:
    return json.loads((path / "config.json").read_text(encoding="utf-8"))["step"]


def cfg_for(corpus: str, out: Path, **kw) -> TrainConfig:
    base = dict(corpus=corpus, context=16, d=16, H=1, L=1, batch=4, steps=6, eval_every=0, eval_batches=1,
                snapshot_every=0, autosave_every=0, out=str(out))
    return TrainConfig(**(base | kw))


def run(trainer: Trainer) -> None:
    for _ in trainer.run():
        pass


# --- an existing run is never replaced silently ---------------------------------------------------


def test_an_existing_run_is_not_replaced_without_overwrite(small_corpus, tmp_path):
    out = tmp_path / "old"
    run(Trainer(cfg_for(small_corpus, out, steps=20)))
    with pytest.raises(RunExists) as e:
        Trainer(cfg_for(small_corpus, out, steps=3))
    assert e.value.step == 20 and e.value.path == str(out) and "--overwrite" in str(e.value)
    assert step_of(out) == 20
    r = txe_here("train", "--corpus", small_corpus, *TINY, "--steps", "3", "--out", str(out))
    assert "already holds a training run (step 20)" in one_error_line(r)
    assert step_of(out) == 20
    run(Trainer(cfg_for(small_corpus, out, steps=3), overwrite=True))
    assert step_of(out) == 3
    with pytest.raises(UserError, match="not both"):
        Trainer(cfg_for(small_corpus, out), resume=True, overwrite=True)


def test_the_copy_a_crash_left_is_resumed_and_never_deleted(small_corpus, tmp_path):
    out = tmp_path / "run"
    run(Trainer(cfg_for(small_corpus, out, steps=4)))
    os.replace(out, tmp_path / ".run.old")  # a crash between the two renames of a save
    with pytest.raises(RunExists):  # a rerun without --resume must not delete the last copy
        Trainer(cfg_for(small_corpus, out, steps=8))
    assert step_of(out) == 4  # recovered in place
    os.replace(out, tmp_path / ".run.old")
    out.mkdir()  # an empty folder where the run was does not hide it either
    trainer = Trainer(cfg_for(small_corpus, out, steps=8), resume=True)
    assert trainer.step == 4
    run(trainer)
    assert step_of(out) == 8 and not (tmp_path / ".run.old").exists()


def test_resume_from_the_cli_finds_the_copy_a_crash_left(small_corpus, tmp_path):
    out = tmp_path / "r"
    assert txe_here("train", "--corpus", small_corpus, *TINY, "--steps", "3", "--out", str(out)).returncode == 0
    os.replace(out, tmp_path / ".r.old")
    info = txe_here("info", "--checkpoint", str(out), "--json")
    assert json.loads(info.stdout.splitlines()[-1])["step"] == 3
    os.replace(out, tmp_path / ".r.old")
    r = txe_here("train", "--corpus", small_corpus, "--steps", "5", "--out", str(out), "--resume", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["steps"] == 5


# --- leftovers of interrupted writes ------------------------------------------------------------------


def test_leftovers_of_dead_writers_are_removed_at_the_next_start(small_corpus, tmp_path):
    out = tmp_path / "run"
    dead = 2**22 + 12345  # above the default pid_max: no process has it
    (tmp_path / f".run.{dead}.abcd1234.tmp").mkdir()
    (tmp_path / f".run.{dead}.abcd1234.tmp" / "model.safetensors").write_bytes(b"half")
    (tmp_path / f".run.{os.getpid()}.live0000.tmp").mkdir()  # a live writer's: kept
    (tmp_path / f".other.{dead}.x.tmp").write_bytes(b"not ours")
    old_style, recent = tmp_path / ".run.k2j4h5g6.tmp", tmp_path / ".run.a1b2c3d4.tmp"  # no process id in the name
    old_style.mkdir()
    recent.mkdir()
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    run(Trainer(cfg_for(small_corpus, out, steps=2)))
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f".other.{dead}.x.tmp", recent.name, f".run.{os.getpid()}.live0000.tmp", "run", "run.live"}
    run(Trainer(cfg_for(small_corpus, out, steps=3), overwrite=True))
    assert (tmp_path / f".run.{os.getpid()}.live0000.tmp").exists()


def test_a_stale_old_copy_is_removed_once_the_new_one_is_complete(small_corpus, tmp_path):
    out = tmp_path / "run"
    run(Trainer(cfg_for(small_corpus, out, steps=2)))
    shutil.copytree(out, tmp_path / ".run.old")  # a crash after the second rename
    run(Trainer(cfg_for(small_corpus, out, steps=4), resume=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.live"]  # the run and its live log


def test_atomic_file_writes_leave_nothing_behind(tmp_path):
    dest = tmp_path / "x.bin"
    atomic_write_bytes(dest, b"one")
    atomic_write_bytes(dest, b"two")
    assert dest.read_bytes() == b"two" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


# --- a bad --out is found before any training ----------------------------------------------------------


def test_a_bad_out_is_found_before_the_corpus_is_read(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    started = time.monotonic()
    r = txe_here("train", "--corpus", "/no/such/corpus.txt", "--out", str(blocker / "run"))
    assert "file is a file, not a folder" in one_error_line(r) and "corpus" not in r.stderr
    r = txe_here("train", "--corpus", "/no/such/corpus.txt", "--out", str(blocker))
    assert "is a file" in one_error_line(r)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep", encoding="utf-8")
    r = txe_here("train", "--corpus", "/no/such/corpus.txt", "--out", str(tmp_path / "notes"))
    assert "not a checkpoint" in one_error_line(r)
    assert time.monotonic() - started < 60


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_refused_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(WriteFailed, match="cannot be written"):
            check_writable_folder(ro)
    finally:
        ro.chmod(0o700)


# --- a full disk --------------------------------------------------------------------------------------


def _file_size_limit(nbytes: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


def test_a_full_disk_during_autosave_stops_with_one_line_and_keeps_the_last_checkpoint(small_corpus, tmp_path):
    out = tmp_path / "run"
    common = ["--corpus", small_corpus, "--layers", "2", "--heads", "2", "--context", "16", "--batch", "4",
              "--eval-every", "0", "--out", str(out)]
    assert txe_here("train", *common, "--d-model", "32", "--steps", "6").returncode == 0
    # the bigger model's weights (about 400 KB) no longer fit: the first autosave fails
    r = txe("train", *common, "--d-model", "128", "--steps", "30", "--autosave-every", "10", "--overwrite",
            preexec=_file_size_limit(200_000))
    line = one_error_line(r)
    assert "could not save the checkpoint at step 10" in line and "File too large" in line
    assert "last good checkpoint (step 6) is intact" in line
    assert load_checkpoint(out).step == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.live"]  # no temporary folder left


def test_a_full_disk_when_writing_attention(tmp_path):
    out = tmp_path / "a.npz"
    r = txe("attention", "--text", "To be, or not to be", "--out", str(out), preexec=_file_size_limit(2_000))
    assert "could not write" in one_error_line(r)
    assert list(tmp_path.iterdir()) == []


# --- signals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_training_saves_like_ctrl_c(small_corpus, tmp_path, sig):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "train", "--corpus", small_corpus, *TINY,
                             "--steps", "1000000", "--autosave-every", "20", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert f"stopped by {signal.Signals(sig).name}" in line
    saved = load_checkpoint(out).step
    assert saved >= 20 and f"saved step {saved}" in line
    trainer = Trainer(cfg_for(small_corpus, out, steps=saved + 2), resume=True)
    assert trainer.step == saved


def test_ctrl_c_at_any_moment_of_start_up_is_one_line(tmp_path):
    """From the moment the project's code runs (the interpreter's own first tens of milliseconds are out of
    its reach), through the torch import, to the command's end."""
    for delay in (0.3, 0.6, 1.0, 1.5, 2.5):
        proc = subprocess.Popen([sys.executable, "-m", "engine", "info"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # it finished first
            continue
        assert proc.returncode == 130, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_an_agent_run_is_not_replaced_without_overwrite(tmp_path):
    from engine.rl.train import train

    out = tmp_path / "ttt"
    list(train("tictactoe", "q", games=20, out=out, eval_every=20, eval_games=2))
    before = (out / "agent.json").read_bytes()
    with pytest.raises(RunExists):
        list(train("tictactoe", "q", games=5, out=out, eval_every=5, eval_games=2))
    assert (out / "agent.json").read_bytes() == before
    list(train("tictactoe", "q", games=5, out=out, eval_every=5, eval_games=2, overwrite=True))
    assert json.loads((out / "agent.json").read_text(encoding="utf-8"))["games_trained"] == 5
    stats = (out / "stats.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(s)["kind"] for s in stats] == ["eval", "done"]  # the replaced run's log went with it
    list(train("tictactoe", "q", games=5, out=out, eval_every=5, eval_games=2, resume=True))
    assert len((out / "stats.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    with pytest.raises(UserError, match="nothing to resume"):
        list(train("tictactoe", "q", games=5, out=tmp_path / "none", resume=True))
    assert sorted(p.name for p in out.iterdir()) == ["agent.json", "best-agent.json", "checkpoints", "stats.jsonl"]


def test_a_device_or_pipe_is_never_written_over(tmp_path):
    """An atomic write renames its temporary file over the destination: over a device (as root, /dev/null
    itself) or a pipe that would replace it with a regular file. Refused, and the pipe is still a pipe."""
    import stat as st

    from engine.files import check_output, write_folder

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="device, pipe or socket"):
        atomic_write_bytes(fifo, b"x")
    with pytest.raises(UserError, match="device, pipe or socket"):
        write_folder(fifo, lambda p: (p / "a").write_bytes(b"x"), "a folder")
    with pytest.raises(UserError, match="device, pipe or socket"):
        check_output(fifo)
    assert st.S_ISFIFO(fifo.lstat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
