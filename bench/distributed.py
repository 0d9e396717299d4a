"""Training throughput on this machine: one process with 2 torch threads against 2 processes of 1 thread each
under torchrun (DistributedDataParallel over gloo; engine.distributed), the same model, global batch, seed and
steps (issue 16: "aim for no loss").

Each round runs both, one after the other (alternating which goes first), as real ``txe train`` processes; the
tokens/s is the run's own (tokens of the global batch over the seconds spent in training steps, start-up,
evaluations and saves excluded). Reported: every round's pair, the medians and their ratio.

Usage: ``python -m bench.distributed [--rounds 3] [--steps 150]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from bench.machine import describe

MODEL = ["--tokenizer", "char", "--layers", "4", "--heads", "4", "--d-model", "128", "--context", "128",
         "--batch", "16", "--eval-every", "0", "--snapshot-every", "0", "--autosave-every", "0", "--no-live"]


def one_run(procs: int, steps: int, out: str) -> float:
    train = ["-m", "engine", "train", *MODEL, "--steps", str(steps), "--out", out, "--json"]
    if procs == 1:
        cmd = [sys.executable, *train, "--threads", "2"]
    else:  # torchrun gives each process OMP_NUM_THREADS=1
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs), *train]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("{")][-1]
    return float(json.loads(line)["tokens_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=150)
    args = ap.parse_args()
    print(f"machine: {describe()}")
    print(f"model: {' '.join(MODEL[:-7])}; {args.steps} steps (global batch 16 x 128 tokens)")
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = (1, 2) if r % 2 == 0 else (2, 1)
            for procs in order:
                rates[procs].append(one_run(procs, args.steps, f"{tmp}/run-{r}-{procs}"))
            print(f"  round {r + 1}: 1 process x 2 threads {rates[1][-1]:,.0f} tokens/s, "
                  f"2 processes x 1 thread {rates[2][-1]:,.0f} tokens/s", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"median: 1 x 2 threads {one:,.0f} tokens/s, 2 x 1 thread {two:,.0f} tokens/s, ratio {two / one:.2f}")
    print(json.dumps({"one_process_two_threads": round(one), "two_processes_one_thread": round(two),
                      "ratio": round(two / one, 3)}))


if __name__ == "__main__":
    main()
