"""``txe`` subcommands for word embeddings: word2vec, neighbours, analogy, evaluate-embeddings,
project-embeddings, positional-similarity (see engine.cli for the JSON / exit-code contract)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.clikit import common_parent, progress
from engine.errors import UserError
from engine.files import atomic_write, check_output
from engine.validate import check_memory, float_flag, int_flag, seed_flag


def _vectors_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vectors", required=True,
                   help="word2vec/GloVe text file, or a transformer: a checkpoint or Hugging Face folder, a .gguf "
                        "file, or a model name (default, smollm2, minilm)")
    p.add_argument("--matrix", choices=["embedding", "unembedding"], default="embedding",
                   help="for a checkpoint: token embedding W_E or unembedding W_U")


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from engine.embeddings.io import load_vectors

    return load_vectors(args.vectors, args.matrix)


def cmd_word2vec(args: argparse.Namespace) -> dict[str, Any]:
    from engine.corpus import load_corpus
    from engine.embeddings.io import write_word2vec
    from engine.embeddings.word2vec import SkipGram, Word2VecConfig, prepare
    from engine.events import Evaluation, Finished, Progress

    out = check_output(args.out)
    cfg = Word2VecConfig(dim=args.dim, window=args.window, epochs=args.epochs, min_count=args.min_count,
                         negative=args.negative, sample=args.sample, lr=args.lr, batch=args.batch,
                         seed=args.seed, max_vocab=args.max_vocab)
    cfg.validate()
    vocab, ids = prepare(load_corpus(args.corpus).text, cfg)
    check_memory(3 * 2 * 4 * len(vocab) * cfg.dim, f"skip-gram vectors of {len(vocab):,} words x {cfg.dim}")
    model = SkipGram(vocab, ids, cfg)
    bar = progress(total=1000, desc="word2vec")
    summary: dict[str, Any] = {}
    try:
        for event in model.run():
            if isinstance(event, Progress):
                m = event.metrics
                bar.n = int((event.fraction or 0.0) * 1000)
                bar.set_postfix(epoch=m["epoch"], loss=f"{m['loss']:.3f}", words_s=f"{m['words_per_s']:,.0f}")
            elif isinstance(event, Evaluation):
                m = event.metrics
                bar.write(f"epoch {m['epoch']}: loss {m['loss']:.4f} (frozen-vector loss {m['eval_loss']:.4f}, "
                          f"{m['pairs']:,} pairs)", file=sys.stderr)
            elif isinstance(event, Finished):
                summary = event.summary
    finally:
        bar.close()
    write_word2vec(model.vectors(f"skip-gram on {args.corpus}"), out)
    return {"vocab": summary["vocab"], "tokens": summary["tokens"], "seconds": summary["seconds"],
            "loss_per_epoch": summary["loss_per_epoch"], "eval_loss_per_epoch": summary["eval_loss_per_epoch"],
            "pairs_per_epoch": summary["pairs_per_epoch"],
            "objective": "full softmax" if cfg.negative == 0 else f"negative sampling (K={cfg.negative})",
            "out": str(out)}


def cmd_neighbours(args: argparse.Namespace) -> dict[str, Any]:
    from engine.embeddings.analysis import neighbours

    if args.k < 1:
        raise UserError("-k must be at least 1")
    vec = _load(args)
    return {"word": args.word, "neighbours": [[w, s] for w, s in neighbours(vec, args.word, args.k)]}


def cmd_analogy(args: argparse.Namespace) -> dict[str, Any]:
    from engine.embeddings.analysis import analogy

    if args.k < 1:
        raise UserError("-k must be at least 1")
    vec = _load(args)
    res = analogy(vec, args.a, args.b, args.c, k=args.k, method=args.method, expected=args.expect)
    out: dict[str, Any] = {"query": f"{args.a} - {args.b} + {args.c}", "method": args.method,
                           "answers": [[w, s] for w, s in res.answers]}
    if args.expect is not None:
        out["expected"] = args.expect
        out["expected_rank"] = res.expected_rank
    return out


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.embeddings.analysis import (
        evaluate_analogies,
        evaluate_similarity,
        read_analogy_file,
        read_similarity_file,
    )

    if not args.similarity and not args.analogies:
        raise UserError("give --similarity FILE and/or --analogies FILE")
    # read the test files before the (possibly large) vectors, so a typo fails fast
    pairs = read_similarity_file(args.similarity) if args.similarity else None
    sections = read_analogy_file(args.analogies) if args.analogies else None
    vec = _load(args)
    out: dict[str, Any] = {"vectors": str(args.vectors), "vocab": len(vec), "dim": vec.dim,
                           "spearman": None, "analogy_accuracy": None, "analogy_coverage": None}
    if pairs is not None:
        out.update(evaluate_similarity(vec, pairs))
    if sections is not None:
        res = evaluate_analogies(vec, sections, method=args.method, restrict_vocab=args.restrict_vocab)
        out.update(res)
        out["analogy_method"] = args.method
    return out


def cmd_project(args: argparse.Namespace) -> dict[str, Any]:
    from engine.embeddings.analysis import projection_neighbours_disagreement
    from engine.embeddings.projection import Layout, ProjectionConfig, project, write_csv
    from engine.events import Finished, Progress

    check_output(args.out)
    vec = _load(args)
    if args.limit:
        vec = vec.subset(args.limit)
    cfg = ProjectionConfig(method=args.method, dims=args.dims, seed=args.seed, perplexity=args.perplexity,
                           iterations=args.iterations, early_iterations=min(250, args.iterations))
    bar = progress(total=cfg.iterations if cfg.method == "tsne" else 1, desc=cfg.method)
    done: Layout | None = None
    try:
        for event in project(vec.matrix, cfg):
            if isinstance(event, Progress):
                bar.n = event.step
                bar.refresh()
            elif isinstance(event, Finished):
                done = event.result
    finally:
        bar.close()
    assert done is not None
    dis = projection_neighbours_disagreement(vec.matrix, done.coords, k=args.k)["disagreement"]
    extra = {"neighbour_disagreement": dis.round(4)}
    if args.clusters:
        from engine.embeddings.explore import kmeans_labels

        extra["cluster"] = kmeans_labels(vec.matrix, args.clusters, args.seed)
    write_csv(args.out, vec.words, done.coords, extra)
    return {"points": len(vec), "method": cfg.method, "dims": cfg.dims, "seconds": done.seconds,
            "mean_neighbour_disagreement": float(dis.mean()), "out": str(args.out)}


def cmd_positional(args: argparse.Namespace) -> dict[str, Any]:
    """The Embeddings view's positional tab, headless: cosine of every pair of position vectors."""
    import numpy as np

    from engine.embeddings.explore import mean_by_offset, positional_similarities
    from engine.models import open_model

    out = Path(args.out) if args.out is not None else None
    if out is not None:  # before the work
        if out.suffix != ".npz":
            raise UserError(f"--out must end in .npz (got {out.name[:60]})")
        check_output(out)
    loaded = open_model(args.checkpoint)
    ps = positional_similarities(loaded.model)
    if out is not None:
        atomic_write(out, lambda f: np.savez_compressed(f, model=ps.model, sinusoidal=ps.sinusoidal))
    return {"checkpoint": str(loaded.path), "kind": ps.kind, "T": ps.T, "d": ps.d,
            "mean_cosine_by_distance": {"model": [round(float(x), 4) for x in mean_by_offset(ps.model)],
                                        "sinusoidal": [round(float(x), 4) for x in mean_by_offset(ps.sinusoidal)]},
            "out": args.out}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("word2vec", parents=[common_parent()], help="train skip-gram word vectors")
    p.add_argument("--corpus", default="shakespeare", help="'shakespeare' or a UTF-8 text file")
    p.add_argument("--dim", type=int_flag(1, 4096), default=100, help="vector dimension d")
    p.add_argument("--window", type=int_flag(1, 1000), default=5, help="window c (Eq. 11.3)")
    p.add_argument("--epochs", type=int_flag(1, 10_000), default=5)
    p.add_argument("--min-count", type=int_flag(1, 10**12), default=5)
    p.add_argument("--negative", type=int_flag(0, 1000), default=5,
                   help="negative samples K; 0 = full softmax (Eq. 11.4)")
    p.add_argument("--sample", type=float_flag(0.0, 1.0), default=1e-3, help="subsampling threshold (0 = off)")
    p.add_argument("--lr", type=float_flag(0.0, 10.0, lo_open=True), default=0.025)
    p.add_argument("--batch", type=int_flag(1, 1_000_000), default=1024, help="pairs per vectorised update")
    p.add_argument("--max-vocab", type=int_flag(0, 100_000_000), default=0)
    p.add_argument("--seed", type=seed_flag, default=1)
    p.add_argument("--out", required=True, help="vectors file (word2vec text format)")
    # small batched updates: one thread is fastest, and two thrash on a shared 2-core machine
    p.set_defaults(func=cmd_word2vec, threads=1)

    p = sub.add_parser("neighbours", parents=[common_parent()], help="nearest words by cosine")
    _vectors_args(p)
    p.add_argument("word")
    p.add_argument("-k", type=int_flag(1, 1_000_000), default=10)
    p.set_defaults(func=cmd_neighbours)

    p = sub.add_parser("analogy", parents=[common_parent()], help="answers to A - B + C")
    _vectors_args(p)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("-k", type=int_flag(1, 1_000_000), default=5)
    p.add_argument("--method", choices=["add", "mul"], default="add", help="3CosAdd or 3CosMul")
    p.add_argument("--expect", default=None, help="report the rank of this expected answer")
    p.set_defaults(func=cmd_analogy)

    p = sub.add_parser("evaluate-embeddings", parents=[common_parent()],
                       help="word-similarity Spearman and analogy accuracy/coverage")
    _vectors_args(p)
    p.add_argument("--similarity", help="word pairs with human scores (wordsim353 / simlex999 style)")
    p.add_argument("--analogies", help="analogy questions (questions-words.txt style)")
    p.add_argument("--method", choices=["add", "mul"], default="add")
    p.add_argument("--restrict-vocab", type=int_flag(1, 10**9), default=300_000,
                   help="answer analogies from the most frequent N words (gensim's default)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("project-embeddings", parents=[common_parent()],
                       help="2D/3D projection (PCA or t-SNE) to CSV")
    _vectors_args(p)
    p.add_argument("--method", choices=["pca", "tsne"], default="pca")
    p.add_argument("--dims", type=int, choices=[2, 3], default=2)
    p.add_argument("--limit", type=int_flag(0, 10**9), default=0, help="only the first N words (0 = all)")
    p.add_argument("--perplexity", type=float_flag(1.0, 1000.0), default=30.0)
    p.add_argument("--iterations", type=int_flag(1, 100_000), default=750)
    p.add_argument("--seed", type=seed_flag, default=1)
    p.add_argument("-k", type=int_flag(1, 1000), default=10, help="neighbours compared for the disagreement column")
    p.add_argument("--clusters", type=int_flag(0, 100_000), default=0,
                   help="add a k-means cluster column (k clusters, by cosine)")
    p.add_argument("--out", required=True, help="CSV file: word,x,y[,z],neighbour_disagreement[,cluster]")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("positional-similarity", parents=[common_parent()],
                       help="cosine of every pair of position vectors, learned and sinusoidal")
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default=None,
                   help="model: default (the embedded model), a checkpoint or Hugging Face folder")
    p.add_argument("--out", default=None, help=".npz with the (T, T) matrices 'model' and 'sinusoidal'")
    p.set_defaults(func=cmd_positional)
