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

The student's objective is cross-entropy + `logit_weight` * logits_kd + `relation_weight` * relation_kd
(`Distiller`, used by `train.train` when a run has a `distill` section); `load_teacher` loads the frozen teacher
once, `init_student` copies its weights into the BitNet student (SubLN's norms start at unit gain).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.config import DistillConfig, ModelConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.model import Transformer, load_full_precision
from bitnet_repro.pretrained import PRETRAINED, load_pretrained

SHAPE_FIELDS = ("vocab_size", "d_model", "n_layers", "n_heads", "kv_heads", "d_ff", "tie_embeddings", "rope_theta")


class DistillError(ReproError, ValueError):
    """A teacher or student that does not fit a distillation run."""


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


def load_teacher(spec: str, device: torch.device | str = "cpu") -> Transformer:
    """The frozen full-precision teacher: a registered pretrained model (`smollm2-135m`, converted exactly with
    `export.hf.from_hf_llama`) or an FP16 checkpoint directory of this suite."""
    if spec in PRETRAINED:
        from bitnet_repro.export.hf import from_hf_llama

        teacher = from_hf_llama(load_pretrained(spec)[0])
    else:
        path = Path(spec)
        if not (path / "model.safetensors").is_file():
            raise DistillError(f"teacher {spec!r} is neither a pretrained model ({sorted(PRETRAINED)}) nor a "
                               "checkpoint directory (a run's model/ with model.safetensors)")  # fmt: skip
        teacher, cfg = load_model_dir(path)
        if cfg.model.linear != "fp16":
            raise DistillError(f"teacher {spec} is a {cfg.model.linear} model; a teacher is full precision (fp16)")
    return teacher.to(device).eval().requires_grad_(False)


def check_student(student: ModelConfig, teacher: ModelConfig) -> None:
    """The student must have the teacher's shape (it starts from the teacher's weights)."""
    diff = [f"{f}: student {getattr(student, f)}, teacher {getattr(teacher, f)}"
            for f in SHAPE_FIELDS if getattr(student, f) != getattr(teacher, f)]  # fmt: skip
    if diff:
        raise DistillError("the student's shape is not the teacher's (" + "; ".join(diff) + "): convert "
                           "the student from this teacher (export.hf.from_hf_llama), or name the teacher it came from")


def init_student(cfg: ModelConfig, teacher: Transformer) -> Transformer:
    """A BitNet student with the teacher's weights as latent weights; norms the teacher lacks (SubLN) start at 1."""
    check_student(cfg, teacher.cfg)
    student = Transformer(cfg)
    if unmapped := load_full_precision(student, teacher.state_dict()):
        raise DistillError(f"teacher weights that do not map onto the student: {unmapped}")
    return student


class Distiller:
    """The distillation objective of one run: the frozen teacher's logits and q/k/v relations at `layer`
    against the student's, plus the student's cross-entropy."""

    def __init__(self, teacher: Transformer, d: DistillConfig) -> None:
        self.teacher, self.d = teacher, d
        self.heads = d.relation_heads or teacher.cfg.kv_heads

    def loss(self, student: nn.Module, layers: nn.Module, x: torch.Tensor, y: torch.Tensor, step: int,
             ) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        """Total loss and its parts; `layers` is the unwrapped student (for hooks), `student` what runs forward."""
        distill = step >= self.d.cpt_steps and (self.d.logit_weight or self.d.relation_weight)
        if not distill:
            _, ce = student(x, y)
            return ce, {"ce": float(ce.detach())}
        with torch.no_grad(), capture_qkv(self.teacher, self.d.layer) as t_qkv:
            t_logits, _ = self.teacher(x)
        with capture_qkv(layers, self.d.layer) as s_qkv:
            s_logits, ce = student(x, y)
        kd = logits_kd(s_logits, t_logits, self.d.temperature)
        rkd = relation_kd(s_qkv, t_qkv, self.heads)
        total = ce + self.d.logit_weight * kd + self.d.relation_weight * rkd
        return total, {k: float(v.detach()) for k, v in (("ce", ce), ("logits_kd", kd), ("relation_kd", rkd))}
