"""A long-lived process that runs ``txe`` commands for the fuzz suite, one forked child per case.

Starting ``python -m engine`` costs seconds (the torch import), too slow for many cases; this worker
imports the engine once, under a memory limit (RLIMIT_AS, inherited by every child), with torch on one
thread and the tokenizers' thread pool off so that forking is safe. Then, for each request (one JSON line
on stdin: ``argv``, ``cwd``, ``timeout``) it forks a child that runs ``engine.entry.main(argv)`` with its
stdout and stderr in files and an alarm as its time limit, and answers one JSON line: the exit code or the
signal that ended the child, its output, and how long it took.

Usage (by tests/fuzz/conftest.py): ``python -m tests.fuzz.worker MEMORY_LIMIT_BYTES``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback

UNCAUGHT = 70  # the child's exit code when an exception escaped main(): a traceback is on its stderr


def _child(argv: list[str], cwd: str, timeout: float, out_path: str, err_path: str) -> None:
    try:
        os.chdir(cwd)
        out_fd = os.open(out_path, os.O_WRONLY | os.O_TRUNC)
        err_fd = os.open(err_path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # `rl play` reads moves: it gets end of input
        sys.stdin = open(0, closefd=False)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, int(timeout)))  # a hang ends as SIGALRM
        from engine.entry import main

        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = UNCAUGHT
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _run(request: dict, out_path: str, err_path: str) -> dict:
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(request["argv"], request["cwd"], request["timeout"], out_path, err_path)
    deadline = t0 + request["timeout"] + 10
    status = None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif time.monotonic() > deadline:  # the alarm did not end it: kill it
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        else:
            time.sleep(0.005)
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    return {"code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "stdout": stdout[-20000:], "stderr": stderr[-20000:], "seconds": time.monotonic() - t0}


def main() -> None:
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch

    torch.set_num_threads(1)  # before any torch op: no thread pool to break in the children
    torch.set_num_interop_threads(1)
    import engine.cli

    engine.cli.build_parser()  # imports every command module once, here
    folder = tempfile.mkdtemp(prefix="txe-fuzz-io-")
    out_path, err_path = os.path.join(folder, "out"), os.path.join(folder, "err")
    for path in (out_path, err_path):
        open(path, "w").close()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(_run(request, out_path, err_path)), flush=True)


if __name__ == "__main__":
    main()
