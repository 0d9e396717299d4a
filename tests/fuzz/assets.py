"""The files fuzz cases start from: a corpus, a checkpoint, vectors, agents, test sets, odd paths."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Assets:
    root: Path
    corpus: Path
    checkpoint: Path
    vectors: Path
    similarity: Path
    analogies: Path
    agents: dict[str, Path]  # "tictactoe", "connect4-td", "connect4-selfplay", "backgammon"
    odd_paths: list[str]  # missing, folders, binary, empty, too long, with NUL, ...

    def case_dir(self, n: int) -> Path:
        d = self.root / "cases" / str(n)
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d


def build_assets(root: Path, checkpoint: str) -> Assets:
    from engine.rl.agents.alphazero import AlphaZeroAgent
    from engine.rl.agents.tabular import TabularAgent
    from engine.rl.agents.td import TDAgent

    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "corpus.txt"
    corpus.write_text(("HAMLET:\nTo be, or not to be: that is the question.\n\n"
                       "OPHELIA:\nGood my lord, how does your honour?\n\n") * 12, encoding="utf-8")
    ckpt = root / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    words = ["king", "queen", "man", "woman", "prince", "lord", "lady", "sword", "crown", "ghost", "night", "day"]
    vectors = root / "vectors.txt"
    lines = [f"{len(words)} 4"] + [f"{w} {i % 3 * 0.5 + 0.1} {i * 0.1 - 0.4} {(-1) ** i * 0.3} {i / 7:.4f}"
                                   for i, w in enumerate(words)]
    vectors.write_text("\n".join(lines) + "\n", encoding="utf-8")
    similarity = root / "sim.tsv"
    similarity.write_text("king\tqueen\t8.5\nman\twoman\t8.3\nsword\tnight\t1.2\n", encoding="utf-8")
    analogies = root / "analogies.txt"
    analogies.write_text(": royal\nking queen man woman\nprince lady lord woman\n", encoding="utf-8")
    agents = {}
    tab = TabularAgent(seed=1)
    for _ in range(30):
        tab.train_episode(0.5)
    agents["tictactoe"] = root / "ttt.json"
    tab.save(agents["tictactoe"])
    agents["connect4-td"] = root / "c4-td.safetensors"
    TDAgent("connect4", hidden=6, seed=1).save(agents["connect4-td"])
    agents["connect4-selfplay"] = root / "c4-selfplay.safetensors"
    AlphaZeroAgent(hidden=6, sims=4, seed=1).save(agents["connect4-selfplay"])
    agents["backgammon"] = root / "bg.safetensors"
    TDAgent("backgammon", hidden=6, seed=1).save(agents["backgammon"])
    (root / "folder").mkdir(exist_ok=True)
    (root / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (root / "empty.txt").write_bytes(b"")
    (root / "spaces.txt").write_text(" \n\t\n", encoding="utf-8")
    (root / "latin1.txt").write_bytes("caf\u00e9 au lait\n".encode("latin-1") * 10)
    (root / "json.txt").write_text(json.dumps({"game": "tictactoe", "board": [0] * 9}), encoding="utf-8")
    fifo = root / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    odd = [str(root / "missing.txt"), str(root / "folder"), str(root / "binary.bin"), str(root / "empty.txt"),
           str(root / "spaces.txt"), str(root / "latin1.txt"), str(root / "json.txt"), str(root / ("x" * 300)),
           "", " ", "/", "/dev/null", "/proc/self/status", "a\x00b", "\u2603.txt", str(root / "missing" / "deep"),
           str(corpus / "child"), str(fifo)]
    return Assets(root, corpus, ckpt, vectors, similarity, analogies, agents, odd)
