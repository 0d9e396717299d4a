"""Peak memory of training against corpus size: streamed tokenizer training and encoding, a memory-mapped
token file (issue 11). Target: peak memory roughly flat in corpus size (a constant plus the tokenizer's
vocabulary), well under 16 GB at 300 MB for word and BPE, and char far below 14x the corpus size.

Usage: ``python -m bench.corpus_memory [--sizes 10,100,300] [--tokenizers char,word,bpe] [--engine DIR]``.

For each size it writes a corpus of that many MB (Shakespeare's plays repeated, each copy in another
seeded order of plays), then runs a short ``txe train`` (5 steps, a small model) per tokenizer in a fresh
subprocess with an empty token cache, and reports the child's peak resident memory (``wait4``'s
ru_maxrss) and its wall time. ``--engine`` runs another checkout's engine (to compare with an older one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe


def make_corpus(path: Path, megabytes: int) -> None:
    from engine.corpus import shakespeare

    corpus = shakespeare()
    plays = [corpus.text[s:e] for _, _, s, e in corpus.plays]
    rng = random.Random(0)
    target = megabytes * 10**6
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            rng.shuffle(plays)
            for play in plays:
                piece = play[: target - written]
                f.write(piece)
                written += len(piece.encode("utf-8"))
                if written >= target:
                    break


def measure(corpus: Path, tokenizer: str, engine: Path, work: Path) -> dict:
    out = work / f"run-{corpus.stem}-{tokenizer}"
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    cmd = [sys.executable, "-m", "engine", "train", "--corpus", str(corpus), "--tokenizer", tokenizer,
           "--steps", "5", "--layers", "2", "--heads", "2", "--d-model", "64", "--context", "64", "--batch", "8",
           "--eval-every", "0", "--autosave-every", "0", "--threads", "2", "--out", str(out), "--json"]
    if tokenizer == "bpe":
        cmd += ["--vocab-size", "1024"]
    env = {**os.environ, "TXE_CACHE_DIR": str(cache), "PYTHONPATH": str(engine)}
    t0 = time.perf_counter()
    with open(work / "stdout", "w+") as so, open(work / "stderr", "w+") as se:
        proc = subprocess.Popen(cmd, cwd=engine, env=env, stdout=so, stderr=se)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read(), se.read()
    result = {"tokenizer": tokenizer, "peak_rss_mb": round(usage.ru_maxrss / 1024), "wall_s": round(wall, 1),
              "exit": proc.returncode}
    if proc.returncode == 0:
        summary = json.loads(stdout.strip().splitlines()[-1])
        result["vocab_size"] = summary["vocab_size"]
    else:
        result["error"] = (stderr.strip().splitlines() or ["?"])[-1][:200]
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,300", help="corpus sizes in MB")
    ap.add_argument("--tokenizers", default="char,word,bpe")
    ap.add_argument("--engine", default=str(Path(__file__).resolve().parent.parent),
                    help="checkout whose engine runs (default: this one)")
    args = ap.parse_args()
    engine = Path(args.engine).resolve()
    print(json.dumps({"machine": describe(), "engine": str(engine)}), flush=True)
    with tempfile.TemporaryDirectory(prefix="corpus-memory-") as tmp:
        work = Path(tmp)
        for mb in (int(s) for s in args.sizes.split(",")):
            corpus = work / f"corpus-{mb}mb.txt"
            make_corpus(corpus, mb)
            for tokenizer in args.tokenizers.split(","):
                row = {"corpus_mb": mb, **measure(corpus, tokenizer, engine, work)}
                print(json.dumps(row), flush=True)
            corpus.unlink()


if __name__ == "__main__":
    main()
