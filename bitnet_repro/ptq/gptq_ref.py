"""GPTQ on a single `nn.Linear`, run through two maintained implementations, plus a matching RTN baseline.

Each GPTQ function takes a linear layer, its calibration inputs (any shape ending in `in_features`) and its
`GPTQSettings`, and returns the fake-quantized weight: a float tensor shaped like `linear.weight` whose entries
lie on the quantization grid. The layer itself is not modified.

- `llmcompressor_gptq`: llm-compressor's own per-layer routine (`llmcompressor.modifiers.gptq`). The Hessian
  is built with `make_empty_hessian`/`accumulate_hessian` and normalised by the sample count as
  `GPTQModifier` does; the scales come from llm-compressor's min-max weight observer (computed once from the
  original weights, per row or per group); `quantize_weight` then runs the blocked GPTQ update.
- `gptqmodel_gptq`: GPTQModel's `GPTQ` class (`gptqmodel.quantization.gptq`), fed through `add_batch` and
  finished with `quantize`, configured as its `GPTQProcessor` does (`quantizer.configure(perchannel=True)`).
- `rtn`: plain round-to-nearest on the same grid, the baseline GPTQ must beat.

Shared grid (symmetric int, `b` bits). compressed-tensors' `calculate_qparams` uses
`scale = absmax / ((2**b - 1) / 2)` and codes `clamp(round(w / scale), -2**(b-1), 2**(b-1) - 1)`; GPTQModel's
`Quantizer` with `sym=True` gives the same scale, `(xmax - xmin) / maxq` with `xmin = -absmax`, and codes
`clamp(round(w / scale) + 2**(b-1), 0, 2**b - 1) - 2**(b-1)`, the same set. The grid is thus asymmetric: the
row's largest positive weight, at `+(2**(b-1) - 0.5)` steps, clips to `2**(b-1) - 1`, while `-2**(b-1)` is
reachable only from below. `grid_scale` computes this scale. `sym=False` (min-max scale and zero point) is
passed through to both libraries, which again share one grid; `rtn` and the tests cover the symmetric case.

Settings matched between the two: the same relative damping (`damp * mean(diag(H))` added to the diagonal;
GPTQModel's automatic damp increase is turned off), block size 128, activation order off unless asked for
(llm-compressor `actorder="weight"` = GPTQModel `desc_act=True`), GPTQModel's default `act_group_aware`
reordering off, no MSE scale search. The Hessians differ only by a positive factor (llm-compressor divides
`2 X^T X` by the number of input batches, GPTQModel by the number of tokens), which relative damping and the
GPTQ update ignore.

Differences that remain:
- Group scales: llm-compressor takes them from the original weights; GPTQModel by default takes each group's
  scale from the weights already updated by GPTQ when it reaches the group (the original GPTQ code).
  `gptqmodel_gptq` passes `static_groups=True`, which makes GPTQModel use original-weight scales too, so
  both share one grid. (With GPTQModel's default, 30-45% of the codes differ and its output error is up to
  11% higher at 2 bits, on data like the tests'.) GPTQModel accepts only `group_size` in {16, 32, ..., 1024}.
- Float arithmetic: the Hessian products and the order of accumulation differ slightly, so an occasional
  weight that sits near a rounding boundary is rounded the other way, and the error feedback then spreads
  that difference to later columns of the same row. On the test data most results are bit-identical; the
  others differ in at most 0.2% of the weights and 0.14% in output error.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import torch
from torch import nn

# compressed_tensors, gptqmodel and llmcompressor are imported where used: heavy, and few commands need them

__all__ = ["GPTQSettings", "grid_scale", "rtn", "llmcompressor_gptq", "gptqmodel_gptq", "output_error"]

BLOCK_SIZE = 128


@dataclass(frozen=True)
class GPTQSettings:
    """What both implementations are given: bits, group size (None: per output channel), symmetric grid,
    relative damping and activation order."""

    bits: int
    group_size: int | None = None
    sym: bool = True
    damp: float = 0.01
    actorder: bool = False


def _groups(weight: torch.Tensor, group_size: int | None) -> int:
    cols = weight.shape[1]
    gs = cols if group_size in (None, -1) else group_size
    if cols % gs:
        raise ValueError(f"group_size {gs} must divide in_features {cols}")
    return gs


def grid_scale(weight: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """Symmetric scale per row (or per row and group), broadcast to `weight`'s shape."""
    gs = _groups(weight, group_size)
    w = weight.detach().float().unflatten(1, (-1, gs))
    absmax = w.abs().amax(dim=-1, keepdim=True)
    scale = absmax / ((2**bits - 1) / 2)
    scale = torch.where(scale == 0, torch.finfo(torch.float32).eps, scale)
    return scale.expand_as(w).flatten(1)


def rtn(weight: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """Round-to-nearest on the shared symmetric grid, per output row (or per group of `group_size` inputs)."""
    scale = grid_scale(weight, bits, group_size)
    q = torch.clamp(torch.round(weight.detach().float() / scale), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q * scale


def output_error(x: torch.Tensor, weight: torch.Tensor, wq: torch.Tensor) -> float:
    """Frobenius norm of the layer output error `X W^T - X Wq^T` over all calibration tokens."""
    x = x.reshape(-1, x.shape[-1]).float()
    return torch.linalg.matrix_norm(x @ (weight.float() - wq.float()).T).item()


def llmcompressor_gptq(linear: nn.Linear, inputs: torch.Tensor, g: GPTQSettings) -> torch.Tensor:
    """GPTQ through llm-compressor's `accumulate_hessian` and `quantize_weight`; returns the dequantized weight."""
    from compressed_tensors.quantization import QuantizationArgs
    from llmcompressor.modifiers.gptq.gptq_quantize import quantize_weight
    from llmcompressor.modifiers.gptq.helpers import accumulate_hessian, make_empty_hessian
    from llmcompressor.observers.min_max import MemorylessMinMaxObserver

    grouped = g.group_size not in (None, -1)
    qargs = QuantizationArgs(
        num_bits=g.bits,
        type="int",
        symmetric=g.sym,
        strategy="group" if grouped else "channel",
        group_size=g.group_size if grouped else None,
        actorder="weight" if g.actorder else None,
    )
    weight = linear.weight.detach().float()
    with torch.no_grad():
        hessian = make_empty_hessian(linear)
        num_samples = torch.zeros(())
        hessian, num_samples = accumulate_hessian(inputs.detach().float(), linear, hessian, num_samples)
        hessian = hessian / num_samples  # as `prepare_batch` does

        qparams = MemorylessMinMaxObserver(base_name="weight", args=qargs)(weight).get_qparams()
        quantized, _loss, used_rtn = quantize_weight(
            weights=weight.clone().unsqueeze(0),
            hessians=hessian.unsqueeze(0),
            scale=qparams["scale"].unsqueeze(0),
            zero_point=qparams["zero_point"].unsqueeze(0),
            global_scale=None,
            quant_args=qargs,
            blocksize=BLOCK_SIZE,
            percdamp=g.damp,
        )
    if used_rtn.any():
        raise RuntimeError("llm-compressor fell back to RTN: the damped Hessian is not positive definite")
    return quantized[0]


def gptqmodel_gptq(linear: nn.Linear, inputs: torch.Tensor, g: GPTQSettings) -> torch.Tensor:
    """GPTQ through GPTQModel's `GPTQ` class (`add_batch`, then `quantize`); returns the dequantized weight."""
    os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    from gptqmodel.quantization.config import QuantizeConfig
    from gptqmodel.quantization.gptq import GPTQ

    grouped = g.group_size not in (None, -1)
    qcfg = QuantizeConfig(
        bits=g.bits,
        group_size=g.group_size if grouped else -1,
        sym=g.sym,
        desc_act=g.actorder,
        act_group_aware=False,
        static_groups=grouped,  # group scales from the original weights, as in llm-compressor
        damp_percent=g.damp,
        damp_auto_increment=0.0,
        mse=0.0,
        fallback=None,
        offload_to_disk=False,
    )
    layer = copy.deepcopy(linear).float()
    with torch.no_grad():
        task = GPTQ(layer, qcfg=qcfg)
        task.quantizer.configure(perchannel=True)
        task.add_batch(inputs.detach().float(), None)
        quantized, *_rest, used_damp, _nsamples = task.quantize(blocksize=BLOCK_SIZE)
    if used_damp != g.damp:
        raise RuntimeError(f"GPTQModel changed the damping to {used_damp}")
    return quantized.float()
