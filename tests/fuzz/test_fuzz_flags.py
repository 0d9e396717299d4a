"""Fuzz every subcommand's flags: each case ends in exit 0 or one line with exit 2 (tests/fuzz/conftest.py)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.assets import Assets, build_assets
from tests.fuzz.conftest import check_outcome
from tests.fuzz.strategies import flags, fuzz_settings, real_numbers, texts, whole_numbers, words

_case = itertools.count()


@pytest.fixture(scope="module")
def assets(tmp_path_factory, tiny_checkpoint) -> Assets:
    return build_assets(tmp_path_factory.mktemp("fuzz-flags"), tiny_checkpoint)


def paths(a: Assets, *usual: object) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([str(p) for p in usual]), st.sampled_from(a.odd_paths))


def run_case(worker, assets: Assets, argv: list[str]) -> None:
    cwd = assets.case_dir(next(_case))
    argv = [str(cwd / "OUT") if x == "OUT" else x for x in argv]
    check_outcome(worker.run(argv, cwd), argv)


def train_flags(a: Assets) -> dict:
    return {
        "--corpus": st.one_of(paths(a, a.corpus), st.sampled_from(["shakespeare:nope", "shakespeare:"])),
        "--tokenizer": words("char", "word", "bpe"),
        "--vocab-size": whole_numbers(0, 2**24, 400, refused=(2**24,)),
        "--split": words("auto", "play", "block"),
        "--layers": whole_numbers(1, 1024, 2, work=True),
        "--heads": whole_numbers(1, 4096, 4),
        "--d-model": whole_numbers(1, 65536, 24, work=True, refused=(65536, 32768)),
        "--d-ff": whole_numbers(0, 262144, 48, work=True),
        "--context": whole_numbers(1, 65536, 24, work=True, refused=(65536,)),
        "--positional": words("learned", "sinusoidal"),
        "--norm": words("pre", "post"),
        "--activation": words("gelu", "relu"),
        "--dropout": real_numbers(0, 0.99),
        "--batch": whole_numbers(1, 65536, 6, work=True),
        "--steps": whole_numbers(1, 10**12, 4, work=True),
        "--lr": real_numbers(1e-6, 10),
        "--min-lr": real_numbers(0, 1e-3),
        "--warmup": whole_numbers(0, 10**12, 5),
        "--seed": whole_numbers(0, 2**32 - 1, 2**32 - 1),
        "--eval-every": whole_numbers(0, 10**12, 3),
        "--snapshot-every": whole_numbers(0, 10**12, 3),
        "--autosave-every": whole_numbers(0, 10**12, 3),
        "--threads": whole_numbers(0, 256, 2, work=True),
        "--out": paths(a, "OUT", a.checkpoint),
        "--untied": None,
        "--resume": None,
        "--overwrite": None,
        "--weights-only": None,
        "--json": None,
    }


TRAIN_BASE = [
    "train",
    "--steps",
    "2",
    "--layers",
    "1",
    "--heads",
    "1",
    "--d-model",
    "8",
    "--context",
    "8",
    "--batch",
    "2",
    "--eval-every",
    "0",
    "--autosave-every",
    "0",
    "--out",
    "OUT",
]


@given(data=st.data())
@fuzz_settings(quick=25)
def test_train(worker, assets, data):
    extra = data.draw(flags(train_flags(assets)))
    run_case(worker, assets, TRAIN_BASE + ["--corpus", str(assets.corpus)] + extra)


@given(data=st.data())
@fuzz_settings(quick=30)
def test_inference_commands(worker, assets, data):
    ck = paths(assets, assets.checkpoint, assets.corpus)
    command = data.draw(st.sampled_from(["sample", "score", "attention", "info", "generate", "positional"]))
    if command == "sample":
        argv = ["sample", "--checkpoint", str(assets.checkpoint), "--prompt", "To"] + data.draw(
            flags(
                {
                    "--checkpoint": ck,
                    "--prompt": texts,
                    "--max-new": whole_numbers(0, 100_000, 20, work=True),
                    "--temperature": real_numbers(0, 5),
                    "--seed": whole_numbers(0, 2**32 - 1, 99),
                    "--json": None,
                }
            )
        )
    elif command in ("score", "attention"):
        argv = [command, "--checkpoint", str(assets.checkpoint)]
        argv += data.draw(
            st.one_of(
                texts.map(lambda t: ["--text", t]), paths(assets, assets.corpus).map(lambda p: ["--text-file", p])
            )
        )
        if command == "attention":
            argv += ["--out", "OUT.npz"] + data.draw(
                flags({"--out": paths(assets, "OUT.npz", "OUT.png"), "--window": words("error", "last")})
            )
        argv += data.draw(flags({"--checkpoint": ck, "--json": None, "--threads": whole_numbers(0, 256, 2, work=True)}))
    elif command == "info":
        argv = ["info"] + data.draw(flags({"--checkpoint": ck, "--json": None}))
    elif command == "positional":
        argv = ["positional-similarity"] + data.draw(flags({"--checkpoint": ck, "--out": paths(assets, "OUT.npz")}))
    else:
        argv = ["generate", "--checkpoint", str(assets.checkpoint), "--max-new", "8"] + data.draw(
            flags(
                {
                    "--checkpoint": ck,
                    "--prompt": texts,
                    "--method": words("greedy", "beam", "sample"),
                    "--max-new": whole_numbers(0, 100_000, 12, work=True),
                    "--eos": texts,
                    "--k": whole_numbers(1, 256, 4, work=True),
                    "--alpha": real_numbers(-10, 10),
                    "--early-stopping": words("heuristic", "true", "never"),
                    "--n-best": whole_numbers(1, 256, 4, work=True),
                    "--rejected": whole_numbers(0, 1000, 5),
                    "--temperature": real_numbers(0, 5),
                    "--top-k": whole_numbers(0, 2**24, 50),
                    "--top-p": real_numbers(0, 1),
                    "--seed": whole_numbers(0, 2**32 - 1, 99),
                    "--window-keep": whole_numbers(1, 65536, 40),
                    "--no-cache": None,
                    "--json": None,
                },
                most=6,
            )
        )
    run_case(worker, assets, argv)


@given(data=st.data())
@fuzz_settings(quick=30)
def test_embedding_commands(worker, assets, data):
    vec = paths(assets, assets.vectors, assets.checkpoint)
    word = st.one_of(st.sampled_from(["king", "queen", "man", "e", "t", "KING"]), texts)
    command = data.draw(st.sampled_from(["word2vec", "neighbours", "analogy", "evaluate", "project"]))
    if command == "word2vec":
        argv = [
            "word2vec",
            "--corpus",
            str(assets.corpus),
            "--dim",
            "8",
            "--epochs",
            "1",
            "--min-count",
            "1",
            "--out",
            "OUT.txt",
        ] + data.draw(
            flags(
                {
                    "--corpus": paths(assets, assets.corpus),
                    "--dim": whole_numbers(1, 4096, 16, work=True),
                    "--window": whole_numbers(1, 1000, 5, work=True),
                    "--epochs": whole_numbers(1, 10_000, 2, work=True),
                    "--min-count": whole_numbers(1, 10**12, 3),
                    "--negative": whole_numbers(0, 1000, 5, work=True),
                    "--sample": real_numbers(0, 1),
                    "--lr": real_numbers(1e-4, 1),
                    "--batch": whole_numbers(1, 10**6, 64),
                    "--max-vocab": whole_numbers(0, 10**8, 50),
                    "--seed": whole_numbers(0, 2**32 - 1, 9),
                    "--out": paths(assets, "OUT.txt"),
                }
            )
        )
    elif command == "neighbours":
        argv = ["neighbours", "--vectors", str(assets.vectors), data.draw(word)] + data.draw(
            flags({"--vectors": vec, "-k": whole_numbers(1, 10**6, 20), "--matrix": words("embedding", "unembedding")})
        )
    elif command == "analogy":
        argv = ["analogy", "--vectors", str(assets.vectors), data.draw(word), data.draw(word), data.draw(word)]
        argv += data.draw(
            flags(
                {
                    "--vectors": vec,
                    "-k": whole_numbers(1, 10**6, 20),
                    "--method": words("add", "mul"),
                    "--expect": word,
                    "--matrix": words("embedding", "unembedding"),
                }
            )
        )
    elif command == "evaluate":
        argv = ["evaluate-embeddings", "--vectors", str(assets.vectors)] + data.draw(
            flags(
                {
                    "--vectors": vec,
                    "--similarity": paths(assets, assets.similarity, assets.analogies),
                    "--analogies": paths(assets, assets.analogies, assets.similarity),
                    "--method": words("add", "mul"),
                    "--restrict-vocab": whole_numbers(1, 10**9, 20),
                }
            )
        )
    else:
        argv = ["project-embeddings", "--vectors", str(assets.vectors), "--out", "OUT.csv", "--iterations", "60"]
        argv += data.draw(
            flags(
                {
                    "--vectors": vec,
                    "--method": words("pca", "tsne"),
                    "--dims": words("2", "3", "4"),
                    "--limit": whole_numbers(0, 10**9, 15),
                    "--perplexity": real_numbers(1, 20),
                    "--iterations": whole_numbers(1, 100_000, 60, work=True),
                    "-k": whole_numbers(1, 1000, 12),
                    "--clusters": whole_numbers(0, 100_000, 6, work=True),
                    "--seed": whole_numbers(0, 2**32 - 1, 9),
                    "--out": paths(assets, "OUT.csv"),
                }
            )
        )
    run_case(worker, assets, argv)


AGENTS = [
    "random",
    "perfect",
    "pubeval",
    "default",
    "mcts:5",
    "mcts:0",
    "mcts:x",
    "mcts:1000000000000",
    "alphabeta:2",
    "alphabeta:99",
    "default:1ply",
    "default:20sims",
    "default:99999999999sims",
    "",
    "nope:3",
]


@given(data=st.data())
@fuzz_settings(quick=30)
def test_rl_commands(worker, assets, data):
    game = data.draw(words("tictactoe", "connect4", "backgammon"))
    agent = st.one_of(
        st.sampled_from(AGENTS),
        st.sampled_from([str(p) for p in assets.agents.values()]),
        st.sampled_from(assets.odd_paths),
    )
    command = data.draw(st.sampled_from(["train", "eval", "analyse", "play"]))
    if command == "train":
        algo = data.draw(words("q", "sarsa", "td", "selfplay"))
        argv = [
            "rl",
            "train",
            "--game",
            game,
            "--algo",
            algo,
            "--games",
            "3",
            "--eval-every",
            "3",
            "--eval-games",
            "1",
            "--hidden",
            "4",
            "--sims",
            "2",
            "--out",
            "OUT",
        ]
        argv += data.draw(
            flags(
                {
                    "--games": whole_numbers(1, 10**9, 4, work=True),
                    "--minutes": real_numbers(1e-6, 1e5, work_limit=1e-3),
                    "--seed": whole_numbers(0, 2**32 - 1, 9),
                    "--lr": real_numbers(1e-4, 1),
                    "--gamma": real_numbers(0, 1),
                    "--epsilon-start": real_numbers(0, 1),
                    "--epsilon-end": real_numbers(0, 1),
                    "--lambda": real_numbers(0, 1),
                    "--hidden": whole_numbers(1, 4096, 8, work=True),
                    "--sims": whole_numbers(1, 10**5, 3, work=True),
                    "--eval-every": whole_numbers(1, 10**9, 4),
                    "--eval-games": whole_numbers(1, 10**6, 2, work=True),
                    "--out": paths(assets, "OUT"),
                    "--resume": None,
                    "--overwrite": None,
                }
            )
        )
    elif command == "eval":
        argv = ["rl", "eval", "--game", game, "--a", data.draw(agent), "--b", data.draw(agent), "--games", "1"]
        argv += data.draw(
            flags({"--games": whole_numbers(1, 10**7, 2, work=True), "--seed": whole_numbers(0, 2**32 - 1, 9)})
        )
    elif command == "analyse":
        argv = ["rl", "analyse", "--game", game, "--agent", data.draw(agent)] + data.draw(
            flags(
                {
                    "--moves": st.one_of(texts, st.sampled_from(["4 4", "1 2 3", "5 1 9", "8 8 8 8 8 8 8", "0", "-1"])),
                    "--position": st.one_of(texts, paths(assets, assets.odd_paths[6])),
                    "--dice": st.one_of(texts, st.sampled_from(["6-1", "7-1", "0-0", "3,3", "1-2-3"])),
                    "--top": whole_numbers(1, 1000, 5),
                    "--seed": whole_numbers(0, 2**32 - 1, 9),
                }
            )
        )
    else:
        argv = ["rl", "play", "--game", game, "--agent", data.draw(agent)] + data.draw(
            flags({"--second": None, "--seed": whole_numbers(0, 2**32 - 1, 9)})
        )
    run_case(worker, assets, argv)


# every flag that takes a path, with a command line that is otherwise cheap and valid
PATH_FLAGS = [
    (["train", *TRAIN_BASE[1:-2], "--corpus", "{corpus}"], "--out", "OUT"),
    (["train", *TRAIN_BASE[1:]], "--corpus", "{corpus}"),
    (["sample", "--prompt", "a", "--max-new", "2"], "--checkpoint", "{checkpoint}"),
    (["score", "--checkpoint", "{checkpoint}"], "--text-file", "{corpus}"),
    (["attention", "--text", "To be", "--out", "OUT.npz"], "--checkpoint", "{checkpoint}"),
    (["attention", "--text", "To be"], "--out", "OUT.npz"),
    (["info"], "--checkpoint", "{checkpoint}"),
    (["generate", "--max-new", "3"], "--checkpoint", "{checkpoint}"),
    (["positional-similarity"], "--out", "OUT.npz"),
    (["word2vec", "--dim", "4", "--epochs", "1", "--min-count", "1", "--out", "OUT.txt"], "--corpus", "{corpus}"),
    (["word2vec", "--dim", "4", "--epochs", "1", "--min-count", "1", "--corpus", "{corpus}"], "--out", "OUT.txt"),
    (["neighbours", "king"], "--vectors", "{vectors}"),
    (["evaluate-embeddings", "--vectors", "{vectors}"], "--similarity", "{similarity}"),
    (["evaluate-embeddings", "--vectors", "{vectors}"], "--analogies", "{analogies}"),
    (["project-embeddings", "--method", "pca", "--out", "OUT.csv"], "--vectors", "{vectors}"),
    (["project-embeddings", "--method", "pca", "--vectors", "{vectors}"], "--out", "OUT.csv"),
    (["rl", "train", "--game", "tictactoe", "--algo", "q", "--games", "5", "--eval-games", "1"], "--out", "OUT"),
    (["rl", "eval", "--game", "tictactoe", "--b", "random", "--games", "1"], "--a", "{ttt}"),
    (["rl", "analyse", "--game", "connect4"], "--agent", "{c4}"),
    (["rl", "analyse", "--game", "tictactoe", "--agent", "random"], "--position", "{position}"),
]


@given(data=st.data())
@fuzz_settings(quick=40)
def test_paths(worker, assets, data):
    """Missing files, folders, pipes, binary, empty, too long, with a NUL byte, ... for every path flag."""
    template, flag, usual = data.draw(st.sampled_from(PATH_FLAGS))
    known = {
        "corpus": assets.corpus,
        "checkpoint": assets.checkpoint,
        "vectors": assets.vectors,
        "similarity": assets.similarity,
        "analogies": assets.analogies,
        "ttt": assets.agents["tictactoe"],
        "c4": assets.agents["connect4-td"],
        "position": assets.odd_paths[6],
    }
    value = data.draw(st.one_of(st.just(usual), st.sampled_from(assets.odd_paths), texts))
    argv = [part.format(**known) if part.startswith("{") else part for part in template]
    run_case(worker, assets, argv + [flag, usual.format(**known) if value is usual else value])
