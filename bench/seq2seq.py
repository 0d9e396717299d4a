"""Translation benchmark (issue 14): the story of seeds 000 and 002 measured. An RNN encoder-decoder without
attention (GRU), one with attention (bidirectional GRU encoder, the decoder state as the query) and a
transformer encoder-decoder, each trained for the same training time on the grammar task
(engine.seq2seq.grammar), evaluated on the same held-out sentences by source length.

Targets: on held-out sentences of 30+ source words, the transformer's exact match at least 30 points above
the no-attention RNN's, the attention RNN between them; sentences of <= 8 words above 90% for all three.
Run from the repository root::

    python -m bench.seq2seq [--minutes 6] [--seed 0] [--threads 1] [--clock cpu] [--json FILE] [--asset]

Prints a markdown table (buckets x families) and the machine; ``--json FILE`` writes the whole result,
``--asset`` also writes it to ``assets/seq2seq-story.json`` (what the app draws before the user runs one),
``--out DIR`` keeps each family's checkpoint in DIR/ARCH. ``--clock cpu`` (the default) gives each family
the same minutes of its training thread's CPU time, so a shared machine's other work does not favour the
family that ran when it was quiet. The families can run side by side, one process each, to save wall
time: ``--archs gru --json gru.json`` (and the others), then ``--merge gru.json rnn-attention.json
transformer.json [--asset]`` prints and writes the combined result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bench.machine import describe
from engine.seq2seq.data import grammar_data
from engine.seq2seq.story import STORY_ARCHS, Story, StoryEvent, story
from engine.tasks import CancelToken

ASSET = Path(__file__).resolve().parents[1] / "assets" / "seq2seq-story.json"
NAMES = {"gru": "GRU, no attention", "rnn-attention": "GRU + attention", "transformer": "transformer"}


def table(s: Story) -> str:
    archs = list(s.families)
    lines = ["| source words | " + " | ".join(NAMES.get(a, a) for a in archs) + " |",
             "|---|" + "---:|" * len(archs)]
    for b in s.buckets:
        n = next(iter(s.families.values())).counts.get(b, 0)
        cells = [f"{100 * s.families[a].exact_match_by_length.get(b, float('nan')):.1f}" for a in archs]
        lines.append(f"| {b} ({n}) | " + " | ".join(cells) + " |")
    lines.append("| all, exact match | " + " | ".join(f"{100 * s.families[a].exact_match:.1f}" for a in archs) + " |")
    lines.append("| BLEU | " + " | ".join(f"{s.families[a].bleu:.1f}" for a in archs) + " |")
    lines.append("| training steps (64 pairs) | " + " | ".join(f"{s.families[a].steps:,}" for a in archs) + " |")
    lines.append("| parameters | " + " | ".join(f"{s.families[a].parameters:,}" for a in archs) + " |")
    return "\n".join(lines)


def verdict(s: Story) -> list[str]:
    f = s.families
    out = []
    if {"gru", "rnn-attention", "transformer"} <= set(f):
        long = {a: f[a].exact_match_by_length.get("30+", 0.0) for a in f}
        gap = long["transformer"] - long["gru"]
        between = long["gru"] <= long["rnn-attention"] <= long["transformer"]
        out.append(f"30+ words: transformer {100 * long['transformer']:.1f}, attention RNN "
                   f"{100 * long['rnn-attention']:.1f}, no attention {100 * long['gru']:.1f}; gap "
                   f"{100 * gap:+.1f} points (target >= 30): {'met' if gap >= 0.30 else 'NOT met'}; attention RNN "
                   f"between them: {'met' if between else 'NOT met'}")
    short = {a: r.exact_match_by_length.get("3-8", 0.0) for a, r in f.items()}
    out.append("<= 8 words above 90% for all: " + ("met" if min(short.values()) > 0.9 else "NOT met") + " ("
               + ", ".join(f"{a} {100 * v:.1f}" for a, v in short.items()) + ")")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seq2seq")
    p.add_argument("--minutes", type=float, default=6.0, help="training time per family")
    p.add_argument("--archs", default=",".join(STORY_ARCHS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--test-per-bucket", type=int, default=200)
    p.add_argument("--lexicon", default="small", help="small (default) or full")
    p.add_argument("--clock", default="cpu", choices=("cpu", "wall"), help="what the minutes count")
    p.add_argument("--out", default="", help="keep each family's checkpoint in OUT/ARCH")
    p.add_argument("--merge", nargs="+", default=[], metavar="JSON", help="combine single-family runs")
    p.add_argument("--json", default="")
    p.add_argument("--asset", action="store_true", help="also write assets/seq2seq-story.json")
    args = p.parse_args(argv)
    if args.merge:
        return report(merge([Story.from_dict(json.loads(Path(f).read_text(encoding="utf-8"))) for f in args.merge]),
                      args)
    torch.set_num_threads(args.threads)
    data = grammar_data(args.seed, test_per_bucket=args.test_per_bucket, lexicon_size=args.lexicon)
    started = time.perf_counter()
    token = CancelToken()

    def sink(ev: StoryEvent) -> None:
        t = f"({time.perf_counter() - started:.0f} s)"
        if ev.kind == "train" and ev.point.kind == "eval":
            print(f"  {ev.arch:<14} step {ev.point.step:>6,}  {ev.point.seconds:6.0f} s trained  validation exact "
                  f"match {100 * (ev.point.exact_match or 0):5.1f}  {t}", file=sys.stderr, flush=True)
        elif ev.kind == "result":
            print(f"  {ev.arch:<14} held-out: {json.dumps(ev.result.exact_match_by_length)}  BLEU "
                  f"{ev.result.bleu:.1f}  {t}", file=sys.stderr, flush=True)

    token.sink = sink
    s = story(data, args.minutes, tuple(args.archs.split(",")), seed=args.seed, token=token,
              out_dir=args.out or None, clock=args.clock)
    s.machine = describe()
    return report(s, args)


def merge(parts: list[Story]) -> Story:
    """Single-family runs of one protocol (same data, minutes and clock) as one story, in the story's order."""
    first = parts[0]
    for s in parts[1:]:
        if (s.data, s.minutes, s.clock, s.test_sentences) != (first.data, first.minutes, first.clock,
                                                              first.test_sentences):
            raise SystemExit("--merge: the runs differ in data, minutes, clock or test set")
    families = {a: r for s in parts for a, r in s.families.items()}
    order = [a for a in STORY_ARCHS if a in families] + [a for a in families if a not in STORY_ARCHS]
    return Story(first.minutes, first.buckets, {a: families[a] for a in order}, first.data, first.test_sentences,
                 first.machine, max(s.wall_seconds for s in parts), first.clock)


def report(s: Story, args: argparse.Namespace) -> int:
    time_kind = "CPU time of the training thread" if s.clock == "cpu" else "wall time"
    print(f"grammar task ({s.data}), {s.minutes:g} min of training ({time_kind}) per family, "
          f"{s.test_sentences} held-out sentences; {s.wall_seconds:.0f} s in all on {s.machine}\n")
    print("Exact match (%) on held-out sentences by source length (sentences in the bucket):\n")
    print(table(s))
    print()
    for line in verdict(s):
        print("target: " + line)
    raw = json.dumps(s.to_dict(), indent=1)
    if args.json:
        Path(args.json).write_text(raw, encoding="utf-8")
    if args.asset:
        ASSET.write_text(raw, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
