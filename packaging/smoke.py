"""Smoke test of the built bundle: start it offscreen with a clean environment (no PYTHONPATH, no virtualenv
on PATH, a fresh HOME), wait for the main window with the default model's attention grid drawn, check its PNG
and that it exits 0; print the start time (to the saved picture) and the bundle's size.

``python -m packaging.smoke [dist/transformer-explorer] [--runs N] [--source]``; ``--source`` times the same
start from the source tree (``python -m app``, what ``make run`` starts) beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300
LINE = re.compile(r"cold start to painted window: (?P<s>[\d.]+) s \(model: (?P<model>[^)]*)\)")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def python_files_mapped(pid: int) -> list[str]:
    """Files of this machine's Python (its installation or virtualenv) the process has mapped: none for the
    bundle, which carries its own."""
    roots = {os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # not Linux, or it has just exited
        return []
    files = {parts[5].strip() for parts in (line.split(None, 5) for line in maps.splitlines()) if len(parts) == 6}
    return sorted(f for f in files if any(f.startswith(r) for r in roots))


def clean_env(home: str) -> dict[str, str]:
    """What a desktop session gives a program, without any Python set-up."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": os.path.join(home, ".config")}
    return env


def start_once(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
               bundled: bool = True) -> dict[str, float | str]:
    """Run ``cmd --screenshot``; the seconds to the saved picture and to the exit, and the model shown."""
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "window.png"
        t0 = time.perf_counter()
        proc = subprocess.Popen([*cmd, "--screenshot", str(shot), "--view", "attention", "--no-tour"], cwd=cwd,
                                env=env if env is not None else clean_env(tmp), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        to_window, outside = None, None
        while proc.poll() is None and time.perf_counter() - t0 < TIMEOUT_S:
            if to_window is None and shot.exists():
                to_window = time.perf_counter() - t0
                outside = python_files_mapped(proc.pid)
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            raise AssertionError(f"{cmd[0]} did not finish within {TIMEOUT_S} s")
        total = time.perf_counter() - t0
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(f"{cmd[0]} exited {proc.returncode}:\n{err[-3000:]}")
        found = LINE.search(err)
        if not found:
            raise AssertionError(f"no start line in its output:\n{err[-3000:]}")
        if found["model"] != "default":  # the ModelRef's source: the embedded default model
            raise AssertionError(f"the window showed model {found['model']!r}, not the default model")
        if outside and bundled:
            raise AssertionError(f"the bundle loaded files of this machine's Python: {outside[:5]}")
        w, h = png_size(shot)
        if w < 1400 or h < 860:  # the window's minimum width can exceed the size asked, never the other way
            raise AssertionError(f"the window's picture is {w} x {h}, smaller than the 1400 x 860 asked")
        return {"to_window": to_window or total, "exit": total, "in_app": float(found["s"]), "model": found["model"]}


def check_about(exe: Path) -> None:
    """The bundle knows its version (pyproject.toml's) and finds every model file and its package's version."""
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        version = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True, timeout=60)
        about = subprocess.run([str(exe), "--about"], env=env, capture_output=True, text=True, timeout=120)
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    if version.stdout.strip() != f"transformer-explorer {expected}":
        raise AssertionError(f"--version said {version.stdout!r}{version.stderr[-500:]}, not {expected}")
    if about.returncode != 0 or "not installed" in about.stdout or "version unknown" in about.stdout:
        raise AssertionError(f"--about:\n{about.stdout}{about.stderr[-2000:]}")
    print(about.stdout.strip())


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def report(name: str, runs: list[dict[str, float | str]]) -> None:
    med = {k: statistics.median(float(r[k]) for r in runs) for k in ("to_window", "exit", "in_app")}
    print(f"{name}: start to the drawn window {med['to_window']:.2f} s (median of {len(runs)}: "
          + ", ".join(f"{float(r['to_window']):.2f}" for r in runs)
          + f"), from main() {med['in_app']:.2f} s, to exit {med['exit']:.2f} s, model {runs[0]['model']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", nargs="?", default=str(ROOT / "dist" / "transformer-explorer"))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--source", action="store_true", help="also time python -m app from the source tree")
    args = ap.parse_args(argv)
    bundle = Path(args.bundle).resolve()
    exe = bundle / "transformer-explorer"
    if not exe.is_file():
        print(f"smoke: no bundle at {bundle} (make package builds it)", file=sys.stderr)
        return 2
    check_about(exe)
    runs, src = [], []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for _ in range(args.runs):  # alternating, so that the machine's load falls on both alike
        runs.append(start_once([str(exe)], cwd=Path(tempfile.gettempdir())))
        if args.source:
            src.append(start_once([sys.executable, "-m", "app"], cwd=ROOT, env=env, bundled=False))
    print(f"bundle: {bundle} ({du(bundle) / 2**20:.0f} MiB)")
    report("bundle", runs)
    if src:
        report("source (python -m app)", src)
    print("smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
