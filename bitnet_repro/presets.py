"""The presets: one table of named model shapes (SIZES) and the training recipes that go with them.

Presets cite the paper table they come from (Tables 10, 12, 13 of the BitNet paper) so that the `paper`
profile trains the paper's exact shapes with its recipes; the LLaMA 2 rows are the cost tables' larger sizes.
The `cpu-*` and `tiny-*` rows are ours, sized for a 2-core machine (see README, "Scales").
"""

from __future__ import annotations

import math
from typing import Any

from bitnet_repro.config import LINEAR_TYPES, ModelConfig, _check_choice

# --------------------------------------------------------------------------------------------------------
# Presets: shapes. d_ff is the SwiGLU hidden size.
# Table 10 gives no FFN width; the b1 paper's Transformer has a 4d two-matrix FFN, and a SwiGLU of width
# 8d/3 (rounded up to a multiple of 64) has the same parameter count, so the sizes keep their names.
# --------------------------------------------------------------------------------------------------------


def _swiglu_width(d: int) -> int:
    return int(math.ceil(8 * d / 3 / 64) * 64)


SIZES: dict[str, dict[str, Any]] = {
    # Ours: CI smoke models (two sizes, seconds each).
    "tiny-1": dict(d_model=32, n_layers=1, n_heads=2, d_ff=96, source="ours (smoke)"),
    "tiny-2": dict(d_model=48, n_layers=2, n_heads=2, d_ff=128, source="ours (smoke)"),
    # Ours: the CPU ladder (2 cores): 0.11M to 1.0M non-embedding parameters (9.3x), SwiGLU width about 8d/3;
    # sized from measured step times so that 13 models fit the default job (README "Scales").
    "cpu-xs": dict(d_model=64, n_layers=2, n_heads=2, d_ff=192, source="ours (cpu)"),
    "cpu-s": dict(d_model=96, n_layers=2, n_heads=3, d_ff=256, source="ours (cpu)"),
    "cpu-m": dict(d_model=128, n_layers=3, n_heads=4, d_ff=352, source="ours (cpu)"),
    "cpu-l": dict(d_model=144, n_layers=4, n_heads=4, d_ff=384, source="ours (cpu)"),
    # cpu-xs at twice the width (BitNet b1.58 Reloaded: ternary models match 16-bit ones at twice the hidden size)
    "cpu-xs-2x": dict(d_model=128, n_layers=2, n_heads=4, d_ff=384, source="ours (cpu): cpu-xs at twice the width"),
    # Ours: the CPU ladder for a CPU with bf16 matrix units (`cpu-bf16` profile, not run yet but its top rung):
    # 0.39M to 3.16M non-embedding parameters (8.1x), head size 64, SwiGLU width about 8d/3; named by their
    # non-embedding parameters; shapes from bf16 pilots made by hand on a CPU with AMX (README "Scales")
    "cpu-0.4M": dict(d_model=128, n_layers=2, n_heads=2, d_ff=336, source="ours (cpu)"),
    "cpu-0.9M": dict(d_model=192, n_layers=2, n_heads=3, d_ff=512, source="ours (cpu)"),
    "cpu-1.8M": dict(d_model=192, n_layers=4, n_heads=3, d_ff=512, source="ours (cpu)"),
    "cpu-3.2M": dict(d_model=256, n_layers=4, n_heads=4, d_ff=688, source="ours (cpu)"),
    "cpu-0.4M-2x": dict(d_model=256, n_layers=2, n_heads=4, d_ff=688,
                        source="ours (cpu): cpu-0.4M at twice the width"),
    # Table 10: BitNet b1 and its FP16 Transformer baselines.
    **{
        f"b1-{name}": dict(d_model=d, n_layers=layers, n_heads=heads, d_ff=_swiglu_width(d), source="Table 10")
        for name, d, layers, heads in [
            ("125M", 768, 12, 12),
            ("350M", 1024, 24, 16),
            ("760M", 1536, 24, 16),
            ("1.3B", 2048, 24, 32),
            ("2.7B", 2560, 32, 32),
            ("6.7B", 4096, 32, 32),
            ("13B", 5120, 40, 40),
            ("30B", 7168, 48, 56),
        ]
    },
    # Table 12: BitNet b1.58 and LLaMA LLM.
    **{
        f"b158-{name}": dict(d_model=d, n_layers=layers, n_heads=heads, d_ff=glu, source="Table 12")
        for name, d, glu, heads, layers in [
            ("700M", 1536, 4096, 24, 24),
            ("1.3B", 2048, 5460, 32, 24),
            ("3B", 3200, 8640, 32, 26),
            ("3.9B", 3200, 12800, 32, 26),
        ]
    },
    # The real pretrained model (SmolLM2-135M-Instruct): the shape of BitDistill's student (`bitdistill`)
    "smollm2-135m": dict(d_model=576, n_layers=30, n_heads=9, n_kv_heads=3, d_ff=1536, tie_embeddings=True,
                         rope_theta=100000.0, norm_eps=1e-5, source="SmolLM2-135M"),
    # LLaMA 2 7B/13B/70B (without grouped-query attention): the larger sizes of Table 4's and Figure 8's cost
    # columns and of Table 7, measured with random weights.
    **{
        f"llama2-{name}": dict(d_model=d, n_layers=layers, n_heads=heads, d_ff=glu, source="LLaMA 2")
        for name, d, glu, heads, layers in [
            ("7B", 4096, 11008, 32, 32),
            ("13B", 5120, 13824, 40, 40),
            ("70B", 8192, 28672, 64, 80),
        ]
    },
}

# Recipes. Paper rows: Table 10 (b1: polynomial decay, betas (0.9, 0.98), warmup 750, 40K steps,
# batch 128 x 2048 tokens; "gradient clipping disabled", Appendix B) and Table 13 (b1.58: two-stage,
# betas (0.9, 0.95), warmup 375, 100K steps, batch 1M tokens).
_B1_ROWS = {  # size: (lr, weight decay)
    "125M": (2.4e-3, 0.01), "350M": (1.2e-3, 0.01), "760M": (1e-3, 0.01), "1.3B": (8e-4, 0.01),
    "2.7B": (6.4e-4, 0.01), "6.7B": (4.8e-4, 0.01), "13B": (4e-4, 0.05), "30B": (4e-4, 0.05),
}  # fmt: skip
_B158_ROWS = {  # size: (lr stage 1, lr stage 2, LLaMA lr)
    "700M": (1.5e-3, 1e-3, 2.5e-4), "1.3B": (1.2e-3, 8e-4, 2.0e-4),
    "3B": (1.2e-3, 8e-4, 2.0e-4), "3.9B": (1.2e-3, 8e-4, 2.0e-4),
}  # fmt: skip

# Ours, for the CPU ladder and the smoke models: one peak LR per variant for every width (no LR-width coupling:
# the `cpu` profile sets each variant's LR from its pilot sweep, README "Scales"). BitNet b1.58 uses the
# two-stage schedule with Table 13's stage-2 ratio (1e-3 / 1.5e-3 = 2/3), b1 Table 10's polynomial decay.
_SMALL_LR = {"fp16": 2e-3, "bitnet_b1": 4e-3, "bitnet_b158": 4e-3}
STAGE2_RATIO = 2 / 3


def recipe(size: str, variant: str) -> dict[str, Any]:
    """Training hyperparameters for a (size, variant) pair, from the paper's tables where they exist."""
    _check_choice("size", size, tuple(SIZES))
    _check_choice("variant", variant, LINEAR_TYPES)
    family, _, tag = size.partition("-")
    if family == "b1":  # Table 10 (Appendix B); FP16 Transformer baselines use the same settings (Sec. 3.1.1)
        lr, wd = _B1_ROWS[tag]
        return dict(schedule="polynomial", lr=lr, weight_decay=wd, betas=(0.9, 0.98), warmup_steps=750,
                    steps=40_000, batch_tokens=128 * 2048, seq_len=2048, grad_clip=0.0)  # fmt: skip
    if family == "b158":  # Table 13 (Appendix C)
        lr1, lr2, llama_lr = _B158_ROWS[tag]
        common = dict(betas=(0.9, 0.95), warmup_steps=375, steps=100_000, batch_tokens=512 * 2048, seq_len=2048)
        if variant == "fp16":  # "LLaMA LLM" rows: one LR, weight decay 0.1 throughout
            return dict(schedule="cosine", lr=llama_lr, weight_decay=0.1, **common)
        return dict(schedule="two_stage", lr=lr1, lr_stage2=lr2, weight_decay=0.1, wd_stage2=0.0, **common)
    return small_recipe(variant, _SMALL_LR[variant])


def small_recipe(variant: str, lr: float) -> dict[str, Any]:
    """The recipe of our small models at peak LR `lr`: b1.58 two-stage (Table 13's shape), b1 polynomial with
    Table 10's betas and weight decay, FP16 the LLaMA recipe (cosine)."""
    if variant == "bitnet_b158":
        return dict(schedule="two_stage", lr=lr, lr_stage2=round(lr * STAGE2_RATIO, 8), weight_decay=0.1,
                    wd_stage2=0.0)  # fmt: skip
    if variant == "bitnet_b1":
        return dict(schedule="polynomial", lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    return dict(schedule="cosine", lr=lr, weight_decay=0.1)


def default_arch(variant: str) -> str:
    return "llama" if variant == "fp16" else "subln"


def preset_model(size: str, variant: str, **overrides: Any) -> ModelConfig:
    """Model config for a named size and variant ("shrink a real preset": pass overrides)."""
    _check_choice("size", size, tuple(SIZES))
    shape = {k: v for k, v in SIZES[size].items() if k != "source"}
    fields = dict(shape, linear=variant, arch=default_arch(variant))
    fields.update(overrides)
    return ModelConfig(**fields)
