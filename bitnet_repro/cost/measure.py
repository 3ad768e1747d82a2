"""Inference cost on the device at hand: memory and time per output token (Table 4's cost columns, Figure 8)
and the largest batch under a memory budget with its throughput (Table 7), FP16 against BitNet b1.58, always
measured side by side in the same run.

Models: the paper's shapes (Table 12, and LLaMA 2's 7B/13B/70B for the analytic columns) with random weights
(cost does not depend on the values), vocabulary 32,000 (LLaMA's), the output head tied to the embeddings in
both models (llama.cpp's BitNet graph requires a tied head, so FP16 is tied too to keep the comparison like
for like). TQ2_0 packs rows in blocks of 256, so an FFN width that is not a multiple of 256 is rounded up
(1.3B: 5460 -> 5632, 3% more FFN weights, both models).

Engines (CPU):
- `llama.cpp` (llama-cpp-python): FP16 as an F16 GGUF; b1.58 as TQ2_0 (2.06 bits per weight) and TQ1_0 (1.69).
- `torch`, this suite's own path: FP16 in float16; b1.58 as int8 codes with int8 activations and
  `torch._int_mm` (kernels/cpu.py), 1 byte per weight.

Every measured model is first checked against our reference forward pass (float32, the model as trained) on
the same tokens; a model whose logits disagree is not timed.

Steps: `prepare` writes the models of one size once (GGUF files, safetensors for the torch path, reference
logits); `measure` loads one of them in a fresh process and times prefill and decoding; `throughput` finds the
largest batch under a budget (Table 7). Memory is the process's resident set while decoding, minus what it held
before loading the model. The three steps stay in one module (over 400 lines) because they share the model
loading, the agreement check and the timing helpers.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load, save_file
from tqdm import tqdm

from bitnet_repro.bitlinear import BitLinear
from bitnet_repro.config import ModelConfig
from bitnet_repro.cost.shapes import FORMATS, SHAPES, VARIANTS, VOCAB, CostError, analytic_bytes, cost_config
from bitnet_repro.export.gguf import LlamaCpp, Vocab, agreement, reference_logits, write_gguf
from bitnet_repro.infer import KVCache, generate
from bitnet_repro.kernels.cpu import TernaryInt8Linear, to_int8_inference
from bitnet_repro.model import Transformer
from bitnet_repro.utils import atomic_write_text


def rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def device_info(threads: int) -> dict[str, Any]:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"device": "cpu", "cpu": name, "threads": threads, "cores": os.cpu_count()}


# ------------------------------------------------------------------------------------------------------
# prepare: one size's models, written once
# ------------------------------------------------------------------------------------------------------


# Above this many bytes of float32 weights, `prepare` builds the models in bfloat16 (a 7B model in float32 would
# not fit a 24 GB machine beside its GGUF buffers); their reference logits are still float32's, block by block.
FLOAT32_LIMIT = 8e9


def random_model(size: str, variant: str, seed: int, dtype: torch.dtype = torch.float32):
    """Our Transformer at a cost shape with random weights (normal, std 0.02; norms 1), head tied; built on the
    meta device and materialized directly in `dtype`."""

    cfg = cost_config(size, variant)
    with torch.device("meta"):
        model = Transformer(cfg)
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        for name, p in list(mod.named_parameters(recurse=False)):
            if p.dim() == 1:
                t = torch.ones(p.shape, dtype=dtype)
            else:
                t = torch.empty(p.shape, dtype=torch.float32).normal_(0, cfg.init_std, generator=g).to(dtype)
            setattr(mod, name, torch.nn.Parameter(t, requires_grad=False))
    model.lm_head.weight = model.embed_tokens.weight
    return model.eval()


def _torch_state(model, variant: str) -> dict[str, torch.Tensor]:
    """The torch path's tensors: FP16 weights, or for b1.58 int8 codes + beta and FP16 for the rest."""

    out = {}
    skip = set()
    if variant == "bitnet_b158":
        for name, m in model.named_modules():
            if isinstance(m, BitLinear):
                codes, beta = m.integer_weights()
                out[f"{name}.codes_t"] = codes.t().contiguous()  # (in, out): TernaryInt8Linear's layout
                out[f"{name}.beta"] = beta.reshape(1)
                skip.add(f"{name}.weight")
    for k, v in model.state_dict().items():
        if k not in skip and k != "lm_head.weight":  # tied
            out[k] = v.detach().half().contiguous()
    return out


def _drop_inference_caches(model) -> None:
    """BitLinear keeps its quantized weights after an inference forward (4 bytes per weight): free them."""
    for m in model.modules():
        if getattr(m, "_inference_cache", None) is not None:
            m._inference_cache = None


@torch.no_grad()
def reference_logits_float32(model, ids: list[int]) -> np.ndarray:
    """Logits of a model held in bfloat16, computed in float32 one block at a time (each block is upcast for its
    own forward, then rounded back, which is exact): the float32 reference without float32 copies of the
    whole model."""
    mods = [*model.layers, model.norm, model.lm_head]

    def pre(mod, args):
        mod.float()
        return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)

    def post(mod, args, out):
        mod.to(torch.bfloat16)
        _drop_inference_caches(mod)
        return out

    handles = [h for m in mods for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        return model(torch.tensor([ids]))[0][0].float().numpy()
    finally:
        for h in handles:
            h.remove()


def prepare(size: str, out_dir: str | Path, seed: int = 0, check_tokens: int = 32,
            engines: tuple[str, ...] = ("llama.cpp", "torch")) -> dict[str, Any]:  # fmt: skip
    """Write the FP16 and b1.58 models of `size` (random weights) for `engines`, with reference logits."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = Vocab.synthetic(VOCAB)
    ids = torch.randint(3, VOCAB, (check_tokens,), generator=torch.Generator().manual_seed(seed + 1)).tolist()
    refs, files = {}, {}
    steps = [("fp16", [("fp16.gguf", "f16")]),
             ("bitnet_b158", [("bitnet_b158-tq2_0.gguf", "tq2_0"), ("bitnet_b158-tq1_0.gguf", "tq1_0")])]  # fmt: skip
    dtype = torch.float32 if 4 * analytic_bytes(size, 1.0)["linear_params"] <= FLOAT32_LIMIT else torch.bfloat16
    for variant, ggufs in tqdm(steps, desc=f"prepare {size}", unit="model"):
        model = random_model(size, variant, seed, dtype)
        # the model as trained, in float32 (block by block for a bfloat16 model)
        refs[variant] = reference_logits(model, ids) if dtype == torch.float32 else reference_logits_float32(model, ids)
        _drop_inference_caches(model)
        for fname, wt in ggufs if "llama.cpp" in engines else []:
            write_gguf(model, out / fname, wt, vocab, name=f"{variant}-{size}-random")
            files[fname] = (out / fname).stat().st_size
        if "torch" in engines:
            tname = f"{variant}-int8.safetensors" if variant == "bitnet_b158" else "fp16.safetensors"
            save_file(_torch_state(model, variant), str(out / tname))
            files[tname] = (out / tname).stat().st_size
        del model
        gc.collect()
    np.savez(out / "reference.npz", ids=np.array(ids), **refs)
    manifest = {
        "size": size,
        "seed": seed,
        "shape": dict(zip(("d_model", "d_ff", "heads", "layers"), SHAPES[size])),
        "d_ff_used": cost_config(size, "fp16").d_ff,
        "vocab": VOCAB,
        "files": files,
        "weights": "random (normal, std 0.02), head tied to the embeddings",
        "reference_dtype": str(dtype).replace("torch.", ""),
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


# ------------------------------------------------------------------------------------------------------
# measure: one engine and variant, in its own process
# ------------------------------------------------------------------------------------------------------


def load_torch(prep: Path, size: str, variant: str, dtype: torch.dtype = torch.float16):
    """The torch path's model from `prepare`'s safetensors, built on the meta device; its half-precision
    tensors in `dtype` (float16, or bfloat16 where this CPU multiplies batches faster in it)."""

    # read into private memory (a mapped file would count only the pages touched, and keep converted ones)
    tensors = load((prep / VARIANTS[("torch", variant)][0]).read_bytes())
    for k, v in tensors.items():
        if v.dtype == torch.float16 and dtype != torch.float16:
            tensors[k] = v.to(dtype)
    with torch.device("meta"):
        model = Transformer(cost_config(size, variant))
    if variant == "bitnet_b158":
        for name, m in list(model.named_modules()):
            for child_name, child in list(m.named_children()):
                if isinstance(child, BitLinear):
                    key = f"{name}.{child_name}" if name else child_name
                    codes_t, beta = tensors.pop(f"{key}.codes_t"), tensors.pop(f"{key}.beta")
                    setattr(m, child_name, TernaryInt8Linear(codes_t, float(beta)))
    missing, unexpected = model.load_state_dict(tensors, strict=False, assign=True)
    left = [k for k in missing if not k.endswith((".codes_t",)) and k != "lm_head.weight"]
    if left or unexpected:
        raise CostError(
            f"{prep}: the torch model's tensors do not match ({left[:3]}, {unexpected[:3]}); re-run prepare"
        )
    model.lm_head.weight = model.embed_tokens.weight
    return model.eval()


def _warm_up(variant: str, dtype: torch.dtype) -> None:
    """Run the torch path once on a tiny model, so the libraries' one-time start-up memory (thread pools, kernel
    caches) is in the baseline and not counted as the measured model's."""

    linear = "fp16" if variant == "fp16" else "bitnet_b158"
    cfg = ModelConfig(
        vocab_size=512,
        d_model=256,
        n_layers=1,
        n_heads=4,
        d_ff=512,
        max_seq_len=64,
        linear=linear,
        arch="llama" if linear == "fp16" else "subln",
    )
    model = Transformer(cfg).eval()
    if variant != "fp16":
        to_int8_inference(model)
    generate(model.to(dtype), torch.randint(0, 512, (2, 8)), 3, preallocate=True)
    del model
    gc.collect()


def _summary(steps_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1e3 for s in steps_s)
    return {"ms_per_token": statistics.median(ms), "p10_ms": ms[len(ms) // 10], "p90_ms": ms[(9 * len(ms)) // 10]}


def _check(agree: dict[str, float], engine: str, variant: str, min_corr: float = 0.98, max_kl: float = 0.05) -> None:
    """Random 24-layer BitNet models amplify last-bit differences (a flipped activation code), so the gate is
    loose: a wrong export or layout gives correlations near 0 (tests/test_gguf.py holds the tight checks)."""
    if not (agree["correlation"] >= min_corr and agree["kl_nats"] <= max_kl):
        raise CostError(
            f"{engine} {variant}: logits disagree with our model (correlation {agree['correlation']:.4f}, "
            f"KL {agree['kl_nats']:.3g}); not timing a different model. Re-run prepare, or check the export "
            "(tests/test_gguf.py)"
        )


def measure(
    prep_dir: str | Path, engine: str, variant: str, prompt: int = 128, new_tokens: int = 64, threads: int = 2
) -> dict[str, Any]:
    """Time per output token (median over `new_tokens` decoding steps after a `prompt`-token prefill) and
    resident memory, for one engine and variant of a prepared size."""

    prep = Path(prep_dir)
    if (engine, variant) not in VARIANTS:
        raise CostError(f"unknown engine/variant {engine}/{variant}; choose from {sorted(VARIANTS)}")
    manifest = json.loads((prep / "manifest.json").read_text())
    size = manifest["size"]
    ref = np.load(prep / "reference.npz")
    ids = ref["ids"].tolist()
    reference = ref["fp16" if variant == "fp16" else "bitnet_b158"]
    prompt_ids = torch.randint(3, VOCAB, (prompt,), generator=torch.Generator().manual_seed(7)).tolist()
    torch.set_num_threads(threads)
    if engine == "torch":
        _warm_up(variant, torch.float16)
    gc.collect()
    base = rss()
    t0 = time.perf_counter()
    if engine == "llama.cpp":

        lc = LlamaCpp(
            prep / VARIANTS[(engine, variant)][0], n_ctx=max(prompt + new_tokens, len(ids)), n_threads=threads
        )
        load_s = time.perf_counter() - t0
        agree = agreement(reference, lc.logits(ids))
        _check(agree, engine, variant)
        prefill_s, steps = lc.time_decoding(prompt_ids, new_tokens)
        resident = rss() - base
        cfg = cost_config(size, variant)
        kv = 2 * cfg.n_layers * cfg.d_model * lc.llm.n_ctx() * 2  # K and V, F16
        lc.close()
    else:

        model = load_torch(prep, size, variant)
        load_s = time.perf_counter() - t0
        with torch.no_grad():
            agree = agreement(reference, model(torch.tensor([ids]))[0][0].float().numpy())
        _check(agree, engine, variant)
        timings: dict = {}
        generate(model, torch.tensor([prompt_ids]), new_tokens + 1, timings=timings, preallocate=True)
        prefill_s, steps, kv = timings["prefill_s"], timings["step_s"], timings["kv_bytes"]
        resident = rss() - base
    weights = sum(v for k, v in manifest["files"].items() if k == VARIANTS[(engine, variant)][0])
    return {
        "size": size,
        "engine": engine,
        "variant": variant,
        "format": FORMATS[(engine, variant)],
        "prompt_tokens": prompt,
        "new_tokens": new_tokens,
        **_summary(steps),
        "prefill_s": prefill_s,
        "load_s": load_s,
        "resident_bytes": resident,
        "file_bytes": weights,
        "kv_bytes": kv,
        "analytic_weight_bytes": analytic_bytes(size, VARIANTS[(engine, variant)][1])["weights"],
        "agreement": agree,
        **device_info(threads),
        "weights": manifest["weights"],
        "d_ff_used": manifest["d_ff_used"],
    }


# ------------------------------------------------------------------------------------------------------
# throughput: the largest batch under a memory budget (Table 7)
# ------------------------------------------------------------------------------------------------------


def throughput(
    prep_dir: str | Path,
    variant: str,
    batch: int | None = None,
    budget_bytes: float | None = None,
    context: int = 512,
    steps: int = 8,
    threads: int = 2,
    dtype: torch.dtype = torch.bfloat16,
) -> dict[str, Any]:
    """Decoding throughput of `batch` sequences of `context` tokens on the torch path, or of the largest batch
    whose weights, KV cache (2 bytes per value) and measured overhead fit `budget_bytes`.

    Table 7 scaled to this device: FP16 runs the paper's batch of 16, which defines the budget (its resident
    weights + overhead + 16 caches); b1.58 then gets the largest batch that fits the same budget. The context is
    a filled cache (random K and V: the cost of attending does not depend on them), so no prefill is run. The
    overhead (activations, library buffers) is measured at batch 1."""

    if (batch is None) == (budget_bytes is None):
        raise CostError("give either a batch (it defines the budget) or a budget (the largest batch is found)")
    prep = Path(prep_dir)
    size = json.loads((prep / "manifest.json").read_text())["size"]
    torch.set_num_threads(threads)
    _warm_up(variant, dtype)
    gc.collect()
    base = rss()
    model = load_torch(prep, size, variant, dtype)
    weights = rss() - base
    cfg = model.cfg
    kv_seq = 2 * cfg.n_layers * cfg.d_model * (context + steps) * 2

    def run(b: int) -> tuple[float, int]:
        cache = KVCache.empty(model, capacity=context + steps)
        for layer in cache.layers:
            layer.fill(b, cfg.n_heads, cfg.head_dim, context, dtype)
        tok = torch.randint(3, VOCAB, (b, 1), generator=torch.Generator().manual_seed(3))
        times = []
        with torch.no_grad():
            for _ in range(steps):
                t = time.perf_counter()
                logits, _ = model(tok, cache=cache)
                tok = logits[:, -1].argmax(-1, keepdim=True)
                times.append(time.perf_counter() - t)
        used = rss() - base
        del cache
        gc.collect()
        return statistics.median(times[1:]), used

    _, used1 = run(1)
    overhead = max(used1 - weights - kv_seq, 0)
    if batch is None:
        batch = int((budget_bytes - weights - overhead) // kv_seq)
        if batch < 1:
            raise CostError(
                f"{variant} {size}: weights ({weights / 1e9:.2f} GB) and overhead leave no room in the budget"
            )
    else:
        budget_bytes = weights + overhead + batch * kv_seq
    step, used = run(batch)
    return {
        "size": size,
        "engine": "torch",
        "variant": variant,
        "format": ("int8 codes + " if variant == "bitnet_b158" else "") + str(dtype).replace("torch.", ""),
        "dtype": str(dtype).replace("torch.", ""),
        "context": context,
        "budget_bytes": budget_bytes,
        "weights_resident_bytes": weights,
        "kv_bytes_per_sequence": kv_seq,
        "overhead_bytes": overhead,
        "max_batch": batch,
        "resident_bytes": used,
        "step_s": step,
        "tokens_per_s": batch / step,
        **device_info(threads),
    }
