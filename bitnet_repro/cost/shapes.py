"""The paper's model shapes for the cost measurements (Table 12 and LLaMA 2's 7B/13B/70B), the formats each
engine stores them in, and the analytic weight and KV-cache bytes. Light on purpose: the tables read it
without loading an engine."""

from __future__ import annotations

import math

from bitnet_repro.config import VARIANT_LABELS, ModelConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.presets import SIZES

VOCAB = 32000
# d_model, d_ff, heads, layers of the cost sizes: Table 12 (b1.58, LLaMA) and LLaMA 2 7B/13B/70B, from the presets
SHAPES = {
    name.split("-", 1)[1]: (s["d_model"], s["d_ff"], s["n_heads"], s["n_layers"])
    for name, s in SIZES.items()
    if s["source"] in ("Table 12", "LLaMA 2")
}
BLOCK = 256  # TQ2_0 / TQ1_0 block
# variant -> (engine, file in the prepared directory, bytes per linear weight)
VARIANTS = {
    ("llama.cpp", "fp16"): ("fp16.gguf", 2.0),
    ("llama.cpp", "bitnet_b158"): ("bitnet_b158-tq2_0.gguf", 66 / 256),
    ("llama.cpp", "bitnet_b158-tq1_0"): ("bitnet_b158-tq1_0.gguf", 54 / 256),
    ("torch", "fp16"): ("fp16.safetensors", 2.0),
    ("torch", "bitnet_b158"): ("bitnet_b158-int8.safetensors", 1.0),
}
LABELS = {v: VARIANT_LABELS[v] for v in ("fp16", "bitnet_b158")} | {"bitnet_b158-tq1_0": "BitNet b1.58 (TQ1_0)"}
FORMATS = {
    ("llama.cpp", "fp16"): "F16",
    ("llama.cpp", "bitnet_b158"): "TQ2_0",
    ("llama.cpp", "bitnet_b158-tq1_0"): "TQ1_0",
    ("torch", "fp16"): "float16",
    ("torch", "bitnet_b158"): "int8 codes",
}
# Table 7: LLaMA 70B in FP16 fitted a batch of 16 sequences of 512 tokens on two 80 GB A100s (Sec. 5)
PAPER_TABLE7_FP16_BATCH = 16


class CostError(ReproError, RuntimeError):
    """A cost measurement that cannot run or whose model disagrees with ours; the message says what to do."""


def cost_config(size: str, variant: str):
    if size not in SHAPES:
        raise CostError(f"unknown size {size!r}; the cost sizes are {', '.join(SHAPES)}")
    d, f, heads, layers = SHAPES[size]
    f = math.ceil(f / BLOCK) * BLOCK
    linear = "fp16" if variant == "fp16" else "bitnet_b158"
    return ModelConfig(
        vocab_size=VOCAB,
        d_model=d,
        n_layers=layers,
        n_heads=heads,
        d_ff=f,
        max_seq_len=4096,
        linear=linear,
        arch="llama" if linear == "fp16" else "subln",
    )


def analytic_bytes(size: str, bytes_per_weight: float, ctx: int = 0, batch: int = 1, kv_bytes: int = 2) -> dict:
    """Weights (linear layers at `bytes_per_weight`, embeddings and norms in FP16, tied head) and the KV cache of
    `batch` sequences of `ctx` tokens."""
    cfg = cost_config(size, "fp16")
    d, f, L = cfg.d_model, cfg.d_ff, cfg.n_layers
    linear = L * (4 * d * d + 3 * d * f)
    other = 2 * (VOCAB * d + L * 2 * d + d)
    kv = 2 * L * d * ctx * batch * kv_bytes
    return {"linear_params": linear, "weights": linear * bytes_per_weight + other, "kv": kv}
