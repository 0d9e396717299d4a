"""Interpretability: switch heads off, patch them, read the residual stream (issue 15, the engine half).

No Qt here, ever. The pieces, each a small module:

- :mod:`engine.interp.hooks`: named hook points on the one :class:`engine.model.Transformer`
  (``blocks.{l}.attn.hook_z``: the per-head outputs sum_j alpha_ij V(x_j) of seed 002 Eq. 11.13-11.14
  before W_c; ``blocks.{l}.hook_mlp_out``: the feed-forward output z' of Eq. 11.16), on only inside
  :func:`~engine.interp.hooks.hooks`, and a capture of what passes through them.
- :mod:`engine.interp.ablation`: zero-, mean-ablation and activation patching of heads and MLPs, the
  change in loss and next-token distribution; :func:`~engine.interp.ablation.every_head_effect`.
- :mod:`engine.interp.lens`: the logit lens.
- :mod:`engine.interp.heads`: previous-token, first-token, duplicate-token and induction scores.
- :mod:`engine.interp.rollout`: attention rollout and attention flow (Abnar & Zuidema 2020).
- :mod:`engine.interp.compare`: two models on one text, side by side and as a difference.
"""
