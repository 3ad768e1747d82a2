"""Configuration is data: frozen dataclasses for a model, its training and its data. A run is fully described by
a `RunConfig` (model + training + data); it is resolved once, hashed into the run id, and stored beside every
checkpoint as `config.json`. The named shapes and recipes are in `presets.py`, the YAML profiles that expand
into runs in `profile.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from bitnet_repro.errors import ReproError
from bitnet_repro.precision import PRECISIONS, resolve_precision

FORMAT_VERSION = 1

LINEAR_TYPES = ("fp16", "bitnet_b1", "bitnet_b158")  # the variants: every table, file name and flag uses these
VARIANT_LABELS = {"fp16": "FP16 (LLaMA)", "bitnet_b1": "BitNet b1", "bitnet_b158": "BitNet b1.58"}  # for readers
ARCHS = ("llama", "subln", "preln", "bmt")
# Fields added after runs were trained, omitted from a config's dict (and so from run ids and data cache keys)
# while at these defaults, so that adding them renamed nothing already trained
LATER_FIELDS = {"model": {"n_kv_heads": None, "tie_embeddings": False},
                "data": {"tokenizer": None, "format": "array", "shard_tokens": 100_000_000, "shard_parts": 16},
                "train": {"precision": "fp32", "compile": False}}
ACT_QUANTIZERS = ("absmax", "elastic")
B1_ACT_RECIPES = ("sec3", "appendix_e")
EPS_MODES = ("clamp", "add")
SCHEDULES = ("polynomial", "two_stage", "cosine", "constant")


def without_later_defaults(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """A section's fields without the LATER_FIELDS still at their defaults."""
    later = LATER_FIELDS[section]
    return {k: v for k, v in values.items() if not (k in later and v == later[k])}


class ConfigError(ReproError, ValueError):
    """A configuration value is invalid; the message says which and what to use instead."""


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {list(choices)}")


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name}={value!r} must be a finite number {bound}")


@dataclass(frozen=True)
class ModelConfig:
    """Decoder shape and the choice of linear layer (Sec. 2, Sec. 4.1)."""

    vocab_size: int = 4096
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 352  # SwiGLU hidden size ("GLU size" in Table 12)
    max_seq_len: int = 256
    linear: str = "fp16"  # fp16 | bitnet_b1 | bitnet_b158
    # Norm layout. llama: pre-norm only (the FP16 LLaMA baseline). subln: pre-norm + a norm before o_proj
    # and down_proj, which equals Appendix D's "BitLinear has built-in RMSNorm" (see model.py) and is the
    # layout of Hugging Face's BitNetForCausalLM and llama.cpp's BitNet graph. preln: BitNet without SubLN
    # (Table 9). bmt: BitNet with BMT's extra normalisation (Zhang et al. 2023; Table 9).
    arch: str = "llama"
    act_quantizer: str = "absmax"  # absmax (Eq. 6-7) | elastic (BiT, Liu et al. 2022); Table 9
    act_bits: int = 8  # Sec. 2.1: "we quantize the activation to 8-bit"
    # BitNet b1 activations. sec3: the text of Sec. 3.1.1 (per-tensor while training, per-token at
    # inference, unsigned absmax after the non-linearity). appendix_e: the Appendix E code (per-token,
    # signed, in training and inference alike). Default sec3: it is the recipe behind the paper's b1 numbers.
    b1_act_recipe: str = "sec3"
    # Eq. 3/6 add eps to the denominator; Appendix D clamps it at 1e-5. Default: the appendix clamp, which is
    # what the released reference code, Hugging Face's BitNet integration and llama.cpp do.
    quant_eps: float = 1e-5
    eps_mode: str = "clamp"
    quant_groups: int = 1  # Appendix A.1, Eq. 14-15: G groups along the partition dimension
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    init_std: float = 0.02
    # Later additions, for converted pretrained models (SmolLM2); left out of a config's dict, and so of its run
    # id, while at their defaults (LATER_FIELDS), so that adding them renamed no trained run.
    n_kv_heads: int | None = None  # grouped-query attention: K and V heads (None: n_heads)
    tie_embeddings: bool = False  # the output head shares the token embeddings

    def __post_init__(self) -> None:
        _check_choice("model.linear", self.linear, LINEAR_TYPES)
        _check_choice("model.arch", self.arch, ARCHS)
        _check_choice("model.act_quantizer", self.act_quantizer, ACT_QUANTIZERS)
        _check_choice("model.b1_act_recipe", self.b1_act_recipe, B1_ACT_RECIPES)
        _check_choice("model.eps_mode", self.eps_mode, EPS_MODES)
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_seq_len", "quant_groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"model.{name}={value!r} must be a positive integer")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ConfigError(
                f"model.d_model={self.d_model} must split into n_heads={self.n_heads} heads of even size "
                "(rotary embeddings rotate pairs of channels)"
            )
        if self.n_kv_heads is not None and (
            not isinstance(self.n_kv_heads, int) or self.n_kv_heads <= 0 or self.n_heads % self.n_kv_heads
        ):
            raise ConfigError(f"model.n_kv_heads={self.n_kv_heads!r} must divide n_heads={self.n_heads}")
        if not 2 <= self.act_bits <= 16:
            raise ConfigError(f"model.act_bits={self.act_bits} must be between 2 and 16")
        if self.linear == "fp16" and self.arch != "llama":
            raise ConfigError(
                f"model.arch={self.arch!r} only applies to BitNet models; the FP16 baseline is arch='llama'"
            )
        if self.linear != "fp16" and self.arch == "llama":
            raise ConfigError("BitNet models need arch 'subln' (default), 'preln' or 'bmt', not 'llama'")
        for dim_name in ("d_model", "d_ff"):
            if getattr(self, dim_name) % self.quant_groups:
                raise ConfigError(
                    f"model.quant_groups={self.quant_groups} must divide model.{dim_name}={getattr(self, dim_name)}"
                )
        _check_positive("model.quant_eps", self.quant_eps)
        _check_positive("model.norm_eps", self.norm_eps)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def is_bitnet(self) -> bool:
        return self.linear != "fp16"

    @property
    def n_params_nonembedding(self) -> int:
        """Weights of the linear layers of the blocks (Kaplan et al.'s N; norms and embeddings excluded)."""
        kv = 2 * self.d_model * self.kv_heads * self.head_dim  # k_proj and v_proj
        return self.n_layers * (2 * self.d_model**2 + kv + 3 * self.d_model * self.d_ff)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule (Tables 10, 11, 13)."""

    schedule: str = "cosine"  # polynomial (Table 10) | two_stage (Sec. 2.2.3, Table 13) | cosine | constant
    lr: float = 1e-3  # peak LR (stage 1 for two_stage)
    lr_stage2: float | None = None  # two_stage: LR the second half starts from
    min_lr_ratio: float = 0.1  # cosine / two_stage: final LR as a fraction of the (stage) LR
    weight_decay: float = 0.1
    wd_stage2: float | None = None  # two_stage: weight decay of the second half (0 in Table 13)
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 10
    steps: int = 100
    batch_tokens: int = 4096  # tokens per optimiser step (gradient accumulation reaches it)
    micro_batch: int = 16  # sequences per forward pass
    seq_len: int = 256
    grad_clip: float = 0.0  # 0 disables; Appendix B: "gradient clipping [is] disabled"
    seed: int = 1337
    eval_every: int = 50
    eval_tokens: int = 65536  # tokens per validation set per evaluation
    ckpt_every: int = 50
    diverge_factor: float = 4.0  # cross-entropy above this factor times its running minimum counts as divergence
    device: str = "cpu"
    amp: bool = True  # CUDA: bf16 autocast whatever `precision` says (the setting before `precision` existed)
    threads: int = 0  # torch intra-op threads on CPU; 0 keeps torch's default
    parallel: str = "ddp"  # ddp | fsdp under torchrun
    # Later additions, left out of a config's dict (and so of its run id) at these defaults (LATER_FIELDS).
    # precision: fp32 | bf16 (autocast) | auto, which is resolved here, for `device`, to bf16 where the device has
    # native bf16 matrix units and fp32 elsewhere (bitnet_repro/precision.py), so a config never holds `auto`
    precision: str = "fp32"
    compile: bool = False  # torch.compile (inductor) of the training step's model, the whole graph (fullgraph)

    def __post_init__(self) -> None:
        _check_choice("train.precision", self.precision, PRECISIONS)
        if self.precision == "auto":
            object.__setattr__(self, "precision", resolve_precision("auto", self.device))
        if not isinstance(self.compile, bool):
            raise ConfigError(f"train.compile={self.compile!r} must be true or false")
        _check_choice("train.schedule", self.schedule, SCHEDULES)
        _check_positive("train.lr", self.lr)
        if self.lr_stage2 is not None:
            _check_positive("train.lr_stage2", self.lr_stage2)
        _check_positive("train.weight_decay", self.weight_decay, allow_zero=True)
        if self.wd_stage2 is not None:
            _check_positive("train.wd_stage2", self.wd_stage2, allow_zero=True)
        _check_positive("train.min_lr_ratio", self.min_lr_ratio, allow_zero=True)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"train.betas={self.betas!r} must be two numbers in [0, 1)")
        for name in ("steps", "batch_tokens", "micro_batch", "seq_len", "eval_every", "eval_tokens", "ckpt_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"train.{name}={value!r} must be a positive integer")
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps < self.steps:
            raise ConfigError(f"train.warmup_steps={self.warmup_steps!r} must be in [0, steps={self.steps})")
        if self.batch_tokens % (self.micro_batch * self.seq_len):
            raise ConfigError(
                f"train.batch_tokens={self.batch_tokens} must be a multiple of micro_batch*seq_len="
                f"{self.micro_batch * self.seq_len}"
            )
        _check_positive("train.grad_clip", self.grad_clip, allow_zero=True)
        if self.diverge_factor <= 1:
            raise ConfigError(f"train.diverge_factor={self.diverge_factor} must be > 1")
        _check_choice("train.parallel", self.parallel, ("ddp", "fsdp"))

    @property
    def autocast_precision(self) -> str:
        """What the forward passes run in: `precision`, but bf16 on CUDA while `amp` is on."""
        return "bf16" if self.device == "cuda" and self.amp else self.precision

    @property
    def grad_accum(self) -> int:
        return self.batch_tokens // (self.micro_batch * self.seq_len)

    @property
    def total_tokens(self) -> int:
        return self.steps * self.batch_tokens


@dataclass(frozen=True)
class DataConfig:
    """Where text comes from and how it is tokenised (see data.py)."""

    source: str = "local"  # local (the data directory) | hf (a Hugging Face datasets corpus, streaming)
    data_dir: str | None = None  # None: $BITNET_REPRO_DATA, else ../shared/data next to the repository
    corpus: tuple[str, ...] = ("c4", "brown", "tinystories")
    vocab_size: int = 4096
    tokenizer_sample_chars: int = 20_000_000  # SentencePiece trains on at most this much text
    c4_val_docs: int = 200  # C4 documents held out for validation (fixed by content hash)
    indomain_val_frac: float = 0.02  # fraction of the training mix held out as the in-domain validation set
    hf_dataset: str = "allenai/c4"
    hf_config: str | None = "en"
    hf_train_tokens: int = 10_000_000
    # None: a SentencePiece BPE of `vocab_size` pieces trained on the corpus; a pretrained model's name
    # (smollm2-135m): that model's own tokenizer, for distilling it (vocab_size must be its size)
    tokenizer: str | None = None
    # How the training tokens are stored. array: one train.bin, tokenized in memory by one process, windows
    # drawn at random offsets (the smoke and cpu profiles). shards: the document stream split into `shard_parts`
    # parts tokenized by parallel workers into shards of `shard_tokens` tokens, read by a loader that visits
    # every window once per epoch (bitnet_repro/shards.py; the paper profile's 100B-token corpora)
    format: str = "array"
    shard_tokens: int = 100_000_000
    shard_parts: int = 16

    def __post_init__(self) -> None:
        _check_choice("data.source", self.source, ("local", "hf"))
        _check_choice("data.format", self.format, ("array", "shards"))
        for name in ("shard_tokens", "shard_parts", "hf_train_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (2 if name == "shard_tokens" else 1):
                raise ConfigError(f"data.{name}={value!r} must be a positive integer")
        if self.format == "shards" and self.tokenizer:
            raise ConfigError("data.format=shards tokenizes with the profile's own SentencePiece model, not a "
                              f"pretrained tokenizer ({self.tokenizer}); use data.format=array")
        for name in self.corpus:
            _check_choice("data.corpus entry", name, ("c4", "brown", "tinystories"))
        if not 0 < self.indomain_val_frac < 0.5:
            raise ConfigError(f"data.indomain_val_frac={self.indomain_val_frac!r} must be in (0, 0.5)")
        if self.vocab_size < 260:
            raise ConfigError(f"data.vocab_size={self.vocab_size} must be >= 260 (256 byte-fallback pieces + specials)")


@dataclass(frozen=True)
class DistillConfig:
    """BitDistill (Wu et al. 2025; bitnet_repro/distill.py): the student is initialised from a full-precision
    teacher's weights and trained with cross-entropy + `logit_weight` * logits KD + `relation_weight` * Q/K/V
    relation KD at block `layer`; the first `cpt_steps` steps are continued pre-training (cross-entropy only).
    Both weights 0 is ternary QAT from the teacher without distillation (BitDistill's "BitNet-SFT")."""

    teacher: str  # a pretrained name (smollm2-135m) or an FP16 checkpoint directory of this suite
    logit_weight: float = 10.0
    relation_weight: float = 1e5
    temperature: float = 5.0
    layer: int = -1  # the block whose q/k/v relations are distilled (negative: from the last)
    relation_heads: int | None = None  # None: the teacher's key/value heads
    cpt_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("logit_weight", "relation_weight", "cpt_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"distill.{name}={getattr(self, name)} must not be negative")
        _check_positive("distill.temperature", self.temperature)


@dataclass(frozen=True)
class RunConfig:
    name: str
    model: ModelConfig
    train: TrainConfig
    data: DataConfig = field(default_factory=DataConfig)
    profile: str = "custom"
    size: str = "custom"
    variant: str = "fp16"
    distill: DistillConfig | None = None  # BitDistill: a student trained from a teacher (left out when None)

    def __post_init__(self) -> None:
        if self.distill is not None and not self.model.is_bitnet:
            raise ConfigError("distill: the student of a distillation run is a BitNet model (model.linear)")
        if self.model.vocab_size != self.data.vocab_size:
            raise ConfigError(
                f"model.vocab_size={self.model.vocab_size} differs from data.vocab_size={self.data.vocab_size}"
            )
        if self.train.seq_len > self.model.max_seq_len:
            raise ConfigError(f"train.seq_len={self.train.seq_len} exceeds model.max_seq_len={self.model.max_seq_len}")

    def to_dict(self) -> dict[str, Any]:
        d = {"format_version": FORMAT_VERSION, **dataclasses.asdict(self)}
        for section in LATER_FIELDS:
            d[section] = without_later_defaults(section, d[section])
        if d["distill"] is None:
            del d["distill"]
        return d

    @property
    def run_id(self) -> str:
        """`name-sha256(canonical config)[:10]`: a changed value gives a new run directory."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return f"{self.name}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        version = d.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ConfigError(
                f"config format_version={version!r}, this bitnet_repro reads version {FORMAT_VERSION}; "
                "retrain the run or use the bitnet_repro release that wrote it"
            )
        return cls(
            name=d["name"],
            model=build_section(ModelConfig, d["model"], "model"),
            train=build_section(TrainConfig, d["train"], "train"),
            data=build_section(DataConfig, d.get("data", {}), "data"),
            profile=d.get("profile", "custom"),
            size=d.get("size", "custom"),
            variant=d.get("variant", "fp16"),
            distill=build_section(DistillConfig, d["distill"], "distill") if d.get("distill") else None,
        )


def build_section(cls: type, values: dict[str, Any], section: str) -> Any:
    """A config dataclass from a mapping, with a clear error for unknown keys."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in {section}: {unknown}; valid keys: {sorted(known)}")
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()}
    return cls(**values)
