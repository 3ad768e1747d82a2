"""The pack step: a trained BitNet checkpoint -> a versioned inference artefact.

    artefact/
      manifest.json      format, format_version, variant, packing, the run's config, byte counts
      weights.safetensors  for every BitLinear: `<name>.packed` (uint8) and `<name>.beta` (float32, per tensor);
                           everything else (embeddings, norms, output head) in FP16, as the paper counts memory

BitLinear weights are stored as integer codes, ternary at 2 bits per weight in the Hugging Face BitNet layout
(`pack_ternary`) for b1.58, binary at 1 bit per weight (`pack_binary`) for b1, with beta beside. `load_packed`
rebuilds the model; its quantized weights are bitwise those of the checkpoint it came from (the dequantization
repeats the reference's float operations: b1.58 `codes / (1 / beta)`, b1 `codes * beta`). The size on disk of
the packed tensors is the memory Table 4 talks about; `packed_bytes` gives the analytic count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from bitnet_repro.bitlinear import BitLinear
from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.config import RunConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.kernels.pack import pack_binary, pack_ternary, packed_bytes, unpack_binary, unpack_ternary
from bitnet_repro.model import Transformer
from bitnet_repro.utils import atomic_write_text

ARTEFACT_FORMAT = "bitnet-repro-packed"
ARTEFACT_VERSION = 1
PACKING = {"bitnet_b158": "ternary-2bit-hf", "bitnet_b1": "binary-1bit"}


def _frozen_bitlinear():
    class FrozenBitLinear(BitLinear):
        """A BitLinear whose `weight` already holds the quantized weights W~ * beta (from an artefact): the
        forward uses them as they are (norm, activation quantization and matmul unchanged)."""

        def _quantize(self) -> torch.Tensor:
            return self.weight

    return FrozenBitLinear


class ArtefactError(ReproError, RuntimeError):
    """An artefact this version cannot read, or one packed for another variant; the message says what to do."""


def _bitlinears(model) -> dict[str, Any]:
    return {name: m for name, m in model.named_modules() if isinstance(m, BitLinear)}


def pack_checkpoint(model_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Pack a BitNet b1.58 or b1 checkpoint directory into `out_dir`; returns the manifest."""

    model, cfg = load_model_dir(Path(model_dir))
    if cfg.variant not in PACKING:
        raise ArtefactError(f"{model_dir} is a {cfg.variant} model; the pack step takes BitNet b1.58 or b1 models")
    layers = _bitlinears(model)
    tensors: dict[str, torch.Tensor] = {}
    packed_total, scale_total = 0, 0
    for name, lin in layers.items():
        if lin.groups != 1:
            raise ArtefactError(f"{name}: packing supports one weight scale per tensor, not groups={lin.groups}")
        codes, beta = lin.integer_weights()
        ternary = lin.variant == "bitnet_b158"
        packed, fmt = (pack_ternary(codes), "ternary") if ternary else (pack_binary(codes), "binary")
        assert packed.numel() == packed_bytes(*codes.shape, fmt)
        tensors[f"{name}.packed"], tensors[f"{name}.beta"] = packed, beta.reshape(1).float()
        packed_total += packed.numel()
        scale_total += 4
    skip = {f"{name}.weight" for name in layers}
    other_total = 0
    for key, value in model.state_dict().items():
        if key in skip:
            continue
        tensors[key] = value.detach().to(torch.float16) if value.is_floating_point() else value.detach()
        other_total += tensors[key].numel() * tensors[key].element_size()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "weights.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(out / "weights.safetensors")
    manifest = {
        "format": ARTEFACT_FORMAT, "format_version": ARTEFACT_VERSION, "variant": cfg.variant,
        "packing": PACKING[cfg.variant], "config": cfg.to_dict(), "source": str(model_dir),
        "bytes": {"packed_weights": packed_total, "weight_scales": scale_total, "other_fp16": other_total,
                  "total": packed_total + scale_total + other_total,
                  "file": (out / "weights.safetensors").stat().st_size},
        "layers": {name: list(lin.weight.shape) for name, lin in layers.items()},
    }  # fmt: skip
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return manifest


def read_manifest(artefact: str | Path, variant: str | None = None) -> dict[str, Any]:
    """The artefact's manifest, refused with a clear error when its format or version is not this one's, or when
    it was packed for another variant than `variant`."""
    path = Path(artefact) / "manifest.json"
    if not path.is_file():
        raise ArtefactError(f"{artefact} is not a packed artefact: manifest.json is missing (run `pack` first)")
    m = json.loads(path.read_text())
    if m.get("format") != ARTEFACT_FORMAT:
        raise ArtefactError(f"{artefact}: format {m.get('format')!r} is not {ARTEFACT_FORMAT!r}")
    if m.get("format_version") != ARTEFACT_VERSION:
        raise ArtefactError(
            f"{artefact} has format_version {m.get('format_version')!r}; this bitnet_repro reads version "
            f"{ARTEFACT_VERSION}. Re-pack it from its checkpoint: python -m bitnet_repro pack --model "
            f"{m.get('source', '<checkpoint dir>')} --out {artefact}"
        )
    if variant is not None and m.get("variant") != variant:
        raise ArtefactError(f"{artefact} was packed for {m.get('variant')}, not {variant}: pack the {variant} "
                            "checkpoint instead")  # fmt: skip
    return m


def load_packed(artefact: str | Path, variant: str | None = None):
    """Rebuild the model from an artefact (float32, eval mode); returns (model, config)."""

    m = read_manifest(artefact, variant)
    cfg = RunConfig.from_dict(m["config"])
    tensors = load_file(str(Path(artefact) / "weights.safetensors"))
    model = Transformer(cfg.model)
    state = {}
    for name, shape in m["layers"].items():
        packed, beta = tensors.pop(f"{name}.packed"), tensors.pop(f"{name}.beta")[0]
        if m["packing"] == "ternary-2bit-hf":
            codes = unpack_ternary(packed, shape[0]).float()
            state[f"{name}.weight"] = codes / (1.0 / beta)
        else:
            state[f"{name}.weight"] = unpack_binary(packed, shape[0]).float() * beta
    state.update({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    model.load_state_dict(state, strict=True)
    frozen = _frozen_bitlinear()
    for lin in _bitlinears(model).values():
        lin.__class__ = frozen  # re-quantizing W~ * beta would rescale it (mean |W~ beta| != beta)
    return model.eval(), cfg
