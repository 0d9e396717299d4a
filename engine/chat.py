"""Talking to an instruct model: its chat template, and the answer streamed token by token.

Seed 003: decoders such as "GPT-2/3/4, ChatGPT, Phi3, Llama3" are "controlled by prompting (instruction)".
An instruct model was trained on conversations written in one format, its chat template: SmolLM2's wraps
each message as ``<|im_start|>role\\n...<|im_end|>\\n`` and ends the prompt with ``<|im_start|>assistant\\n``
(the generation prompt); the model then writes the answer and ends its turn with ``<|im_end|>``.

The template is Jinja, shipped with the model (GGUF metadata ``tokenizer.chat_template``, or the folder's
tokenizer_config.json / chat_template.jinja); it is rendered in jinja2's sandbox (a template cannot reach
Python objects or the file system). The answer is decoded with the key/value cache, greedy at temperature
0 (the default) or sampled, and stops before the end-of-turn token or after ``max_new`` tokens.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import torch

from engine.checkpoint import LoadedModel
from engine.decoding.cache import Decoder
from engine.decoding.common import special_mask
from engine.decoding.sampling import check_sampling, filter_distribution
from engine.errors import UserError
from engine.inference import require_decoder
from engine.tasks import CancelToken

ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGE = 1_000_000  # characters in one message


@dataclass(frozen=True)
class ChatToken:
    """One generated token of the answer."""

    text: str  # the text it adds to the answer ("" while it ends in the middle of a character)
    token_id: int
    prob: float  # the model's probability of this token (temperature 1, whole vocabulary)
    logprob: float  # its natural log
    token: str = ""  # the token as read (tokenizer.token_text: " Paris", "<0xF0>")


def chat_template(loaded: LoadedModel) -> str:
    template = loaded.config.get("chat_template")
    if not isinstance(template, str) or not template:
        name = loaded.config.get("name") or "this model"
        raise UserError(f"{name} is not an instruct model: it has no chat template")
    return template


def check_messages(messages: Any) -> list[dict[str, str]]:
    """A list of {"role", "content"} with known roles and text contents."""
    if not isinstance(messages, list) or not messages:
        raise UserError("a conversation is a non-empty list of messages")
    out = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise UserError(f"each message needs a role ({', '.join(ROLES)}) and a text content")
        if len(m["content"]) > MAX_MESSAGE:
            raise UserError(f"a message is longer than {MAX_MESSAGE:,} characters")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _environment() -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise UserError(f"the chat template refused the conversation: {str(message)[:200]}")

    def tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, **_: Any) -> str:
        return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(str(fmt))
    return env


def chat_prompt(loaded: LoadedModel, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The conversation as the model reads it: its chat template rendered (sandboxed) over ``messages``."""
    from jinja2 import TemplateError

    template = chat_template(loaded)
    messages = check_messages(messages)
    tok = loaded.tokenizer
    names = {"bos_token": tok.bos_id, "eos_token": tok.eos_ids[0] if tok.eos_ids else None, "pad_token": tok.pad_id,
             "unk_token": tok.unk_id}
    specials = {k: tok.id_to_token(v) if v is not None else "" for k, v in names.items()}
    try:
        compiled = _environment().from_string(template)
        return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt, **specials)
    except UserError:
        raise
    except (TemplateError, TypeError, ValueError, KeyError, AttributeError, RecursionError) as e:
        raise UserError(f"the model's chat template failed ({type(e).__name__}: {str(e)[:120]})") from None


def chat_ids(loaded: LoadedModel, messages: list[dict[str, str]], answer: list[int] | None = None,
             add_generation_prompt: bool = True) -> list[int]:
    """Token ids of the rendered conversation (the template writes any start token itself), followed by
    ``answer`` (the ids of a generated answer, e.g. ``[t.token_id for t in chat_stream(...)]``): the input
    whose attention shows how each answer token looks back at the prompt."""
    ids = loaded.tokenizer.encode(chat_prompt(loaded, messages, add_generation_prompt)).ids
    return ids + [int(i) for i in answer or []]


def chat_stream(loaded: LoadedModel, messages: list[dict[str, str]], max_new: int = 256, temperature: float = 0.0,
                top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                token: CancelToken | None = None) -> Iterator[ChatToken]:
    """The model's answer to the conversation, token by token as it is generated (greedy at temperature 0;
    else sampled with temperature, top-k and top-p, seeded). Stops before the end-of-turn (or end) token,
    which is not yielded, after ``max_new`` tokens, or when the context is full. ``token`` is checked
    before each step (a cancelled answer raises :class:`engine.tasks.Cancelled`)."""
    model, tok = loaded.model, loaded.tokenizer
    require_decoder(model)
    check_sampling(temperature, top_k, top_p)
    if int(max_new) < 0:
        raise UserError(f"the number of new tokens must be 0 or more (got {max_new})")
    ids = chat_ids(loaded, messages)
    T = model.cfg.context
    if len(ids) >= T:
        raise UserError(f"the conversation is {len(ids):,} tokens; {loaded.config.get('name') or 'the model'}'s "
                        f"context is {T:,}")
    max_new = min(int(max_new), T - len(ids))
    gen = torch.Generator().manual_seed(secrets.randbits(63) if seed is None else int(seed))
    specials = special_mask(tok)
    ends = set(tok.eos_ids)
    decoder = Decoder(model, [], len(ids), keep=None, use_cache=True)
    answer: list[int] = []
    shown = ""
    with torch.inference_mode():
        logits = None
        for step in range(max_new):
            if token is not None:
                token.check()
            logits = decoder.prefill([ids]) if step == 0 else decoder.step([answer[-1]])
            row = logits[0]
            logp = torch.log_softmax(row.double(), dim=-1)
            if temperature == 0:
                choice = int(torch.argmax(row.double() + specials))
            else:
                f = filter_distribution(row, specials, temperature, top_k, top_p)
                choice = int(torch.multinomial(f.final, 1, generator=gen))
            if choice in ends:
                return
            answer.append(choice)
            text = tok.decode(answer)
            delta = ""
            if not text.endswith("\ufffd"):  # a character split over tokens is shown when it is complete
                delta, shown = text[len(shown):], text
            lp = float(logp[choice])
            yield ChatToken(delta, choice, math.exp(lp), lp, tok.token_text(choice))


def chat(loaded: LoadedModel, messages: list[dict[str, str]], **kw: Any) -> tuple[str, list[ChatToken]]:
    """The whole answer at once (see :func:`chat_stream`)."""
    tokens = list(chat_stream(loaded, messages, **kw))
    return loaded.tokenizer.decode([t.token_id for t in tokens]), tokens
