"""Sharded data benchmark: how fast this machine tokenizes into shards, and whether the shard loader keeps a GPU fed.

tokenize  The local corpus's C4 documents, repeated to `target_tokens` tokens and cut into parts, are tokenized into
          shards by `shards.write_shards` with 1 worker and with every core, with a SentencePiece BPE of the
          `paper` profile's vocabulary (16K) trained here on the same corpus. The rate per core is the 1-worker
          rate (one part per process, as the paper-scale step runs); the all-core rate shows how it scales here.
load      `ShardedTokens.batch` of the `paper` profile's global batch (512 x 2048 tokens) and of one rank's share on
          a node of 8 GPUs (64 x 2048), from the page cache ("warm") and with every shard dropped from the page
          cache before each batch ("cold": posix_fadvise DONTNEED, so the windows come from the disk).
need      The tokens per second one GPU consumes, from the committed CUDA training-step benchmarks of
          results/gpu/ (b1.58-700M, bf16, eager and torch.compile'd): the loader keeps a GPU fed when a rank's
          cold batch takes less time than the GPU's step on it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm

from bitnet_repro.config import DataConfig
from bitnet_repro.cost.measure import device_info
from bitnet_repro.data import _train_tokenizer, c4_documents, resolve_data_dir
from bitnet_repro.paper.writer import Table, write_table
from bitnet_repro.profile import REPO_ROOT
from bitnet_repro.shards import ShardedTokens, epoch_order, write_shards
from bitnet_repro.utils import atomic_write_text, run_meta

log = logging.getLogger(__name__)

GPU_BENCHES = {"eager": "bench_train_step_b158-700M_cuda.json",
               "compile": "bench_train_step_b158-700M_cuda_compile.json"}  # fmt: skip
PAPER_TOKENS = 100_000_000_000  # b1.58's corpus (Sec. 3.2.1: RedPajama, 100B tokens)
NODE_CORES = (16, 64, 128)


def _drop_cache(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _tokenize(docs: list[str], tokenizer: Path, out: Path, parts: int, workers: int) -> dict[str, Any]:
    chunks = np.array_split(np.arange(len(docs)), parts)
    tic = time.perf_counter()
    manifest = write_shards([[docs[i] for i in c] for c in chunks], tokenizer, out, shard_tokens=16 * 2**20,
                            workers=workers, progress=False)  # fmt: skip
    wall = time.perf_counter() - tic
    chars = sum(len(d) for d in docs)
    tokens = manifest["tokens"]
    return {"workers": workers, "parts": parts, "tokens": tokens, "wall_s": round(wall, 2),
            "tokens_per_s": round(tokens / wall), "tokens_per_s_per_core": round(tokens / wall / workers),
            "mb_text_per_s_per_core": round(chars / wall / workers / 1e6, 2),
            "chars_per_token": round(chars / tokens, 3), "shards": len(manifest["shards"])}  # fmt: skip


def _load(out_dir: Path, rows: int, repeats: int, cold: bool, random_access: bool = True) -> dict[str, Any]:
    loader = ShardedTokens(out_dir, seq_len=2048, seed=0, random_access=random_access)
    shard_paths = [out_dir / "shards" / f for f in loader.files]
    if not cold:  # every shard in the page cache first
        for path in shard_paths:
            path.read_bytes()
    times = []
    for step in range(repeats):
        if cold:  # a fresh loader (pages mapped by a process stay in the cache) and no shard page in the cache
            loader = ShardedTokens(out_dir, seq_len=2048, seed=0, random_access=random_access)
            _drop_cache(shard_paths)
        ids = loader.window_ids(step, rows)  # the order only: no shard page is read
        tic = time.perf_counter()
        loader.windows(ids)
        times.append(time.perf_counter() - tic)
    median = statistics.median(times)
    return {"rows": rows, "seq_len": loader.seq_len, "cold": cold, "madv_random": random_access, "repeats": repeats,
            "ms_median": round(median * 1e3, 2), "tokens_per_s": round(rows * loader.seq_len / median)}  # fmt: skip


def _overlap(out_dir: Path, steps: int = 20, rows: int = 64) -> dict[str, Any]:
    """A rank's training loop with a stand-in for the GPU's step (matmuls, which release the GIL as a CUDA wait
    does), from a cold page cache: reading each step's windows in the loop, and reading them ahead in a thread as
    `train.ShardWindows` does. The time per step above the stand-in alone is what the loader costs the GPU."""
    import torch

    from bitnet_repro.config import TrainConfig
    from bitnet_repro.train import ShardWindows

    torch.set_num_threads(1)
    a = torch.randn(768, 768)

    def gpu_step() -> None:
        for _ in range(12):
            a @ a

    t = TrainConfig(steps=steps, seq_len=2048, micro_batch=rows, batch_tokens=rows * 2048, warmup_steps=1, seed=1)
    out: dict[str, Any] = {"rows": rows, "steps": steps}
    for mode in ("step_alone", "read_in_loop", "read_ahead"):
        stream = ShardWindows(out_dir, t)
        _drop_cache([out_dir / "shards" / f for f in stream.loader.files])
        tic = time.perf_counter()
        for step in range(steps):
            if mode == "read_ahead":
                stream.batch(step, rows, 0, 1)
            elif mode == "read_in_loop":
                stream._read(step, rows, 0, 1)
            gpu_step()
        out[f"{mode}_ms_per_step"] = round((time.perf_counter() - tic) / steps * 1e3, 1)
    for mode in ("read_in_loop", "read_ahead"):
        out[f"{mode}_overhead_ms"] = round(out[f"{mode}_ms_per_step"] - out["step_alone_ms_per_step"], 1)
    return out


def _permutation(tokens: int, seq_len: int) -> dict[str, Any]:
    """What the loader's order of one epoch costs at the paper's scale: the permutation of its windows."""
    n = tokens // seq_len
    tic = time.perf_counter()
    order = epoch_order(0, 0, n)
    return {"windows": n, "seconds": round(time.perf_counter() - tic, 2), "mb": round(order.nbytes / 1e6)}


def _gpu_need(gpu_dir: Path) -> dict[str, Any]:
    need = {}
    for mode, name in GPU_BENCHES.items():
        path = gpu_dir / name
        if not path.exists():
            continue
        b = json.loads(path.read_text())
        ms = b["step_time_ms_median"]["bitnet_b158"]
        need[mode] = {"source": f"results/gpu/{name}", "device": b["device"], "step_ms": ms,
                      "tokens_per_step": b["micro_batch"] * b["seq_len"],
                      "tokens_per_s_per_gpu": round(b["micro_batch"] * b["seq_len"] / (ms / 1e3))}  # fmt: skip
    return need


def bench(out: Path, target_tokens: int = 40_000_000, repeats: int = 20, vocab_size: int = 16000,
          data: DataConfig | None = None, gpu_dir: Path = REPO_ROOT / "results" / "gpu") -> dict[str, Any]:  # fmt: skip
    data = data or DataConfig(vocab_size=vocab_size, tokenizer_sample_chars=20_000_000)
    docs = c4_documents(resolve_data_dir(data))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        work = Path(tmp)
        log.info("training a %d-piece tokenizer on %d C4 documents", vocab_size, len(docs))
        _train_tokenizer(docs, data, work / "tokenizer.model")
        sp = spm.SentencePieceProcessor(model_file=str(work / "tokenizer.model"))
        per_doc = sum(len(x) for x in sp.encode(docs[:500])) / 500
        corpus = docs * max(1, math.ceil(target_tokens / (per_doc * len(docs))))
        parts = 2 * cores  # several parts per worker, as a paper-scale run has
        tokenize = [_tokenize(corpus, work / "tokenizer.model", work / f"w{w}", parts, w) for w in sorted({1, cores})]
        for row in tokenize:
            log.info("tokenize, %d workers: %s tokens/s per core", row["workers"], f"{row['tokens_per_s_per_core']:,}")
        load = [_load(work / "w1", rows, repeats, cold) for rows in (512, 64) for cold in (False, True)]
        load.append(_load(work / "w1", 64, repeats, cold=True, random_access=False))  # the kernel's read-ahead on
        for row in load:
            log.info("load %d x 2048, %s%s: %.2f ms", row["rows"], "cold" if row["cold"] else "warm",
                     "" if row["madv_random"] else ", read-ahead on", row["ms_median"])  # fmt: skip
        overlap = _overlap(work / "w1")
        log.info("a rank's loop, cold: %s", overlap)

    rate = tokenize[0]["tokens_per_s_per_core"]
    need = _gpu_need(gpu_dir)
    rank_cold = next(r for r in load if r["rows"] == 64 and r["cold"])
    result: dict[str, Any] = {
        "what": "sharded pre-tokenization throughput per core, and the shard loader against a GPU's token rate",
        "tokenize": {**device_info(cores), "vocab_size": vocab_size, "corpus": "local C4 documents, repeated",
                     "tokens_per_s_per_core": rate, "runs": tokenize},
        "load": load,
        "overlap": overlap,
        "paper_permutation": _permutation(PAPER_TOKENS * 105 // 100, 2048),
        "gpu_need": need,
        "paper_tokens": PAPER_TOKENS,
        "paper_disk_gb": PAPER_TOKENS * 2 / 1e9,  # uint16 ids
        "paper_hours_on_node": {str(n): round(PAPER_TOKENS / (rate * n) / 3600, 2) for n in NODE_CORES},
        "meta": run_meta(device="cpu"),
    }  # fmt: skip
    if need:
        fastest = max(v["tokens_per_s_per_gpu"] for v in need.values())
        result["loader_over_gpu_need"] = round(rank_cold["tokens_per_s"] / fastest, 1)
    atomic_write_text(out, json.dumps(result, indent=2))
    _write_page(result, out.with_suffix(".md"))
    return result


def _table(columns: list[str], align: str, rows: list[list[Any]]) -> Table:
    table = Table(columns, align)
    for row in rows:
        table.add(*row)
    return table


def _write_page(r: dict[str, Any], out_md: Path) -> None:
    t = r["tokenize"]
    tok = _table(["workers", "parts", "tokens", "wall s", "tokens/s", "tokens/s per core", "MB text/s per core"],
                "rrrrrrr", [[x["workers"], x["parts"], f"{x['tokens']:,}", x["wall_s"], f"{x['tokens_per_s']:,}",
                  f"{x['tokens_per_s_per_core']:,}", x["mb_text_per_s_per_core"]] for x in t["runs"]])  # fmt: skip
    node = _table(["cores", "hours for 100B tokens", "disk"], "rrr",
                 [[n, h, f"{r['paper_disk_gb']:.0f} GB"] for n, h in r["paper_hours_on_node"].items()])  # fmt: skip
    load = _table(["batch", "page cache", "ms", "tokens/s"], "llrr",
                 [[f"{x['rows']} x {x['seq_len']}", ("cold" if x["cold"] else "warm")
                   + ("" if x["madv_random"] else ", kernel read-ahead on"), x["ms_median"],
                   f"{x['tokens_per_s']:,}"] for x in r["load"]])  # fmt: skip
    blocks: list[Any] = [f"Tokenizing into shards on {t['cpu']} ({t['cores']} cores), vocabulary {t['vocab_size']:,}:",
                         tok, "100B tokens (uint16 shards) on a node of N cores, at the 1-worker rate per core "
                         "(reading the stream from the network not counted):", node,
                         "The shard loader (`ShardedTokens`), median of repeated batches:", load,
                         _table(["a rank's loop, 64 x 2048 per step, cold page cache", "ms per step", "over the step"],
                                "lrr", [[m.replace("_", " "), r["overlap"][f"{m}_ms_per_step"],
                                         r["overlap"].get(f"{m}_overhead_ms", "")]
                                        for m in ("step_alone", "read_in_loop", "read_ahead")])]  # fmt: skip
    if r["gpu_need"]:
        need = _table(["GPU step", "device", "ms per step", "tokens/s per GPU"], "llrr",
                     [[f"b1.58-700M, 8 x 2048, {m}", v["device"], v["step_ms"], f"{v['tokens_per_s_per_gpu']:,}"]
                      for m, v in r["gpu_need"].items()])  # fmt: skip
        blocks += [need, f"A rank's cold batch (64 x 2048) is read {r['loader_over_gpu_need']}x faster than the "
                         "fastest GPU step above consumes tokens."]  # fmt: skip
    write_table(out_md, "Sharded data: tokenizing and loading", *blocks)
