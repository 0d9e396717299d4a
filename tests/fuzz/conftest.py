"""The fuzz suite's worker process and the files its cases start from.

``TXE_FUZZ_EXAMPLES`` sets the examples per test (default: a quick run, about a minute in all);
``TXE_FUZZ_MEMORY_GB`` the memory limit (RLIMIT_AS) of the worker and every case (default 4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = int(float(os.environ.get("TXE_FUZZ_MEMORY_GB", "4")) * 2**30)
CASE_TIMEOUT = 60  # seconds; every case is built to take well under one
PROGRESS_LINE = ("step ", "epoch ", "eval at ", "games ")  # what long commands report on stderr as they go


class Worker:
    """Runs txe commands in forked children of one process that imported the engine (tests/fuzz/worker.py)."""

    def __init__(self, cache_dir: str) -> None:
        env = {**os.environ, "TXE_CACHE_DIR": cache_dir, "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker", str(MEMORY_LIMIT)], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self.proc.stdout.readline()
        assert json.loads(ready)["ready"], ready

    def run(self, argv: list[str], cwd: str | Path, timeout: float = CASE_TIMEOUT) -> dict:
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, "the fuzz worker died"
        return json.loads(answer)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def worker(tmp_path_factory):
    w = Worker(str(tmp_path_factory.mktemp("fuzz-cache")))
    yield w
    w.close()


def check_outcome(result: dict, argv: list[str]) -> None:
    """Exit 0, or exit 2 with exactly one line on stderr besides progress reports; never a traceback,
    a signal (a crash, or SIGALRM for a hang) or another exit code."""
    shown = f"txe {' '.join(repr(a) for a in argv)}\n--- stderr ---\n{result['stderr'][-3000:]}"
    assert result["signal"] is None, f"ended by signal {result['signal']}: {shown}"
    assert "Traceback" not in result["stderr"], shown
    assert result["code"] in (0, 2), f"exit code {result['code']}: {shown}"
    if result["code"] == 2:
        lines = [ln for ln in result["stderr"].splitlines() if ln.strip() and not ln.startswith(PROGRESS_LINE)]
        assert len(lines) == 1, f"{len(lines)} error lines: {shown}"
        assert lines[0].startswith("txe"), shown
