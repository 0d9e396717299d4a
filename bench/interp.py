"""Every head of the default model switched off one at a time on a 256-token text (issue 15's target: under
5 s in total), against one plain forward pass and against L x H separate ablated passes, on 1 thread.

Also (``--smollm2``) what one click in the Ablation view computes on SmolLM2-135M-Instruct (target: under
2 s): ``intervene`` with one head off, and with nine (a layer), on a short prompt, against its plain forward pass.

``--minilm``: the same on the encoder all-MiniLM-L6-v2 (what changes is its sentence embedding,
engine.interp.encoder): one click, and every head's effect, against its forward pass.

``--rollout``: the Rollout view's work (engine.interp.rollout) on the default model and SmolLM2: rollout of a
text from one streamed forward pass, and one position's attention flow, at several lengths.

Usage: ``python -m bench.interp [--rounds N] [--smollm2] [--minilm] [--rollout]``. Medians of interleaved
rounds (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench.machine import describe
from engine.interp.ablation import Site, every_head_effect, intervene
from engine.interp.text import text_input
from engine.models import open_model

TEXT = ("HAMLET:\nTo be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n"
        "And by opposing end them. To die, to sleep;\nNo more; and by a sleep to say we end\n"
        "The heart-ache and the thousand natural shocks")


def timed(fn) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def report(title: str, times: dict[str, list[float]]) -> dict[str, float]:
    """Print each timing's median beside its ratio to the forward pass (``times["forward"]``); the medians."""
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"machine: {describe()}")
    print(title)
    for k, v in med.items():
        print(f"  {k:<26} {v * 1000:9.1f} ms   {v / med['forward']:6.1f} x one forward pass")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--smollm2", action="store_true", help="also time an Ablation click on SmolLM2")
    ap.add_argument("--minilm", action="store_true", help="also time an Ablation click and every head on MiniLM")
    ap.add_argument("--rollout", action="store_true", help="time rollout and flow instead of the ablation")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.rollout:
        rollout_times(args.rounds)
        return
    if args.smollm2:
        smollm2_click(args.rounds)
    if args.minilm:
        minilm_click(args.rounds)
    loaded = open_model("default")
    model, tok = loaded.model, loaded.tokenizer
    text = TEXT[:model.cfg.context - len(tok.prefix_ids)]
    idx = text_input(model, tok, text).tensor
    T = idx.shape[1]
    L, H = model.cfg.L, model.cfg.H

    def forward() -> None:
        with torch.no_grad():
            model(idx)

    def separate() -> None:  # the obvious way: one ablated pass per head (and the clean pass, each time)
        for layer in range(L):
            for head in range(H):
                intervene(model, tok, text, [Site(layer, head)])

    every_head_effect(model, tok, text)  # warm up
    times: dict[str, list[float]] = {"forward": [], "every_head_effect": [], "every_head_effect (mean)": [],
                                     "separate passes": []}
    for _ in range(args.rounds):
        times["forward"].append(timed(forward))
        times["every_head_effect"].append(timed(lambda: every_head_effect(model, tok, text)))
        times["every_head_effect (mean)"].append(timed(lambda: every_head_effect(model, tok, text, "mean")))
        times["separate passes"].append(timed(separate))
    med = report(f"default model (L={L}, H={H}, d={model.cfg.d}), {T} tokens, median of {args.rounds} rounds",
                 times)
    print(json.dumps({"tokens": T, "heads": L * H, **{k: round(v, 4) for k, v in med.items()}}))


def smollm2_click(rounds: int, text: str = "To be, or not to be: that is the question.") -> None:
    """An Ablation-view click on SmolLM2: one intervened pass (clean and ablated, bars and per-token loss)."""
    loaded = open_model("smollm2")
    model, tok = loaded.model, loaded.tokenizer
    idx = text_input(model, tok, text).tensor
    H = model.cfg.H

    def forward() -> None:
        with torch.no_grad():
            model(idx)

    one, layer = [Site(14, 3)], [Site(14, h) for h in range(H)]
    intervene(model, tok, text, one)  # warm up
    times: dict[str, list[float]] = {"forward": [], "one head off": [], f"{H} heads off": []}
    for _ in range(rounds):
        times["forward"].append(timed(forward))
        times["one head off"].append(timed(lambda: intervene(model, tok, text, one)))
        times[f"{H} heads off"].append(timed(lambda: intervene(model, tok, text, layer)))
    report(f"SmolLM2-135M-Instruct (L={model.cfg.L}, H={H}), {idx.shape[1]} tokens, median of {rounds} rounds",
           times)


def minilm_click(rounds: int) -> None:
    """An Ablation-view click on the encoder MiniLM (the sentence embedding's change), and every head's effect."""
    from engine.interp.encoder import encoder_input, every_head_embedding_effect, intervene_encoder

    loaded = open_model("minilm")
    model, tok = loaded.model, loaded.tokenizer
    idx = encoder_input(model, tok, TEXT).tensor
    L, H = model.cfg.L, model.cfg.H

    def forward() -> None:
        with torch.no_grad():
            model(idx, head=False)

    one = [Site(5, 3)]
    every_head_embedding_effect(model, tok, TEXT)  # warm up
    times: dict[str, list[float]] = {"forward": [], "one head off": [], "every head's effect": []}
    for _ in range(rounds):
        times["forward"].append(timed(forward))
        times["one head off"].append(timed(lambda: intervene_encoder(model, tok, TEXT, one)))
        times["every head's effect"].append(timed(lambda: every_head_embedding_effect(model, tok, TEXT)))
    report(f"all-MiniLM-L6-v2 (L={L}, H={H}), {idx.shape[1]} tokens, median of {rounds} rounds", times)


def rollout_times(rounds: int) -> None:
    """Rollout and one position's flow (the Rollout view's two jobs) at several lengths, on two models."""
    long = (TEXT + " ") * 40
    print(f"machine: {describe()}")
    for name, lengths in (("default", (64, 128, 256)), ("smollm2", (64, 128, 158))):
        loaded = open_model(name)
        model, tok = loaded.model, loaded.tokenizer
        for n in lengths:
            _rollout_at(name, model, tok, long, n, rounds)


def _rollout_at(name: str, model, tok, text: str, n: int, rounds: int) -> None:  # noqa: ANN001
    from engine.interp.rollout import rollout_for_text

    idx = text_input(model, tok, text).tensor[:, -n:]
    r = rollout_for_text(model, tok, text, max_tokens=n)
    times: dict[str, list[float]] = {"forward": [], "rollout": [], "flow of the last position": []}
    for _ in range(rounds):
        times["forward"].append(timed(lambda: model(idx, head=False)))
        times["rollout"].append(timed(lambda: rollout_for_text(model, tok, text, max_tokens=n)))
        times["flow of the last position"].append(timed(lambda: r.flow_rows([len(r.tokens) - 1])))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  {name:<8} T={len(r.tokens):>4} L={model.cfg.L:>2}: forward {med['forward'] * 1000:8.1f} ms, "
          f"rollout {med['rollout'] * 1000:8.1f} ms ({med['rollout'] / med['forward']:.1f} x), flow of one "
          f"position {med['flow of the last position'] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
