"""How much genre signal the transfer task holds (issue 13): linear classifiers on the same training draws and
the same 600 held-out speeches as bench.transfer, without any fine-tuning.

- TF-IDF of words + logistic regression (C = 10): what the words alone give;
- all-MiniLM-L6-v2's frozen sentence embeddings (mean pooling, unit length) + logistic regression (C = 1).

Run from the repository root::

    python -m bench.genre_ceiling [--sizes 100,300,1000,3000] [--seed 0]

Prints a markdown table of held-out accuracy by size.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bench.machine import describe
from engine.labelled import subsample
from engine.models import open_model
from engine.similarity import embed
from engine.transfer import task_split


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.genre_ceiling")
    p.add_argument("--sizes", default="100,300,1000,3000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pool, val = task_split("genre", seed=args.seed)
    minilm = open_model("minilm")
    val_emb = embed(minilm, val.texts)
    print("| labelled speeches | TF-IDF + logistic regression | frozen MiniLM + logistic regression |")
    print("|---:|---:|---:|")
    for n in (int(v) for v in args.sizes.split(",")):
        train = subsample(pool, n, args.seed)
        vec = TfidfVectorizer(sublinear_tf=True)
        words = LogisticRegression(C=10, max_iter=2000).fit(vec.fit_transform(train.texts), train.labels)
        tfidf = words.score(vec.transform(val.texts), val.labels)
        frozen = LogisticRegression(C=1, max_iter=2000).fit(embed(minilm, train.texts), train.labels)
        print(f"| {n:,} | {100 * tfidf:.1f} | {100 * frozen.score(val_emb, val.labels):.1f} |", flush=True)
    print(f"\n{len(val)} held-out speeches; {time.perf_counter() - started:.0f} s on {describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
