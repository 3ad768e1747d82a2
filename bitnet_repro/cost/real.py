"""Inference cost of a real model's GGUF files on this CPU (`export.real` writes them): the pretrained FP16
teacher (F16) against its BitNet b1.58 students (TQ2_0), in llama.cpp. Each measurement runs in a fresh process,
so that resident memory is that model's alone; the logits are checked against the export's reference before
anything is timed. `side_by_side` interleaves the models over several rounds, so that a machine that is busy
for a while slows every model alike, and reports each model's median round and each round's ratios.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bitnet_repro.cost.measure import _summary, device_info, rss
from bitnet_repro.cost.shapes import CostError
from bitnet_repro.export.gguf import LlamaCpp, agreement


def measure_gguf(export_dir: str | Path, file: str, prompt: int = 128, new_tokens: int = 64,
                 threads: int = 2) -> dict[str, Any]:  # fmt: skip
    """Time per output token (median of `new_tokens` greedy steps after a `prompt`-token prefill), prefill time
    and resident memory of one GGUF file of `export_dir`."""
    d = Path(export_dir)
    if not (d / file).is_file():
        raise CostError(f"{d / file} is missing (GGUF files are not kept in git): re-run its export, "
                        f"python -m bitnet_repro export-real --model <model> --out {d}")  # fmt: skip
    exports, ref = json.loads((d / "exports.json").read_text()), np.load(d / "reference.npz")
    ids, reference = ref["ids"].tolist(), ref["logits"]
    prompt_ids = torch.randint(3, reference.shape[-1], (prompt,), generator=torch.Generator().manual_seed(7)).tolist()
    gc.collect()
    base, t0 = rss(), time.perf_counter()
    with LlamaCpp(d / file, n_ctx=max(prompt + new_tokens, len(ids)), n_threads=threads) as lc:
        load_s = time.perf_counter() - t0
        agree = agreement(reference, lc.logits(ids))
        if agree["correlation"] < 0.98 or agree["kl_nats"] > 0.1:
            raise CostError(f"{d / file}: llama.cpp's logits disagree with the export's reference ({agree}); "
                            "not timing a different model. Re-run the export.")  # fmt: skip
        prefill_s, steps = lc.time_decoding(prompt_ids, new_tokens)
        resident = rss() - base
    return {"model": exports["model"], "variant": exports["variant"], "file": file,
            "file_bytes": (d / file).stat().st_size, "prompt_tokens": prompt, "new_tokens": new_tokens,
            **_summary(steps), "tokens_per_s": 1e3 / _summary(steps)["ms_per_token"], "prefill_s": prefill_s,
            "load_s": load_s, "resident_bytes": resident, "agreement": agree, **device_info(threads)}  # fmt: skip


def _in_fresh_process(*args) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure_gguf, *args).result()


def side_by_side(models: list[tuple[str, str]], rounds: int = 3, prompt: int = 128, new_tokens: int = 64,
                 threads: int = 2) -> dict[str, Any]:  # fmt: skip
    """`models`: (export directory, GGUF file) pairs, the first the baseline. Every round measures each model once,
    in order, each in a fresh process; a model's numbers are its median round (by ms per token)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for d, f in models:
            r = _in_fresh_process(d, f, prompt, new_tokens, threads)
            runs.setdefault(r["model"], []).append(r)
    base = runs[next(iter(runs))]
    out = []
    for rs in runs.values():
        med = sorted(rs, key=lambda r: r["ms_per_token"])[len(rs) // 2]
        ratios = [b["ms_per_token"] / r["ms_per_token"] for b, r in zip(base, rs)]
        out.append({**med, "rounds_ms_per_token": [r["ms_per_token"] for r in rs],
                    "speedup_vs_first_by_round": ratios, "speedup_vs_first": statistics.median(ratios)})  # fmt: skip
    return {"rounds": rounds, "models": out, "baseline": next(iter(runs))}
