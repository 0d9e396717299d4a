"""Three families of encoder-decoder translators behind one interface (seed 002, 11.2.1 and 11.3).

- :class:`RNNSeq2Seq` (``--arch rnn|gru|lstm``), Sutskever et al. 2014: an encoder RNN reads the source
  and its last state initialises the decoder RNN, which "starts with the begin of sequence (BOS) symbol"
  and feeds each output word back in (seed 002 11.2.1). Everything the decoder knows about the source must
  pass through that one state. As Sutskever et al., the encoder reads the source reversed, so the first
  source words are the most recent when decoding begins.
- :class:`AttentionRNN` (``--arch rnn-attention``, cell ``--cell``, GRU by default: seed 000's equations),
  Luong et al. 2015: a bidirectional encoder (seed 000, "bi-directional recurrent neural nets") gives one
  state per source word, s_j = [V_fwd(j); V_bwd(j)] (B, S, 2H); at step t the decoder state V(t) is the
  query, the encoder states are the keys and values (seed 002 11.2.1): dot-product attention with a learned
  key map (Luong's "general" score), alpha_tj = softmax_j(V(t) . W_k s_j / sqrt(H)); the attention output
  c_t = sum_j alpha_tj s_j "is then used together with the decoder RNN's current state to produce the next
  output word": h~_t = tanh(W_c [V(t); c_t]), p(y_t) = softmax(W_o h~_t). h~_t is also fed to the next step
  with the next input word (Luong's input feeding), so the decoder knows what it has already read.
- :class:`TransformerSeq2Seq` (``--arch transformer``), Vaswani et al. 2017: an encoder of bidirectional
  blocks (engine.model.Block) and a decoder of blocks with causal self-attention, cross-attention
  (engine.attention.CrossAttention) and a feed-forward layer; sinusoidal positions, pre-LN.

The interface (:class:`Seq2Seq`), shared so that decoding, evaluation, training and the views treat the
families alike:

- ``encode(src (B, S), src_mask (B, S)) -> Memory``;
- ``start(memory) -> state``: the decoder before its first word;
- ``decode_step(memory, state, prev (B,)) -> (logp (B, V), state, align (B, L, H, S) or None)``: the
  log-probabilities of the next word after ``prev``, and the attention it paid to each source word (L
  layers x H heads: 1 x 1 for the attention RNN, None without attention);
- ``select(memory, state, index)``: keep / reorder batch rows (beam search);
- ``forward(src, src_mask, tgt_in (B, T), capture) -> (logits (B, T, V), align (B, L, H, T, S) or None)``:
  teacher forcing, for training (alignments only when ``capture``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.attention import CrossAttention, SelfAttention, causal_mask
from engine.errors import UserError
from engine.model import Block, FeedForward, ModelConfig, Transformer, make_norm, sinusoidal_positions
from engine.recurrent import CELLS, BiRecurrent, Recurrent, State, make_cell
from engine.validate import choice, flag_bool, real, whole

ARCHS = ("rnn", "gru", "lstm", "rnn-attention", "transformer")
FAMILIES = ("rnn", "rnn-attention", "transformer")  # the story's three: no attention, attention, transformer
ATTENTION_CELL = "gru"  # the attention RNN's default cell: seed 000's gated unit
MAX_VOCAB = 1_000_000
MAX_LENGTH = 1024
MAX_WIDTH = 4096


def family_of(arch: str) -> str:
    return arch if arch in ("rnn-attention", "transformer") else "rnn"


@dataclass
class Seq2SeqConfig:
    """What a translator is; saved in its checkpoint's config.json (``model``)."""

    arch: str  # rnn | gru | lstm (no attention) | rnn-attention | transformer
    src_vocab: int
    tgt_vocab: int
    cell: str = ""  # the recurrent cell: the arch for rnn/gru/lstm; rnn-attention's default "gru"
    emb: int = 128  # word embedding width (recurrent families)
    hidden: int = 256  # H, recurrent state width (each direction of the bidirectional encoder)
    layers: int = 1  # stacked recurrent layers, or transformer blocks in the encoder and the decoder
    d: int = 128  # transformer width
    heads: int = 4  # transformer heads
    ff: int = 512  # transformer feed-forward width
    reverse_source: bool = True  # no-attention RNN: read the source reversed (Sutskever et al.)
    max_source: int = 64  # the longest source (words) the model reads
    max_target: int = 80  # the longest translation (words, without <eos>) it writes
    dropout: float = 0.0

    def __post_init__(self) -> None:
        where = "seq2seq settings"
        choice(self.arch, "arch", ARCHS, where)
        if not self.cell:
            self.cell = ATTENTION_CELL if self.arch == "rnn-attention" else ("" if self.arch == "transformer"
                                                                            else self.arch)
        if self.arch in CELLS and self.cell != self.arch:
            raise UserError(f"{where}: --arch {self.arch} uses the {self.arch} cell (got cell {self.cell!r})")
        if self.arch != "transformer":
            choice(self.cell, "cell", CELLS, where)
        self.src_vocab = whole(self.src_vocab, "src_vocab", 5, MAX_VOCAB, where)
        self.tgt_vocab = whole(self.tgt_vocab, "tgt_vocab", 5, MAX_VOCAB, where)
        for name in ("emb", "hidden", "d", "ff"):
            setattr(self, name, whole(getattr(self, name), name, 1, MAX_WIDTH, where))
        self.layers = whole(self.layers, "layers", 1, 16, where)
        self.heads = whole(self.heads, "heads", 1, 64, where)
        if self.d % self.heads:
            raise UserError(f"{where}: d {self.d} must be divisible by the number of heads {self.heads}")
        flag_bool(self.reverse_source, "reverse_source", where)
        self.max_source = whole(self.max_source, "max_source", 1, MAX_LENGTH, where)
        self.max_target = whole(self.max_target, "max_target", 1, MAX_LENGTH, where)
        self.dropout = real(self.dropout, "dropout", 0.0, 1.0, where, hi_open=True)

    @property
    def family(self) -> str:
        return family_of(self.arch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Seq2SeqConfig:
        if not isinstance(raw, dict):
            raise UserError("the seq2seq settings must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in set(raw) - known)
        if unknown:
            raise UserError(f"unknown seq2seq settings: {', '.join(unknown)[:200]}")
        missing = [k for k in ("arch", "src_vocab", "tgt_vocab") if k not in raw]
        if missing:
            raise UserError(f"the seq2seq settings have no {missing[0]}")
        return cls(**raw)


@dataclass
class Memory:
    """What the encoder hands the decoder: per-word states (keys and values; None without attention),
    the source mask (B, S) and the decoder's initial state (recurrent families)."""

    states: torch.Tensor | None  # (B, S, D)
    mask: torch.Tensor  # (B, S) bool, True at real words
    init: Any = None

    def select(self, index: torch.Tensor) -> Memory:
        return Memory(None if self.states is None else self.states.index_select(0, index),
                      self.mask.index_select(0, index), _select(self.init, index))


def _select(state: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of a state: a tensor, or nested lists / tuples of tensors."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    return type(state)(_select(s, index) for s in state)


class Seq2Seq(nn.Module):
    """The common interface (see the module docstring)."""

    cfg: Seq2SeqConfig

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        raise NotImplementedError

    def start(self, memory: Memory) -> Any:
        raise NotImplementedError

    def decode_step(self, memory: Memory, state: Any, prev: torch.Tensor
                    ) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        raise NotImplementedError

    def select(self, memory: Memory, state: Any, index: torch.Tensor) -> tuple[Memory, Any]:
        return memory.select(index), _select(state, index)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor, capture: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing for the recurrent families: the decoder step unrolled over ``tgt_in`` (B, T)
        (<bos> y_1 .. y_{T-1}); logits (B, T, V) and, with ``capture``, alignments (B, 1, 1, T, S)."""
        memory = self.encode(src, src_mask)
        state = self.start(memory)
        logits, aligns = [], []
        for t in range(tgt_in.shape[1]):
            out, state, align = self._step(memory, state, tgt_in[:, t])
            logits.append(out)
            if capture and align is not None:
                aligns.append(align)
        align_all = torch.stack(aligns, dim=3) if aligns else None  # (B, L, H, T, S)
        return torch.stack(logits, dim=1), align_all

    def _step(self, memory: Memory, state: Any, prev: torch.Tensor
              ) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """Logits (B, V) of the next word, the new state and the alignment row (B, L, H, S) or None."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _stack_step(cells: nn.ModuleList, x: torch.Tensor, states: list[State]) -> tuple[torch.Tensor, list[State]]:
    """One time step through stacked cells: layer l reads layer l-1's output V(t)."""
    new = []
    for cell, state in zip(cells, states, strict=True):
        s, _ = cell.step(x, state)
        new.append(s)
        x = cell.output(s)
    return x, new


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``lengths[b]`` entries reversed, padding left at the end: x (B, S) or (B, S, D)."""
    B, S = x.shape[:2]
    t = torch.arange(S, device=x.device).expand(B, S)  # (B, S)
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    if x.dim() == 3:
        idx = idx[..., None].expand(-1, -1, x.shape[2])
    return x.gather(1, idx)


class _RecurrentSeq2Seq(Seq2Seq):
    """What both recurrent families have: word embeddings of both languages, the output layer W_o and
    log-probabilities from :meth:`_step`."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.src_emb = nn.Embedding(cfg.src_vocab, cfg.emb)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, cfg.emb)
        self.out = nn.Linear(cfg.hidden, cfg.tgt_vocab)  # W_o
        self.drop = nn.Dropout(cfg.dropout)

    def decode_step(self, memory: Memory, state: Any, prev: torch.Tensor
                    ) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        logits, state, align = self._step(memory, state, prev)
        return torch.log_softmax(logits, dim=-1), state, align


class RNNSeq2Seq(_RecurrentSeq2Seq):
    """Sutskever's encoder-decoder without attention (see the module docstring)."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__(cfg)
        E, H = cfg.emb, cfg.hidden
        self.encoder = nn.ModuleList(Recurrent(cfg.cell, E if i == 0 else H, H) for i in range(cfg.layers))
        self.decoder = nn.ModuleList(make_cell(cfg.cell, E if i == 0 else H, H) for i in range(cfg.layers))

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        lengths = src_mask.sum(1)
        if self.cfg.reverse_source:
            src = reverse_padded(src, lengths)  # the mask is unchanged: padding stays at the end
        x = self.drop(self.src_emb(src))  # (B, S, E)
        finals = []
        for layer in self.encoder:
            x, last, _ = layer(x, mask=src_mask)  # (B, S, H); last: each row's state after its last word
            finals.append(last)
        return Memory(None, src_mask.bool(), finals)

    def start(self, memory: Memory) -> list[State]:
        return list(memory.init)  # the encoder's last states initialise the decoder (Sutskever)

    def _step(self, memory: Memory, state: list[State], prev: torch.Tensor
              ) -> tuple[torch.Tensor, list[State], None]:
        x, state = _stack_step(self.decoder, self.drop(self.tgt_emb(prev)), state)  # (B, H)
        return self.out(self.drop(x)), state, None


class AttentionRNN(_RecurrentSeq2Seq):
    """Bidirectional encoder, decoder state as the query over the encoder states (module docstring)."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__(cfg)
        E, H = cfg.emb, cfg.hidden
        self.encoder = nn.ModuleList(BiRecurrent(cfg.cell, E if i == 0 else 2 * H, H) for i in range(cfg.layers))
        self.init = nn.Linear(2 * H, H)  # [V_fwd(last); V_bwd(first)] -> the decoder's V(0)
        self.decoder = nn.ModuleList(make_cell(cfg.cell, E + H if i == 0 else H, H) for i in range(cfg.layers))
        self.W_k = nn.Linear(2 * H, H, bias=False)  # keys: W_k s_j
        self.W_c = nn.Linear(H + 2 * H, H)  # h~ = tanh(W_c [V(t); c_t])

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        x = self.drop(self.src_emb(src))  # (B, S, E)
        last: tuple[State, State] | None = None
        for layer in self.encoder:
            x, last, _ = layer(x, mask=src_mask)  # (B, S, 2H)
        assert last is not None
        fwd, bwd = (s[0] if isinstance(s, tuple) else s for s in last)  # V of each direction (B, H)
        v0 = torch.tanh(self.init(torch.cat([fwd, bwd], dim=-1)))  # (B, H)
        keys = self.W_k(x)  # (B, S, H)
        return Memory(torch.cat([x, keys], dim=-1), src_mask.bool(), v0)  # values and keys side by side

    def start(self, memory: Memory) -> tuple[list[State], torch.Tensor]:
        v0 = memory.init
        states: list[State] = [(v0, torch.zeros_like(v0)) if self.cfg.cell == "lstm" else v0
                               for _ in self.decoder]
        return states, torch.zeros_like(v0)  # (layer states, h~ of the previous step)

    def _step(self, memory: Memory, state: tuple[list[State], torch.Tensor], prev: torch.Tensor
              ) -> tuple[torch.Tensor, tuple[list[State], torch.Tensor], torch.Tensor]:
        H = self.cfg.hidden
        states, feed = state
        x = torch.cat([self.drop(self.tgt_emb(prev)), feed], dim=-1)  # (B, E + H): input feeding
        v, states = _stack_step(self.decoder, x, states)  # V(t) (B, H): the query
        values, keys = memory.states.split([2 * H, H], dim=-1)  # (B, S, 2H), (B, S, H)
        scores = (keys @ v.unsqueeze(-1)).squeeze(-1) / math.sqrt(H)  # (B, S)
        scores = scores.masked_fill(~memory.mask, float("-inf"))
        alpha = torch.softmax(scores, dim=-1)  # (B, S), seed 002 Eq. 11.7
        context = (alpha.unsqueeze(1) @ values).squeeze(1)  # (B, 2H), the attention output (Eq. 11.8)
        h = torch.tanh(self.W_c(torch.cat([v, context], dim=-1)))  # (B, H)
        return self.out(self.drop(h)), (states, h), alpha[:, None, None, :]  # align (B, 1, 1, S)


class DecoderBlock(nn.Module):
    """A transformer decoder block (pre-LN): causal self-attention, cross-attention over the encoder's
    states, feed-forward; each a residual branch."""

    def __init__(self, cfg: ModelConfig, mask: torch.Tensor, layer: int) -> None:
        super().__init__()
        self.ln_1 = make_norm(cfg)
        self.attn = SelfAttention(cfg, mask, layer)
        self.ln_2 = make_norm(cfg)
        self.cross = CrossAttention(cfg, layer)
        self.ln_3 = make_norm(cfg)
        self.ffn = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x + self.drop(self.attn(self.ln_1(x)))
        y, alpha = self.cross(self.ln_2(x), memory, memory_mask, need_weights)
        x = x + self.drop(y)
        return x + self.ffn(self.ln_3(x)), alpha


class TransformerSeq2Seq(Seq2Seq):
    """Encoder-decoder transformer with cross-attention (module docstring); the decoder's state is the
    words so far, re-read at every step (short sentences: no cache needed)."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        common = dict(d=cfg.d, H=cfg.heads, L=cfg.layers, m=cfg.ff, positional="sinusoidal", norm="pre",
                      dropout=cfg.dropout)
        self.enc_cfg = ModelConfig(vocab_size=cfg.src_vocab, context=cfg.max_source, causal=False, **common)
        self.dec_cfg = ModelConfig(vocab_size=cfg.tgt_vocab, context=cfg.max_target + 1, causal=True, **common)
        self.src_emb = nn.Embedding(cfg.src_vocab, cfg.d)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, cfg.d)
        self.register_buffer("pe", sinusoidal_positions(max(cfg.max_source, cfg.max_target + 1), cfg.d),
                             persistent=False)
        self.encoder = nn.ModuleList(Block(self.enc_cfg, None, i) for i in range(cfg.layers))
        mask = causal_mask(cfg.max_target + 1)
        self.decoder = nn.ModuleList(DecoderBlock(self.dec_cfg, mask, i) for i in range(cfg.layers))
        self.ln_enc = make_norm(self.enc_cfg)
        self.ln_dec = make_norm(self.dec_cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.apply(Transformer._init_weights)
        for emb in (self.src_emb, self.tgt_emb):  # unit-size embeddings after the sqrt(d) scale, as the positions
            nn.init.normal_(emb.weight, std=cfg.d ** -0.5)

    def _embed(self, emb: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        return self.drop(emb(ids) * math.sqrt(self.cfg.d) + self.pe[: ids.shape[1]])  # (B, T, d)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        mask = src_mask.bool()
        x = self._embed(self.src_emb, src)
        key_mask = None if bool(mask.all()) else mask
        for block in self.encoder:
            x = block(x, key_mask=key_mask)
        return Memory(self.ln_enc(x), mask)  # (B, S, d)

    def _decode(self, memory: Memory, tgt_in: torch.Tensor, capture: bool
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if tgt_in.shape[1] > self.cfg.max_target + 1:
            raise UserError(f"the translation is longer than this model's {self.cfg.max_target} words")
        x = self._embed(self.tgt_emb, tgt_in)
        aligns = []
        for block in self.decoder:
            x, alpha = block(x, memory.states, memory.mask, capture)
            if alpha is not None:
                aligns.append(alpha)
        logits = self.ln_dec(x) @ self.tgt_emb.weight.T  # tied unembedding (B, T, V)
        return logits, aligns

    def start(self, memory: Memory) -> torch.Tensor:
        return memory.mask.new_zeros(memory.mask.shape[0], 0, dtype=torch.long)  # no words yet (B, 0)

    def decode_step(self, memory: Memory, state: torch.Tensor, prev: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        prefix = torch.cat([state, prev[:, None]], dim=1)  # (B, t + 1)
        logits, aligns = self._decode(memory, prefix, capture=True)
        align = torch.stack([a[:, :, -1] for a in aligns], dim=1)  # (B, L, H, S) at the last position
        return torch.log_softmax(logits[:, -1], dim=-1), prefix, align

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor, capture: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        memory = self.encode(src, src_mask)
        logits, aligns = self._decode(memory, tgt_in, capture)
        return logits, torch.stack(aligns, dim=1) if aligns else None  # (B, L, H, T, S)


def build_model(cfg: Seq2SeqConfig) -> Seq2Seq:
    return {"rnn": RNNSeq2Seq, "rnn-attention": AttentionRNN, "transformer": TransformerSeq2Seq}[cfg.family](cfg)


def loss_of(model: Seq2Seq, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor,
            tgt_out: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Mean cross-entropy of the target words (and <eos>) under teacher forcing, padding ignored."""
    logits, _ = model(src, src_mask, tgt_in)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id)
