"""t-SNE of 10,000 word vectors, without sampling, in a background thread while the main thread stays
responsive (the GUI's situation: the projection runs in the engine thread).

Vectors: skip-gram on the default corpus (1 epoch, d=100, min count 2), the 10,000 most frequent words.
The main thread meanwhile runs a 10 ms timer loop, as a Qt event loop would, and we report how late its
ticks come (the GIL is the risk: a library that holds it for long freezes the GUI). Then PCA and the
neighbour-disagreement measure on the same 10,000 points.

Usage: ``python -m bench.projection_10k [--n 10000] [--jobs 1]``.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
import torch

from bench.machine import describe
from engine.corpus import load_corpus
from engine.embeddings.analysis import projection_neighbours_disagreement
from engine.embeddings.projection import Layout, ProjectionConfig, pca, project
from engine.embeddings.word2vec import SkipGram, Word2VecConfig, prepare
from engine.events import Finished
from engine.tasks import CancelToken


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=1, help="openTSNE threads")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {describe()}")
    cfg = Word2VecConfig(dim=100, epochs=1, min_count=2)
    vocab, ids = prepare(load_corpus("shakespeare").text, cfg)
    if len(vocab) < args.n:
        raise SystemExit(f"only {len(vocab)} words with min count 2")
    model = SkipGram(vocab, ids, cfg)
    for _ in model.run():
        pass
    x = model.vectors().matrix[: args.n]
    print(f"{len(x)} vectors of dimension {x.shape[1]} (vocabulary {len(vocab)})")

    result: dict[str, Layout] = {}
    slices: list[float] = []
    token = CancelToken()

    def work() -> None:
        last = time.perf_counter()
        for event in project(x, ProjectionConfig(method="tsne", n_jobs=args.jobs, seed=1), token):
            now = time.perf_counter()
            slices.append(now - last)
            last = now
            if isinstance(event, Finished):
                result["done"] = event.result

    thread = threading.Thread(target=work)
    t0 = time.perf_counter()
    thread.start()
    lateness = []
    while thread.is_alive():  # a stand-in for the GUI's event loop: wake every 10 ms
        t = time.perf_counter()
        time.sleep(0.01)
        lateness.append(time.perf_counter() - t - 0.01)
    thread.join()
    seconds = time.perf_counter() - t0
    done = result["done"]
    late = np.array(lateness) * 1000
    print(f"t-SNE 2D of {len(x)} points (750 iterations, perplexity 30, FFT, {args.jobs} thread(s)): "
          f"{seconds:.1f} s wall, {done.seconds:.1f} s in the engine")
    print(f"main-thread 10 ms ticks during it: {len(late)}; lateness median {np.median(late):.1f} ms, "
          f"p99 {np.percentile(late, 99):.1f} ms, max {late.max():.0f} ms")
    print(f"longest step between progress events: {max(slices):.1f} s (affinities first, then 50-iteration "
          "slices; pause/cancel are checked between them)")
    t = time.perf_counter()
    pca(x, 2)
    print(f"PCA 2D: {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    dis = projection_neighbours_disagreement(x, done.coords, k=10)["disagreement"]
    print(f"neighbour disagreement (k=10) for all {len(x)} points: {time.perf_counter() - t:.1f} s, "
          f"mean {dis.mean():.3f}")


if __name__ == "__main__":
    main()
