"""What the Few-shot view computes (engine.interp.fewshot, one query at a time or a curve k by k).

:func:`one_query`: the prompt of a task's query with k examples, the model's greedy answer against the
expected one, and the attention from the answer's first token back to each example line (per layer, mean over
heads). :func:`accuracy_curve`: accuracy against k over the first ``queries`` queries, one k at a time,
reporting each point as it is measured (``token.report``) and stopping between two k when cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.errors import UserError
from engine.interp.fewshot import (
    DEFAULT_KS,
    ExampleAttention,
    Judge,
    Prompt,
    PromptBuilder,
    few_shot,
    load_task,
)


@dataclass
class QueryView:
    task: str
    k: int
    query: int
    prompt: Prompt
    output: str
    correct: bool
    attention: ExampleAttention  # from_answer: (L, k)
    tokens: int  # the prompt's length in tokens


def check_decoder(model: Any) -> None:
    if model.objective != "next" or not model.has_lm_head or not model.cfg.causal:
        raise UserError(f"{model.name or 'this model'} does not predict the next token: few-shot prompting needs "
                        "a decoder")


@torch.no_grad()
def one_query(loaded: Any, task_name: str, query: int, k: int) -> QueryView:
    """The prompt, answer and attention of one query (module docstring)."""
    task = load_task(task_name)
    model = loaded.model
    check_decoder(model)
    if not 0 <= query < len(task.items):
        raise UserError(f"query {query}: the task {task.name} has {len(task.items)} items")
    most = len(task.items) - 1
    if not 0 <= k <= most:
        raise UserError(f"k={k}: the task {task.name} has {len(task.items)} items, so a prompt can hold 0 to "
                        f"{most} examples besides its query")
    p = PromptBuilder(loaded, task).prompt(query, k)
    if len(p.ids) + len(p.answer) > model.cfg.context:
        raise UserError(f"k={k}: this prompt is {len(p.ids) + len(p.answer)} tokens with its answer; "
                        f"{model.name or 'this model'}'s context is {model.cfg.context}")
    was = model.training
    model.eval()
    try:
        judge = Judge(loaded, task)
        r = judge.judge([p])[0]
        att = judge.attention(p, r.output)
    finally:
        model.train(was)
    return QueryView(task.name, k, query, p, r.output, r.correct, att, len(p.ids))


def accuracy_curve(loaded: Any, task_name: str, queries: int, token: Any, ks: tuple[int, ...] = DEFAULT_KS
                   ) -> dict[int, float]:
    """{k: accuracy} over the task's first ``queries`` queries; each (k, accuracy) reported as it comes."""
    task = load_task(task_name)
    check_decoder(loaded.model)
    out: dict[int, float] = {}
    for k in ks:
        token.check()
        acc = few_shot(loaded, task, [k], queries=min(queries, len(task.items)), token=token).accuracy_by_k[k]
        out[k] = acc
        token.report((k, acc))
    return out


def line_attention(view: QueryView, layer: int | None) -> np.ndarray:
    """(k,) attention from the answer to each example line: one layer's, or the mean over layers (None)."""
    a = view.attention.from_answer
    if a.size == 0:
        return np.zeros(view.k)
    return a.mean(0) if layer is None else a[layer]
