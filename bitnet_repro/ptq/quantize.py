"""What the PTQ methods share (bitnet_repro/ptq/baselines/, one file each): the quantizers, the fake-quantized
Linear and the glue to llm-compressor.

- quantizers: symmetric absmax round-to-nearest (Dettmers et al. 2022) at any bit width, with 1 bit meaning
  BitNet b1's binarization `sign(W - mean W) * mean|W|` (the libraries' 1-bit grid is {-1, 0}, not what the
  paper compares against); per-token absmax for activations;
- `FakeQuantLinear`, a Linear whose weights are stored quantized (de-quantized to float) and whose input is
  quantized per token on the fly: the simulated-quantization reference every method is measured with;
- glue to llm-compressor's `oneshot` (GPTQ, SmoothQuant, QuIP-style rotations) for in-memory models, and the
  calibration ids it reads.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from bitnet_repro.errors import ReproError

# datasets, llmcompressor and loguru are imported where used: heavy (seconds to import) and needed by few commands

# llm-compressor gives loguru a stdout sink when imported, unless this says no console level; `oneshot` below
# sends its messages to logging instead
os.environ.setdefault("LLM_COMPRESSOR_LOG_LEVEL", "")


class PTQError(ReproError, RuntimeError):
    """A PTQ run that cannot proceed; the message says what to do."""


# ------------------------------------------------------------------------------------------------------
# Quantizers
# ------------------------------------------------------------------------------------------------------


def absmax_quantize(x: torch.Tensor, bits: int, dim: int | None = -1) -> torch.Tensor:
    """Symmetric round-to-nearest onto {-q..q}·s, q = 2^(bits-1) - 1, s = absmax / q over `dim` (None: the
    whole tensor). 1 bit: BitNet b1's Eq. 1-2, Sign(x - mean x) * mean|x| with Sign(0) = -1. Returns the
    de-quantized tensor in x's dtype."""
    if bits >= 16:
        return x
    xf = x.float()
    keep = dim is not None
    red = (dim,) if keep else tuple(range(xf.dim()))
    if bits == 1:
        centred = xf - xf.mean(dim=red, keepdim=True)
        beta = xf.abs().mean(dim=red, keepdim=True)
        return torch.where(centred > 0, beta, -beta).to(x.dtype)  # Eq. 2: Sign(0) = -1, as BitNet b1
    q = 2 ** (bits - 1) - 1
    s = xf.abs().amax(dim=red, keepdim=True).clamp(min=1e-8) / q
    return ((xf / s).round().clamp(-q, q) * s).to(x.dtype)


def quantize_weight(w: torch.Tensor, bits: int, granularity: str = "per_channel",
                    group_size: int | None = None) -> torch.Tensor:  # fmt: skip
    """Round-to-nearest weights [out, in]: one scale per tensor, per output channel or per group of inputs."""
    if granularity == "per_tensor":
        return absmax_quantize(w, bits, dim=None)
    if granularity == "per_channel":
        return absmax_quantize(w, bits, dim=1)
    if granularity == "per_group":
        out, inp = w.shape
        if not group_size or inp % group_size:
            raise PTQError(f"group_size {group_size} does not divide the input width {inp}")
        return absmax_quantize(w.reshape(out, inp // group_size, group_size), bits, dim=2).reshape(out, inp)
    raise PTQError(f"unknown granularity {granularity!r}")


def quantize_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-token absmax (dynamic) activation quantization; 16 bits: unchanged."""
    return x if bits >= 16 else absmax_quantize(x, bits, dim=-1)


class FakeQuantLinear(nn.Module):
    """A Linear with round-to-nearest weights (stored de-quantized) and per-token quantized inputs."""

    def __init__(self, linear: nn.Linear, w_bits: int, a_bits: int, granularity: str = "per_channel",
                 group_size: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.w_bits, self.a_bits = w_bits, a_bits
        w = quantize_weight(linear.weight.detach(), w_bits, granularity, group_size)
        self.weight = nn.Parameter(w, requires_grad=False)
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(quantize_activation(x, self.a_bits), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, W{self.w_bits}A{self.a_bits}"


def replace_linears(model: nn.Module, setting, make: Callable[[str, nn.Linear], nn.Module]) -> list[str]:
    """Replace every nn.Linear that the setting does not keep in high precision by make(name, linear).
    Returns the replaced names."""
    targets = [(name, mod) for name, mod in model.named_modules()
               if isinstance(mod, nn.Linear) and not setting.keeps(name)]  # fmt: skip
    for name, mod in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, make(name, mod))
    return [n for n, _ in targets]


def rtn_quantize(model: nn.Module, setting) -> list[str]:
    """Absmax round-to-nearest on weights (and activations, if a_bits < 16) of every non-kept Linear."""
    return replace_linears(
        model,
        setting,
        lambda _, lin: FakeQuantLinear(lin, setting.w_bits, setting.a_bits, setting.granularity, setting.group_size),
    )


def quantize_embeddings(model: nn.Module, setting) -> bool:
    """Embeddings are kept in high precision unless the setting drops `embed_tokens` from `keep`: then they are
    rounded like the weights (per row). Tied output heads are untied first, so `keep` decides each alone."""
    if setting.keeps("embed_tokens"):
        return False
    emb = model.get_input_embeddings()
    head = model.get_output_embeddings()
    if head is not None and head.weight is emb.weight:
        head.weight = nn.Parameter(emb.weight.detach().clone(), requires_grad=False)
    emb.weight.data = absmax_quantize(emb.weight.data, setting.w_bits, dim=1)
    return True


# ------------------------------------------------------------------------------------------------------
# llm-compressor glue
# ------------------------------------------------------------------------------------------------------


def ignore_patterns(setting) -> list[str]:
    """llm-compressor's `ignore` for the setting's high-precision modules (suffix match)."""
    return [f"re:(.*\\.)?{k}$" for k in setting.keep]


def oneshot(model, calib: Calibration, recipe: list) -> None:
    """llm-compressor's `oneshot` on an in-memory model, with our calibration ids, quietly."""
    try:
        from datasets import Dataset
        from llmcompressor import oneshot as lc_oneshot
    except ImportError as e:
        raise PTQError(f"this method needs llm-compressor: pip install -e '.[ptq]' ({e})") from e
    from loguru import logger

    logger.remove()  # llm-compressor's loguru messages go to logging, as the library's own (`-v` shows them)
    logger.add(lambda m: logging.getLogger("llmcompressor").warning(m.rstrip()), level="WARNING")
    # llm-compressor re-reads the model's config from `name_or_path`: in-memory models get one on disk
    anchor = tempfile.mkdtemp(prefix="ptq-config-")
    model.config.save_pretrained(anchor)
    model.config._name_or_path = anchor
    model.name_or_path = anchor
    ids = calib.ids
    ds = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist()})
    lc_oneshot(model=model, dataset=ds, recipe=recipe, processor=calib.tokenizer, num_calibration_samples=len(ids),
               max_seq_length=ids.shape[1], pipeline="sequential" if calib.sequential else "basic")  # fmt: skip


# ------------------------------------------------------------------------------------------------------
# Models and calibration data
# ------------------------------------------------------------------------------------------------------


@dataclass
class Calibration:
    """Calibration token ids [n, seq_len] from the training corpus, and the model's tokenizer."""

    ids: torch.Tensor
    tokenizer: Any
    source: str = ""
    sequential: bool = True  # llm-compressor: calibrate layer by layer (GPTQ's usual)
