"""Decoding speed on the embedded default model: the key/value cache and beam search.

One command: ``python -m bench.decoding_speed`` (one torch thread). It measures, in one run, side by side:

- greedy decoding of 200 tokens with the cache, and without it under the same window rule (the same
  tokens; the ratio is the cache's gain), and without it on the sliding window (``--no-cache --window-keep
  T-1``: the whole [bos] + last T-1 tokens every step, how the engine generated before the cache);
- beam search k = 8 for 50 tokens (tree recording included);
- the largest difference between cached and uncached logits over the 200 steps.

Each figure is the median of several rounds (the three greedy variants interleaved within each round, so
a busy machine slows them alike); CPU time (process_time) is reported next to wall time because the CPU
is shared. Results go to docs/benchmarks-decoding.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from bench.machine import cpu_model
from engine.checkpoint import load_checkpoint
from engine.decoding import BeamSearch, Decoder, greedy

PROMPT = "ROMEO:\n"
N_TOKENS = 200
ROUNDS = 7
OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-decoding.md"


def machine() -> dict:
    model = cpu_model()
    return {"cpu": model, "nproc": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()}


def timed(fn) -> tuple[float, float, object]:
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def max_logit_gap(model, tok, ids: list[int]) -> float:
    """Feed the same tokens to a cached and an uncached decoder; the largest logit difference."""
    a, b = Decoder(model, tok.bos_id, len(ids), use_cache=True), Decoder(model, tok.bos_id, len(ids), use_cache=False)
    gen = greedy(model, tok, ids, N_TOKENS)
    la, lb = a.prefill([ids]), b.prefill([ids])
    gap = float((la - lb).abs().max())
    for x in gen.ids[:-1]:
        la, lb = a.step([x]), b.step([x])
        gap = max(gap, float((la - lb).abs().max()))
    return gap


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the embedded model)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.checkpoint)
    model, tok = loaded.model, loaded.tokenizer
    T = model.cfg.context
    before = machine()
    variants = {
        "cached": dict(use_cache=True),
        "uncached_same_rule": dict(use_cache=False),
        "uncached_sliding": dict(use_cache=False, window_keep=T - 1),
    }
    for kw in variants.values():  # warm up
        greedy(model, tok, PROMPT, 30, **kw)
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    texts = {}
    for _ in range(ROUNDS):
        for name, kw in variants.items():
            w, c, g = timed(lambda kw=kw: greedy(model, tok, PROMPT, N_TOKENS, **kw))
            wall[name].append(w)
            cpu[name].append(c)
            texts[name] = g.ids
    assert texts["cached"] == texts["uncached_same_rule"], "the cache changed the output"
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    pair = [u / c for u, c in zip(wall["uncached_same_rule"], wall["cached"], strict=True)]
    pair_sliding = [u / c for u, c in zip(wall["uncached_sliding"], wall["cached"], strict=True)]

    beam_wall, beam_cpu, nodes = [], [], 0
    BeamSearch(model, tok, PROMPT, k=8, max_new=10).run()
    for _ in range(5):
        w, c, r = timed(lambda: BeamSearch(model, tok, PROMPT, k=8, alpha=1.0, max_new=50).run())
        beam_wall.append(w)
        beam_cpu.append(c)
        nodes = len(r.tree)
    prompt_ids = tok.encode(PROMPT).ids
    gap = max_logit_gap(model, tok, prompt_ids)
    after = machine()

    result = {
        "greedy_200_ms": {k: round(v * 1e3, 1) for k, v in med.items()},
        "greedy_200_cpu_ms": {k: round(v * 1e3, 1) for k, v in med_cpu.items()},
        "speedup_vs_uncached_same_rule": round(statistics.median(pair), 2),
        "speedup_vs_uncached_same_rule_cpu": round(med_cpu["uncached_same_rule"] / med_cpu["cached"], 2),
        "speedup_vs_uncached_sliding": round(statistics.median(pair_sliding), 2),
        "speedup_vs_uncached_sliding_cpu": round(med_cpu["uncached_sliding"] / med_cpu["cached"], 2),
        "beam_k8_50_s": round(statistics.median(beam_wall), 3),
        "beam_k8_50_cpu_s": round(statistics.median(beam_cpu), 3),
        "beam_k8_50_best_s": round(min(beam_wall), 3),
        "beam_tree_nodes": nodes,
        "max_logit_gap_cached_vs_uncached": gap,
        "model": {"L": model.cfg.L, "H": model.cfg.H, "d": model.cfg.d, "context": T, "prompt_tokens": len(prompt_ids),
                  "parameters": model.num_parameters(), "tokenizer": tok.kind,
                  "checkpoint": args.checkpoint or "embedded default"},
        "machine_before": before,
        "machine_after": after,
    }
    write_report(result)
    print(json.dumps(result))


def write_report(r: dict) -> None:
    m = r["machine_before"]
    g, gc = r["greedy_200_ms"], r["greedy_200_cpu_ms"]
    c = r["model"]
    T = c["context"]
    fits = c["prompt_tokens"] + 1 + N_TOKENS <= T  # <|bos|>, the prompt and the new tokens in one window
    lines = [
        "# Decoding benchmarks",
        "",
        f"`python -m bench.decoding_speed` (one torch thread), {c['checkpoint']} model ({c['L']} layers, {c['H']} "
        f"heads, d {c['d']}, context {T}, {c['tokenizer']}-level, {c['parameters']:,} parameters), prompt {PROMPT!r},",
        f"greedy decoding of {N_TOKENS} tokens; median of {ROUNDS} rounds, the variants interleaved within each round.",
        "",
        f"Machine: {m['cpu']}, nproc {m['nproc']}, torch {m['torch']}, Python {m['python']}; load average "
        f"{m['load_average']} before and {r['machine_after']['load_average']} after (the CPU is shared).",
        "",
        "| greedy, 200 tokens | wall ms | CPU ms | cache speed-up (wall / CPU) |",
        "|---|---|---|---|",
        f"| with the cache | {g['cached']} | {gc['cached']} | |",
        f"| without, same window rule (same tokens) | {g['uncached_same_rule']} | {gc['uncached_same_rule']} | "
        f"{r['speedup_vs_uncached_same_rule']}x / {r['speedup_vs_uncached_same_rule_cpu']}x |",
        f"| without, sliding window of T every step (`--window-keep T-1`) | {g['uncached_sliding']} | "
        f"{gc['uncached_sliding']} | {r['speedup_vs_uncached_sliding']}x / {r['speedup_vs_uncached_sliding_cpu']}x |",
        "",
        "Targets (issue): cache speed-up at least 5x: "
        f"{'met' if r['speedup_vs_uncached_same_rule'] >= 5 else 'NOT met'}"
        f" ({r['speedup_vs_uncached_same_rule']}x same rule, {r['speedup_vs_uncached_sliding']}x sliding); beam search"
        f" k = 8 x 50 tokens under 1 s: {'met' if r['beam_k8_50_s'] < 1 else 'NOT met'}.",
        "",
        f"Beam search k = 8, 50 tokens, alpha 1, tree recorded ({r['beam_tree_nodes']} nodes): "
        f"{r['beam_k8_50_s']} s median wall ({r['beam_k8_50_best_s']} s best, {r['beam_k8_50_cpu_s']} s CPU).",
        "",
        "Cached vs uncached logits over the 200 steps: largest difference "
        f"{r['max_logit_gap_cached_vs_uncached']:.2e} (float32; tests/decoding/test_cache.py checks < 1e-5 in float64,",
        "where only the cache's logic can differ, and the float32 rounding separately).",
        "",
        f"Window rule (engine/decoding/cache.py): beyond the context the window restarts from <|bos|> and the last "
        f"T/2 = {T // 2}",
        f"tokens, so the cache is re-filled once every {T // 2} tokens. "
        + ("Here the prompt and the 200 tokens fit in one window, so the cache is filled once and every uncached "
           "step recomputes the whole prefix." if fits else
           "The uncached same-rule run recomputes the current window at each step."),
        "The gain grows with the context: with a 64-token context (the benchmark recipe of issue 2) the cache "
        "is re-filled",
        "every 32 tokens and the uncached windows are short (33-64 tokens), and the gain was 3.6x; a one-token "
        "step of this",
        "small model costs about 0.35-0.4 ms of CPU, almost all per-operation overhead (about 100 small torch calls).",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
