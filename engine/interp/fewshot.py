"""Few-shot prompting: accuracy against the number of examples k in the prompt (issue 15).

Seed 000 names GPT-3's *few-shot learning* (Brown et al. 2020), and seed 003 sums up how decoders are
"controlled by prompting (instruction)" with "Few-shots > Zero-shots (shots = examples)". This module
measures it. A task is a list of (input, output) pairs shipped in ``assets/fewshot/NAME.tsv`` (no
network): antonyms, capitals, plurals, past tense, upper case, copy. A prompt with k shots is k example
lines ``input -> output`` drawn from the task's other items (seeded; the k examples of a query are the
first k of one shuffled list, so the 2-shot examples are among the 4-shot ones), then the query line
``input ->``. The model continues greedily; the query counts as answered when the first line of the
continuation, stripped (and a final "." dropped), equals the expected output (case ignored except for
the ``uppercase`` and ``copy`` tasks).

Format: ``raw`` (the lines as plain text, what a base model reads) or ``chat`` (the same lines as the
user's message in the model's chat template, the answer being the assistant's reply). ``raw`` is the
default for every model: on SmolLM2-135M-Instruct it gave the clearer few-shot effect (measured in
docs/benchmarks.md), and it is the only format a model trained here understands.

Speed: the continuation is decided from one batched teacher-forced pass over prompt + expected answer
(right-padded; a causal model's real positions never see the padding): greedy decoding writes the expected
tokens exactly when each is the argmax where it is fed, and the first token that differs shows whether the
line can still turn out right (it then continues greedily with the key/value cache, a few tokens) or
not. The result is the same as decoding every query greedily, at the cost of one forward pass per query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.checkpoint import ASSETS, LoadedModel
from engine.errors import UserError

TASKS_DIR = ASSETS / "fewshot"
CASE_SENSITIVE = ("uppercase", "copy")  # tasks whose answers are judged with their case
FORMATS = ("raw", "chat")
DEFAULT_KS = (0, 1, 2, 4, 8)
ARROW = " ->"
MAX_EXTRA = 8  # tokens decoded past the expected answer's length before a line is judged unfinished
ROWS = 16  # queries in one batched pass


@dataclass(frozen=True)
class Task:
    name: str
    items: tuple[tuple[str, str], ...]  # (input, output)
    case_sensitive: bool

    def normal(self, text: str) -> str:
        """What is compared: stripped, a final "." dropped, lower case unless the task is case-sensitive."""
        t = text.strip()
        t = t[:-1].rstrip() if t.endswith(".") else t
        return t if self.case_sensitive else t.lower()


def task_names() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.tsv"))


def load_task(name: str) -> Task:
    """The task ``name`` from assets/fewshot (a UserError naming the tasks for an unknown one)."""
    path = TASKS_DIR / f"{name}.tsv"
    if not re.fullmatch(r"[a-z_]+", name) or not path.is_file():
        raise UserError(f"unknown few-shot task {name[:60]!r}; use one of {', '.join(task_names())}")
    items = tuple(tuple(line.split("\t", 1)) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return Task(name, items, name in CASE_SENSITIVE)  # type: ignore[arg-type]


@dataclass
class Prompt:
    ids: list[int]  # the model's input up to the answer
    answer: list[int]  # the expected answer's tokens
    spans: list[tuple[int, int]]  # token span [start, end) of each example line in ids
    query_span: tuple[int, int]
    examples: list[tuple[str, str]]
    query: str
    expected: str
    text: str  # the prompt as text (for the panel)


class PromptBuilder:
    """Prompts of one task for one model (module docstring); token spans found by encoding piece by piece."""

    def __init__(self, loaded: LoadedModel, task: Task, fmt: str = "raw", seed: int = 0) -> None:
        if fmt not in FORMATS:
            raise UserError(f"unknown prompt format {fmt!r}; use raw or chat")
        self.loaded, self.tok, self.task, self.fmt = loaded, loaded.tokenizer, task, fmt
        self.rng = np.random.default_rng(seed)
        n = len(task.items)
        self.order = self.rng.permutation(n)  # queries: the first q of this order
        self.before, self.after = self._frame()

    def _frame(self) -> tuple[list[int], list[int]]:
        """Token ids before and after the example lines: the model's prefix (raw), or the chat template's
        rendering around the user's message (the reply follows directly)."""
        if self.fmt == "raw":
            return list(self.tok.prefix_ids), []
        from engine.chat import chat_prompt

        marker = "\x00FEWSHOT\x00"
        text = chat_prompt(self.loaded, [{"role": "user", "content": marker}])
        head, _, tail = text.partition(marker)
        return self.tok.encode(head).ids, self.tok.encode(tail).ids

    def examples_for(self, query: int, k: int) -> list[int]:
        """The first k of a shuffled list of the other items, seeded by the query."""
        others = np.array([i for i in range(len(self.task.items)) if i != query])
        return [int(i) for i in np.random.default_rng([query, 7]).permutation(others)[:k]]

    def prompt(self, query: int, k: int) -> Prompt:
        enc = self.tok.encode
        ids, spans, lines = list(self.before), [], []
        examples = [self.task.items[i] for i in self.examples_for(query, k)]
        for x, y in examples:
            line = f"{x}{ARROW} {y}\n"
            piece = enc(line).ids
            spans.append((len(ids), len(ids) + len(piece)))
            ids += piece
            lines.append(line)
        x, y = self.task.items[query]
        q = enc(f"{x}{ARROW}").ids
        query_span = (len(ids), len(ids) + len(q))
        ids += q + self.after
        answer = enc(f" {y}" if self.fmt == "raw" else y).ids
        return Prompt(ids, answer, spans, query_span, examples, x, y, "".join(lines) + f"{x}{ARROW}")


@dataclass
class QueryResult:
    query: str
    expected: str
    output: str  # the start of the greedy continuation's first line, as far as needed to judge it
    correct: bool


@dataclass
class ExampleAttention:
    """For one query: attention (mean over heads) from the answer's first token, and from the prompt's last
    token (the one that predicts it), summed over each example line: (L, k) each, and over the query line."""

    prompt: str
    output: str
    expected: str
    from_answer: np.ndarray  # (L, k)
    from_prompt_end: np.ndarray  # (L, k)
    query_from_answer: np.ndarray  # (L,)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "output": self.output, "expected": self.expected,
                "from_answer": self.from_answer.round(4).tolist(),
                "from_prompt_end": self.from_prompt_end.round(4).tolist(),
                "query_from_answer": self.query_from_answer.round(4).tolist()}


@dataclass
class TaskResult:
    task: str
    accuracy_by_k: dict[int, float]
    queries: dict[int, list[QueryResult]]
    attention: dict[int, ExampleAttention] = field(default_factory=dict)  # k -> for the first query

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"accuracy_by_k": {str(k): v for k, v in self.accuracy_by_k.items()},
                               "example": {str(k): a.to_dict() for k, a in self.attention.items()}}
        if details:
            out["queries"] = {str(k): [vars(q) for q in qs] for k, qs in self.queries.items()}
        return out


def check_ks(ks: list[int], task: Task, queries: int) -> None:
    """k from 0 to the number of other items; at most as many queries as items."""
    most = len(task.items) - 1
    for k in ks:
        if k < 0 or k > most:
            raise UserError(f"k={k}: the task {task.name} has {len(task.items)} items, so a prompt can hold "
                            f"0 to {most} examples besides its query")
    if not 1 <= queries <= len(task.items):
        raise UserError(f"--queries {queries}: the task {task.name} has {len(task.items)} items")


def _stop_ids(loaded: LoadedModel) -> set[int]:
    tok = loaded.tokenizer
    return set(tok.eos_ids) | set(tok.special_ids)


class Judge:
    """Decides each query's greedy continuation (module docstring: teacher forcing, then decoding)."""

    def __init__(self, loaded: LoadedModel, task: Task) -> None:
        self.loaded, self.model, self.tok, self.task = loaded, loaded.model, loaded.tokenizer, task
        self.stop = _stop_ids(loaded)

    def _line(self, ids: list[int]) -> tuple[str, bool]:
        """The text of generated ids up to the end of the line, and whether the line has ended."""
        out: list[int] = []
        for i in ids:
            if i in self.stop:
                return self.tok.decode(out), True
            out.append(i)
        text = self.tok.decode(out)
        return text.split("\n", 1)[0], "\n" in text

    def _still_possible(self, text: str, expected: str) -> bool:
        s, a = text.lstrip(), expected
        if not self.task.case_sensitive:
            s, a = s.lower(), a.lower()
        return a.startswith(s) or s.startswith(a)

    @torch.no_grad()
    def judge(self, prompts: list[Prompt]) -> list[QueryResult]:
        out: list[QueryResult] = []
        for a in range(0, len(prompts), ROWS):
            out += self._judge_rows(prompts[a:a + ROWS])
        return out

    def _judge_rows(self, prompts: list[Prompt]) -> list[QueryResult]:
        seqs = [p.ids + p.answer for p in prompts]
        T = max(map(len, seqs))
        x = torch.zeros(len(seqs), T, dtype=torch.long)  # right-padded with token 0 (never attended)
        for b, s in enumerate(seqs):
            x[b, :len(s)] = torch.tensor(s)
        h = self.model(x, head=False)[0]  # (B, T, d) after the final norm
        results = []
        for b, p in enumerate(prompts):
            P, m = len(p.ids), len(p.answer)
            pred = self.model.lm_head(h[b, P - 1:P + m]).argmax(-1).tolist()  # (m + 1,) greedy at each fed step
            j = next((i for i in range(m) if pred[i] != p.answer[i]), m)
            so_far = p.answer[:j] + [pred[j]]
            text, ended = self._line(so_far)
            if not ended and self._still_possible(text, p.expected):
                text = self._decode_on(p.ids, so_far, m + MAX_EXTRA)
            correct = self.task.normal(text) == self.task.normal(p.expected)
            results.append(QueryResult(p.query, p.expected, text.strip(), correct))
        return results

    def _decode_on(self, prompt: list[int], so_far: list[int], limit: int) -> str:
        """Greedy decoding from prompt + so_far until the line ends (or ``limit`` tokens): the line."""
        from engine.decoding.cache import Decoder

        gen = list(so_far)
        room = self.model.cfg.context - len(prompt)
        dec = Decoder(self.model, [], len(prompt))
        logits = dec.prefill([prompt + gen])
        while len(gen) < min(limit, room):
            nxt = int(logits[0].argmax())
            gen.append(nxt)
            text, ended = self._line(gen)
            if ended:
                return text
            logits = dec.step([nxt])
        return self._line(gen)[0]

    @torch.no_grad()
    def attention(self, p: Prompt, output: str) -> ExampleAttention:
        """One probed pass over prompt + the answer's first token (module docstring of ExampleAttention)."""
        from engine.model import Probe

        ids = p.ids + p.answer[:1]
        P = len(p.ids)
        rows: list[torch.Tensor] = []  # per layer (2, T): rows P - 1 and P, mean over heads

        def on_layer(_: int, att: torch.Tensor, __: torch.Tensor | None) -> None:
            rows.append(att[0, :, P - 1:P + 1].float().mean(0))  # (H, 2, T) -> (2, T)

        self.model(torch.tensor([ids]), probe=Probe(on_layer=on_layer), head=False)
        a = torch.stack(rows).numpy()  # (L, 2, T)

        def spans(r: int) -> np.ndarray:
            return np.array([[a[l, r, s:e].sum() for s, e in p.spans] for l in range(len(a))]).reshape(len(a), -1)

        qs, qe = p.query_span
        return ExampleAttention(p.text, output, p.expected, spans(1), spans(0), a[:, 1, qs:qe].sum(-1))


def few_shot(loaded: LoadedModel, task: Task, ks: list[int], queries: int = 50, fmt: str = "raw", seed: int = 0,
             token: Any = None) -> TaskResult:
    """Accuracy against k for one task (module docstring), with the first query's attention per k."""
    check_ks(ks, task, queries)
    model = loaded.model
    if model.objective != "next" or not model.has_lm_head or not model.cfg.causal:
        raise UserError(f"{model.name or 'this model'} does not predict the next token: few-shot prompting needs "
                        "a decoder")
    builder = PromptBuilder(loaded, task, fmt, seed)
    judge = Judge(loaded, task)
    was = model.training
    model.eval()
    result = TaskResult(task.name, {}, {})
    try:
        for k in ks:
            prompts = [builder.prompt(int(q), k) for q in builder.order[:queries]]
            longest = max(len(p.ids) + len(p.answer) for p in prompts)
            if longest > model.cfg.context:
                raise UserError(f"k={k}: prompts of the task {task.name} are up to {longest} tokens with their "
                                f"answer; {model.name or 'this model'}'s context is {model.cfg.context}")
            if token is not None:
                token.check()
            qr = judge.judge(prompts)
            result.queries[k] = qr
            result.accuracy_by_k[k] = sum(q.correct for q in qr) / len(qr)
            result.attention[k] = judge.attention(prompts[0], qr[0].output)
    finally:
        model.train(was)
    return result


def parse_ks(raw: str) -> list[int]:
    """``0,1,2,4,8`` -> [0, 1, 2, 4, 8] (distinct, in order); a UserError for anything else."""
    parts = [s.strip() for s in str(raw).split(",")]
    if not parts or any(not re.fullmatch(r"\d{1,6}", s) for s in parts):
        raise UserError(f"--k {str(raw)[:60]!r}: give numbers of examples separated by commas, e.g. 0,1,2,4,8")
    ks = [int(s) for s in parts]
    if len(set(ks)) != len(ks):
        raise UserError(f"--k {raw[:60]!r} repeats a value")
    return ks
