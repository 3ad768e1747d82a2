"""BitDistill's losses (Wu et al. 2025, arXiv 2510.13998): logits distillation and MiniLM-style multi-head
attention-relation distillation from a full-precision teacher into a BitNet b1.58 student.

- `logits_kd`: KL(teacher || student) of the temperature-softened next-token distributions, times T^2 (Hinton
  et al. 2015), so that its gradients keep their scale as T changes; mean over tokens.
- `relation_kd`: MiniLM v2's self-attention relations (Wang et al. 2021) of one layer. The queries, keys and
  values (the outputs of q_proj, k_proj, v_proj, before rotary embeddings) are each split into `heads` relation
  heads; a relation is softmax(X_h X_h^T / sqrt(d_h)) over the positions, causally masked here because both
  models are decoders (a position relates only to itself and earlier ones). The loss is the KL divergence
  teacher || student of each relation row, averaged over rows and heads and summed over Q, K and V. Teacher and
  student may differ in width; their relations are T x T either way.
- `capture_qkv`: records those projections of one block during a forward pass of our model (a converted
  teacher or the student), hooks removed on exit.

The student's objective is cross-entropy + `logit_weight` * logits_kd + `relation_weight` * relation_kd.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def logits_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), mean over all positions; logits (..., vocab)."""
    s = F.log_softmax(student.float().flatten(0, -2) / temperature, dim=-1)
    t = F.log_softmax(teacher.float().flatten(0, -2) / temperature, dim=-1)
    return temperature**2 * F.kl_div(s, t, log_target=True, reduction="batchmean")


def relations(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Log of the causal self-relations of `x` (B, T, C) split into `heads` heads: (B, heads, T, T)."""
    B, T, C = x.shape
    if C % heads:
        raise ValueError(f"{C} channels do not split into {heads} relation heads")
    h = x.float().view(B, T, heads, C // heads).transpose(1, 2)  # (B, H, T, d)
    scores = h @ h.transpose(-1, -2) / math.sqrt(C // heads)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    return F.log_softmax(scores.masked_fill(~causal, -1e30), dim=-1)  # finite: masked entries get p = 0


def relation_kd(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], heads: int) -> torch.Tensor:
    """Sum over q, k, v of the mean KL(teacher relation row || student relation row); inputs (B, T, C) each."""
    total = torch.zeros((), device=next(iter(student.values())).device)
    for name in ("q", "k", "v"):
        s, t = relations(student[name], heads), relations(teacher[name], heads)
        p = t.exp()
        kl = (p * (t - s)).sum(-1)  # masked (future) positions have p = 0 and contribute nothing
        total = total + kl.mean()
    return total


@contextmanager
def capture_qkv(model: nn.Module, layer: int) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, `captured["q" | "k" | "v"]` holds the last forward's q_proj / k_proj / v_proj outputs
    of block `layer` of our Transformer (negative counts from the last block)."""
    attn = model.layers[layer].self_attn
    captured: dict[str, torch.Tensor] = {}
    hooks = [getattr(attn, f"{n}_proj").register_forward_hook(lambda _m, _i, out, n=n: captured.__setitem__(n, out))
             for n in ("q", "k", "v")]  # fmt: skip
    try:
        yield captured
    finally:
        for h in hooks:
            h.remove()
