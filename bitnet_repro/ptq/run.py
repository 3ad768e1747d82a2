"""One PTQ run, evaluated the way trained models are (Table 3 and Figure 7): load an FP16 model as
`transformers.LlamaForCausalLM` (a suite checkpoint through `export.hf.to_hf_llama`, SmolLM2-135M-Instruct from
its GGUF), draw calibration sequences from the training corpus, quantize with a registered method
(bitnet_repro/ptq/baselines/), check for non-finite outputs and evaluate: `run_ptq` writes one results JSON.

Everything is evaluated in memory, never saved and reloaded: a compressed save drops QuIP's rotations.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import torch

from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.config import ConfigError, RunConfig
from bitnet_repro.data import load_tokens
from bitnet_repro.eval.harness import resolve_tasks, run_eval, task_manager
from bitnet_repro.eval.lm import HFEngine, SuiteLM, find_tokenizer, not_a_model
from bitnet_repro.export.hf import hf_tokenizer, to_hf_llama
from bitnet_repro.pretrained import PRETRAINED, load_hf_gguf, package_dir
from bitnet_repro.ptq.baselines import get, setting
from bitnet_repro.ptq.quantize import Calibration, PTQError, quantize_embeddings
from bitnet_repro.utils import atomic_write_text, run_meta

# lm_eval is imported where used: heavy (seconds to import) and needed by few commands

log = logging.getLogger(__name__)
SMOLLM2_TOKENS = "2T (SmolLM2 model card)"


@dataclass
class FP16Model:
    model: Any  # transformers causal LM, float32 on CPU
    tokenizer: Any
    name: str
    info: dict[str, Any]
    data_config: Any = None  # a suite model's training data config: its held-out C4 documents for token PPL


def load_fp16(spec: str) -> FP16Model:
    """An FP16 model as `transformers`: a suite checkpoint directory (FP16 variant) or a pretrained name."""

    if spec in PRETRAINED:
        package, gguf_file = PRETRAINED[spec]
        model, tok = load_hf_gguf(package_dir(package), gguf_file)
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
        raise PTQError(not_a_model(spec))

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
    if not (data_dir / "tokenizer.model").is_file():
        raise PTQError(f"{data_dir}/tokenizer.model not found: --calib-data must be a directory written by "
                       "`python -m bitnet_repro data` (it decodes train.bin)")  # fmt: skip
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

    s = setting(method, calib_samples=calib_samples, params=params or {})  # bad settings fail before any work
    load_tokens(Path(data_dir), "train")  # and so does missing calibration data
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
