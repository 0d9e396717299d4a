"""A minimal reference training loop in the style of nanoGPT's CPU recipe, for side-by-side timing.

Written independently and kept deliberately plain: one fused qkv projection, fused causal attention,
pre-LN blocks, GELU MLP, tied unembedding, no biases, AdamW with gradient clipping, random windows.
It is the yardstick our own trainer (with its events, probes and schedule) is measured against.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RefBlock(nn.Module):
    def __init__(self, d: int, H: int) -> None:
        super().__init__()
        self.H = H
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.out = nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, V: int, T: int, d: int, H: int, L: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(T, d)
        self.blocks = nn.ModuleList(RefBlock(d, H) for _ in range(L))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, V, bias=False)
        self.head.weight = self.tok.weight
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        logits = self.head(self.ln(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class ReferenceLoop:
    """``steps(n)`` runs n optimisation steps of the reference recipe."""

    def __init__(self, data: torch.Tensor, V: int, T: int = 64, B: int = 12, d: int = 128, H: int = 4, L: int = 4,
                 lr: float = 1e-3, max_steps: int = 2000, seed: int = 1337) -> None:
        torch.manual_seed(seed)
        self.data, self.T, self.B, self.lr, self.max_steps = data, T, B, lr, max_steps
        self.model = RefGPT(V, T, d, H, L)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        rest = [p for p in self.model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                     lr=lr, betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(seed)
        self.it = 0

    def steps(self, n: int) -> float:
        loss = torch.zeros(())
        for _ in range(n):
            warm = min(1.0, (self.it + 1) / 100)
            lr = self.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1, self.it / self.max_steps)))
            for g in self.opt.param_groups:
                g["lr"] = lr
            ix = torch.randint(len(self.data) - self.T - 1, (self.B,), generator=self.gen).tolist()
            x = torch.stack([self.data[i:i + self.T] for i in ix])
            y = torch.stack([self.data[i + 1:i + 1 + self.T] for i in ix])
            loss = self.model(x, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.it += 1
        return loss.item()
