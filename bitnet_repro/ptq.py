"""Post-training quantization (PTQ) of FP16 models, evaluated the way trained models are: Table 3 and Figure 7.

The methods live in `baselines/` (one file each); this module is what they share:

- quantizers: symmetric absmax round-to-nearest (Dettmers et al. 2022) at any bit width, with 1 bit meaning
  BitNet b1's binarization `sign(W - mean W) * mean|W|` (the libraries' 1-bit grid is {-1, 0}, not what the
  paper compares against); per-token absmax for activations;
- `FakeQuantLinear`, a Linear whose weights are stored quantized (de-quantized to float) and whose input is
  quantized per token on the fly: the simulated-quantization reference every method is measured with;
- glue to llm-compressor's `oneshot` (GPTQ, SmoothQuant, QuIP-style rotations) for in-memory models;
- loading an FP16 model as `transformers.LlamaForCausalLM` (a suite checkpoint through `convert.to_hf_llama`,
  SmolLM2-135M-Instruct from its GGUF), calibration sequences from the training corpus, the non-finite check,
  and `run_ptq`, which quantizes, checks and evaluates one (model, setting) into a results JSON.

Everything is evaluated in memory, never saved and reloaded: a compressed save drops QuIP's rotations.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger(__name__)

SMOLLM2_TOKENS = "2T (SmolLM2 model card)"


class PTQError(RuntimeError):
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

    logger.remove()
    logger.add(lambda m: log.info(m.rstrip()), level="WARNING")
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


@dataclass
class FP16Model:
    model: Any  # transformers causal LM, float32 on CPU
    tokenizer: Any
    name: str
    info: dict[str, Any]
    data_config: Any = None  # a suite model's training data config: its held-out C4 documents for token PPL


def load_fp16(spec: str) -> FP16Model:
    """An FP16 model as `transformers`: a suite checkpoint directory (FP16 variant) or a pretrained name."""
    from .convert import hf_tokenizer, to_hf_llama
    from .lm import PRETRAINED, _package_dir, find_tokenizer, load_hf_gguf

    if spec in PRETRAINED:
        package, gguf_file = PRETRAINED[spec]
        model, tok = load_hf_gguf(_package_dir(package), gguf_file)
        # de-quantized to float32 on load: the model's own reference precision from here on (its weights went
        # through Q4_1 once, which Table 3's caption states); llm-compressor refuses configs that say "gguf"
        for holder in (model.config, model):
            if getattr(holder, "quantization_config", None) is not None:
                delattr(holder, "quantization_config")
        model.hf_quantizer = None
        n = sum(p.numel() for p in model.parameters())
        return FP16Model(model.eval(), tok, spec, {"model": spec, "params": n, "tokens_trained": SMOLLM2_TOKENS,
                                                    "size": spec, "variant": "fp16", "source": gguf_file})  # fmt: skip
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise PTQError(f"--model {spec!r} is neither a checkpoint directory nor a known pretrained name")
    from .config import ConfigError, RunConfig
    from .train import load_model_dir

    try:
        declared = RunConfig.from_dict(json.loads((path / "config.json").read_text())).model
    except (ConfigError, KeyError, json.JSONDecodeError):
        declared = None  # load_model_dir says what is wrong with it
    if declared is not None and (declared.linear != "fp16" or declared.arch != "llama"):
        raise PTQError(f"PTQ quantizes FP16 (llama) models; {spec} is {declared.linear}/{declared.arch}. "
                       "Point --model at the FP16 run of the same size.")  # fmt: skip
    model, cfg = load_model_dir(path)
    hf = to_hf_llama(model)
    hf.config.bos_token_id = None
    tok = hf_tokenizer(find_tokenizer(path, cfg))
    info = {"model": cfg.run_id, "run_id": cfg.run_id, "size": cfg.size, "variant": cfg.variant,
            "profile": cfg.profile, "tokens_trained": cfg.train.total_tokens,
            "params_nonembedding": model.count_params()}  # fmt: skip
    return FP16Model(hf, tok, cfg.run_id, info, cfg.data)


def calibration(fp16: FP16Model, data_dir: Path, n: int, seq_len: int, seed: int = 0) -> Calibration:
    """`n` sequences of `seq_len` tokens from the training corpus's token array (`train.bin` of the suite's
    data directory) at random offsets. A model with another tokenizer (SmolLM2) gets the same corpus text:
    a slab of train.bin is decoded with the suite's SentencePiece model and re-encoded with its own tokenizer."""
    import sentencepiece as spm

    from .data import load_tokens

    train = load_tokens(data_dir, "train")
    rng = np.random.default_rng(seed)
    if "run_id" in fp16.info:  # a suite model: its tokenizer made train.bin
        if len(train) < seq_len + 1:
            raise PTQError(f"{data_dir}/train.bin holds {len(train)} tokens, fewer than one {seq_len}-token sequence")
        starts = rng.integers(0, len(train) - seq_len, size=n)
        ids = torch.from_numpy(np.stack([np.asarray(train[s : s + seq_len], dtype=np.int64) for s in starts]))
        return Calibration(
            ids, fp16.tokenizer, f"{data_dir}/train.bin, {n} x {seq_len} at random offsets (seed {seed})"
        )
    sp = spm.SentencePieceProcessor(model_file=str(data_dir / "tokenizer.model"))
    need, out, pos = n * seq_len, [], int(rng.integers(0, max(1, len(train) // 2)))
    while len(out) < need:
        chunk = np.asarray(train[pos : pos + 4 * seq_len], dtype=np.int64).tolist()
        if not chunk:
            raise PTQError(f"{data_dir}/train.bin is too small for {n} x {seq_len} calibration tokens")
        out.extend(fp16.tokenizer.encode(sp.decode(chunk), add_special_tokens=False))
        pos += len(chunk)
    ids = torch.tensor(out[:need], dtype=torch.long).view(n, seq_len)
    return Calibration(ids, fp16.tokenizer, f"{data_dir}/train.bin decoded and re-tokenized, {n} x {seq_len}")


# ------------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------------


@torch.no_grad()
def finite_status(model, ids: torch.Tensor) -> str:
    """'ok', or what is not finite: a weight (named) or the logits of a calibration sequence."""
    for name, p in model.named_parameters():
        if p.is_floating_point() and not torch.isfinite(p).all():
            return f"non-finite weights ({name})"
    logits = model(input_ids=ids).logits
    if not torch.isfinite(logits).all():
        return "non-finite logits"
    return "ok"


def weight_levels(model, setting, max_modules: int = 4) -> dict[str, int]:
    """Distinct values per output row (max over rows) of the first quantized Linears: at most 2^bits for
    round-to-nearest per channel, for the tests and the results JSON."""
    out = {}
    for name, mod in model.named_modules():
        w = getattr(mod, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() == 2 and not setting.keeps(name) and "embed" not in name:
            out[name] = max(int(torch.unique(row).numel()) for row in w.detach().float()[:16])
            if len(out) >= max_modules:
                break
    return out


# ------------------------------------------------------------------------------------------------------
# One PTQ run: quantize, check, evaluate
# ------------------------------------------------------------------------------------------------------


def quantize(fp16: FP16Model, s, calib: Calibration | None):
    """Apply setting `s` to the model in place and return it (embeddings by `keep` too)."""
    from baselines import get

    method = get(s.method)()
    model = method.apply(fp16.model, calib, s)
    quantize_embeddings(model, s)
    return model.eval()


def run_ptq(model: str, method: str, data_dir: Path, tasks: list[str], num_fewshot: int = 0,
            limit: int | None = None, calib_samples: int = 128, calib_seq_len: int = 256,
            params: dict[str, Any] | None = None, batch_size: int = 32, batch_tokens: int | None = None,
            max_length: int | None = None, ppl_max_tokens: int | None = None, out: Path | None = None,
            device: str = "cpu", **meta: Any) -> dict[str, Any]:  # fmt: skip
    """Quantize `model` with `method` (e.g. gptq:W4A16), check it is finite, evaluate it on `tasks` and return
    (and write) the results JSON: lm-eval's results plus our "bitnet_repro" section with a "ptq" entry.
    A model whose quantized weights or logits are not finite is recorded with that status and no scores."""
    from baselines import get, setting

    from .evaluate import resolve_tasks, run_eval, task_manager
    from .lm import HFEngine, SuiteLM
    from .utils import atomic_write_text, run_meta

    s = setting(method, calib_samples=calib_samples, params=params or {})  # bad settings fail before any work
    resolve_tasks(tasks, task_manager())
    cls = get(s.method)
    t0 = time.perf_counter()
    fp16 = load_fp16(model)
    calib = calibration(fp16, Path(data_dir), s.calib_samples, calib_seq_len)
    qmodel = quantize(fp16, s, calib)
    t_quant = time.perf_counter() - t0
    status = finite_status(qmodel, calib.ids[:1])
    ptq = {"setting": {**asdict(s), "spec": s.spec, "params": dict(s.params)}, "status": status,
           "method_title": cls.title, "reference": cls.reference, "implementation": cls.implementation,
           "caveat": cls.caveat, "calibration": calib.source, "seconds_quantize": round(t_quant, 2),
           "weight_levels": weight_levels(qmodel, s), "model_info": fp16.info}  # fmt: skip
    log.info("%s on %s: quantized in %.1fs, %s", s.spec, fp16.name, t_quant, status)
    if status == "ok":
        engine = HFEngine(qmodel.to(device), fp16.tokenizer, f"{fp16.name}+{s.spec}", max_length)
        engine.data_config = fp16.data_config  # the same held-out C4 documents as the FP16 run's evaluation
        lm = SuiteLM(engine=engine, batch_size=batch_size, batch_tokens=batch_tokens)
        results = run_eval(lm, tasks, num_fewshot=num_fewshot, limit=limit, ppl_max_tokens=ppl_max_tokens, **meta)
    else:
        results = {"bitnet_repro": {"model": f"{fp16.name}+{s.spec}", "num_fewshot": num_fewshot, "limit": limit,
                                    "tasks_requested": list(tasks), "meta": run_meta(**meta)}}  # fmt: skip
    results["bitnet_repro"]["ptq"] = ptq
    if out is not None:
        from lm_eval.utils import handle_non_serializable

        atomic_write_text(Path(out), json.dumps(results, indent=2, default=handle_non_serializable))
    return results
