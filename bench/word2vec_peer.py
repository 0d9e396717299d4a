"""Our skip-gram against gensim's Word2Vec, side by side in one run, on the same tokens and settings.

Both get exactly the same token stream (our tokeniser: lowercase words, apostrophes inside words), cut
into 10,000-token "sentences" for gensim (its maximum sentence length), and the same settings:
skip-gram, negative sampling K=5, subsampling 1e-3, d=100, window 5, min count 5, lr 0.025 -> 0.0001,
one thread each (gensim workers=1, torch threads 1), several seeds. Both models are scored by the same
evaluator (ours) on gensim's own shipped test files (wordsim353.tsv, questions-words.txt); gensim's
evaluator is run on gensim's vectors as a cross-check of ours. Train time excludes tokenising and the
vocabulary scan for both (gensim: ``train()`` only; ours: ``SkipGram.run()`` only).

Corpora: gensim's shipped lee_background.cor (small: ~60k words, so 20 epochs) and the default corpus
(all of Shakespeare's plays, ~0.84M words in the vocabulary, 5 epochs).

Usage: ``python -m bench.word2vec_peer [--seeds 3] [--json results.json]`` (gensim is a
benchmark-only dependency: ``pip install gensim``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np
import torch

from bench.machine import describe
from engine.corpus import load_corpus, read_text_file
from engine.embeddings.analysis import (
    evaluate_analogies,
    evaluate_similarity,
    read_analogy_file,
    read_similarity_file,
)
from engine.embeddings.vectors import Vectors
from engine.embeddings.vocab import tokenize
from engine.embeddings.word2vec import SkipGram, Word2VecConfig, prepare


def gensim_test_data() -> str:
    import gensim

    return os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")


def score(vec: Vectors, pairs: list, sections: list) -> dict[str, Any]:
    s = evaluate_similarity(vec, pairs)
    a = evaluate_analogies(vec, sections)
    return {"spearman": s["spearman"], "similarity_coverage": s["similarity_coverage"],
            "analogy_accuracy": a["analogy_accuracy"], "analogy_coverage": a["analogy_coverage"],
            "analogy_covered": a["analogy_covered"]}


def run_ours(text: str, cfg: Word2VecConfig) -> tuple[Vectors, float, list[float]]:
    vocab, ids = prepare(text, cfg)
    model = SkipGram(vocab, ids, cfg)
    t0 = time.perf_counter()
    for _ in model.run():
        pass
    return model.vectors(), time.perf_counter() - t0, model.loss_per_epoch


def run_gensim(text: str, cfg: Word2VecConfig) -> tuple[Any, float]:
    from gensim.models import Word2Vec

    tokens = tokenize(text)
    sentences = [tokens[i:i + 10_000] for i in range(0, len(tokens), 10_000)]
    model = Word2Vec(vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count, sg=1, hs=0,
                     negative=cfg.negative, sample=cfg.sample, alpha=cfg.lr, min_alpha=cfg.min_lr,
                     epochs=cfg.epochs, workers=1, seed=cfg.seed)
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=cfg.epochs)
    return model, time.perf_counter() - t0


def mean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.fmean(vals) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--corpora", default="lee,shakespeare")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    td = gensim_test_data()
    pairs = read_similarity_file(os.path.join(td, "wordsim353.tsv"))
    sections = read_analogy_file(os.path.join(td, "questions-words.txt"))
    setups = {
        "lee": (lambda: read_text_file(os.path.join(td, "lee_background.cor")), 20),
        "shakespeare": (lambda: load_corpus("shakespeare").text, 5),
    }
    print(f"machine: {describe()}")
    results: dict[str, Any] = {"machine": describe(), "corpora": {}}
    for name in args.corpora.split(","):
        load, epochs = setups[name]
        text = load()
        rows: dict[str, list[dict[str, Any]]] = {"ours": [], "gensim": []}
        for seed in range(1, args.seeds + 1):
            cfg = Word2VecConfig(dim=100, window=5, epochs=epochs, min_count=5, negative=5, sample=1e-3,
                                 seed=seed)
            # alternate who goes first, so drifting machine load hits both alike
            order = ["ours", "gensim"] if seed % 2 else ["gensim", "ours"]
            for who in order:
                if who == "ours":
                    vec, secs, losses = run_ours(text, cfg)
                    rows["ours"].append({"seed": seed, "seconds": secs, "vocab": len(vec),
                                         "loss_per_epoch": losses, **score(vec, pairs, sections)})
                else:
                    g, secs = run_gensim(text, cfg)
                    gvec = Vectors(list(g.wv.index_to_key), g.wv.vectors)
                    own_sim = g.wv.evaluate_word_pairs(os.path.join(td, "wordsim353.tsv"))[1].statistic
                    own_acc = g.wv.evaluate_word_analogies(os.path.join(td, "questions-words.txt"))[0]
                    rows["gensim"].append({"seed": seed, "seconds": secs, "vocab": len(gvec),
                                           **score(gvec, pairs, sections),
                                           "gensim_evaluator_spearman": float(own_sim),
                                           "gensim_evaluator_analogy_accuracy": float(own_acc)})
            o, g_ = rows["ours"][-1], rows["gensim"][-1]
            print(f"{name} seed {seed}: ours {o['seconds']:.1f}s rho {o['spearman']:.4f} acc "
                  f"{o['analogy_accuracy']:.4f} | gensim {g_['seconds']:.1f}s rho {g_['spearman']:.4f} "
                  f"acc {g_['analogy_accuracy']:.4f} (gensim's evaluator: rho "
                  f"{g_['gensim_evaluator_spearman']:.4f}, acc {g_['gensim_evaluator_analogy_accuracy']:.4f})",
                  flush=True)
        summary = {}
        for who, rs in rows.items():
            summary[who] = {k: mean([r[k] for r in rs]) for k in
                            ("seconds", "spearman", "similarity_coverage", "analogy_accuracy", "analogy_coverage")}
            summary[who]["vocab"] = rs[0]["vocab"]
        summary["time_ratio"] = summary["ours"]["seconds"] / summary["gensim"]["seconds"]
        summary["spearman_diff"] = summary["ours"]["spearman"] - summary["gensim"]["spearman"]
        summary["analogy_accuracy_diff"] = summary["ours"]["analogy_accuracy"] - summary["gensim"]["analogy_accuracy"]
        results["corpora"][name] = {"epochs": epochs, "runs": rows, "mean": summary}
        o, g_ = summary["ours"], summary["gensim"]
        print(f"\n| {name} ({epochs} epochs, mean of {args.seeds} seeds) | ours | gensim |\n|---|---|---|")
        print(f"| vocabulary | {o['vocab']} | {g_['vocab']} |")
        print(f"| wordsim353 Spearman (coverage) | {o['spearman']:.4f} ({o['similarity_coverage']:.3f}) | "
              f"{g_['spearman']:.4f} ({g_['similarity_coverage']:.3f}) |")
        print(f"| analogy accuracy (coverage) | {o['analogy_accuracy']:.4f} ({o['analogy_coverage']:.4f}) | "
              f"{g_['analogy_accuracy']:.4f} ({g_['analogy_coverage']:.4f}) |")
        print(f"| train seconds | {o['seconds']:.2f} | {g_['seconds']:.2f} |")
        print(f"| time ratio ours/gensim | {summary['time_ratio']:.2f} | |")
        print(f"| Spearman diff / accuracy diff | {summary['spearman_diff']:+.4f} / "
              f"{summary['analogy_accuracy_diff']:+.4f} | |\n", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=lambda x: float(x) if isinstance(x, np.floating) else str(x))


if __name__ == "__main__":
    main()
