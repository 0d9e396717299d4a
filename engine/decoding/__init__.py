"""Decoding explorer: greedy search, beam search with its whole tree, sampling, over a key/value cache.

Seed 001 ("Generative AI"): an autoregressive model gives P(y_{i+1} | x, y_1..y_i); we would like
argmax_y prod_i P(y_i | x, y_<i). Greedy search takes the best token one step at a time; beam search
(Figure 10.10) keeps the k best partial hypotheses by cumulative log-probability; exhaustive search of
the tree is too costly. Sampling draws from the (reshaped) distribution instead.

Modules:

- :mod:`engine.decoding.cache`: the window rule and :class:`Decoder` (next-token logits, cached or not).
- :mod:`engine.decoding.search`: :func:`greedy`, :class:`BeamSearch` (stepwise, records its tree).
- :mod:`engine.decoding.tree`: :class:`BeamTree`, the JSON-serialisable search tree.
- :mod:`engine.decoding.sampling`: temperature, top-k, top-p, seeded samples, the next-token panel.
- :mod:`engine.decoding.common`: prompts, end-of-sequence rules, masked log-probabilities.
"""

from engine.decoding.cache import Decoder, window_start
from engine.decoding.common import EosRule, Generation
from engine.decoding.sampling import NextTokenPanel, Sample, next_token_panel, sample, samples
from engine.decoding.search import BeamResult, BeamSearch, Hypothesis, beam_search, greedy
from engine.decoding.tree import BeamNode, BeamTree

__all__ = [
    "BeamNode", "BeamResult", "BeamSearch", "BeamTree", "Decoder", "EosRule", "Generation", "Hypothesis",
    "NextTokenPanel", "Sample", "beam_search", "greedy", "next_token_panel", "sample", "samples", "window_start",
]
