"""Evaluation: lm-evaluation-harness on local task files, plus token-level perplexity.

    run_eval("results/cpu/runs/<id>/model", ["table3"], num_fewshot=4)    # lm-eval, our model type
    run_eval("smollm2-135m", ["pretrained", "token_ppl"])                 # a real pretrained model

Task names are lm-eval's (`winogrande`, `hellaswag`, `blimp`, ...) plus the groups `table3`, `table5`,
`table8`, `pretrained` and the pseudo-task `token_ppl`: token-level perplexity on WikiText-2 test and the
held-out C4 documents in non-overlapping windows of the model's context length (at most `ppl_window`), and
their average (how the public BitNet b1.58 reproduction reports Table 4). Everything runs offline.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from bitnet_repro.config import DataConfig
from bitnet_repro.data import bits_per_byte, local_corpus
from bitnet_repro.errors import ReproError
from bitnet_repro.eval import tasks as task_files
from bitnet_repro.eval.lm import SuiteLM
from bitnet_repro.eval.results import PPL_TASK
from bitnet_repro.eval.tasks import canonical_counts
from bitnet_repro.eval.tasks.loaders import CHECKSUMS, data_root
from bitnet_repro.export.hf import export_hf_llama
from bitnet_repro.infer import set_kv_bits
from bitnet_repro.utils import atomic_write_text, run_meta

# datasets and lm_eval are imported where used: heavy (seconds to import) and needed by few commands

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger(__name__)

PPL_WINDOW = 2048  # the paper's context length; smaller models use their own


class EvalError(ReproError, RuntimeError):
    """A bad evaluation request (unknown task, missing task file); the message says what to do."""


class _DropCustomDatasetHint(logging.Filter):
    """lm-eval logs a two-line hint about `--metadata` for every task with a `custom_dataset` (all of ours:
    79 hints per BLiMP run); it says nothing about our tasks, so it is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in record.getMessage()


_DROP_HINT = _DropCustomDatasetHint()


# ------------------------------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------------------------------


def task_manager(data_dir: str | Path | None = None, include_path: list[str] | None = None):
    """lm-eval's TaskManager over this package's task files only (no stock tasks: they would download)."""
    import datasets
    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval.api.task").addFilter(_DROP_HINT)  # once: the same instance is not added twice
    datasets.disable_progress_bars()  # per-task `Map` bars; scoring has its own

    for name in ("winogrande", "hellaswag", "arc_easy", "_table3", "blimp/_blimp"):
        if not (task_files.TASKS_DIR / f"{name}.yaml").is_file():
            raise EvalError(f"task file {task_files.TASKS_DIR / name}.yaml is missing: the installation is incomplete "
                            "(reinstall with `pip install -e .`)")  # fmt: skip
    for p in include_path or []:
        if not Path(p).exists():
            raise EvalError(f"task path {p} does not exist")
    paths = [str(task_files.TASKS_DIR), *map(str, include_path or [])]
    return TaskManager(include_path=paths, include_defaults=False, metadata={"data_dir": str(data_root(data_dir))})


def expand_groups(names: list[str]) -> list[str]:
    """The table groups (table3, table5, table8, pretrained) replaced by their tasks, duplicates dropped in
    order, so that `--tasks table3 table5` scores HellaSwag and Winogrande once."""

    out: list[str] = []
    for name in names:
        group_file = task_files.TASKS_DIR / f"_{name}.yaml"
        members = yaml.safe_load(group_file.read_text())["task"] if group_file.is_file() else [name]
        out += [m for m in members if m not in out]
    return out


def resolve_tasks(names: list[str], tm) -> list[str]:
    """Check task names (or task YAML paths) before anything loads; suggest the closest known name."""
    known = set(tm.all_tasks)
    out = []
    for name in expand_groups(names):
        if name == PPL_TASK:
            continue
        if name.endswith((".yaml", ".yml")):
            if not Path(name).is_file():
                raise EvalError(f"task file {name} does not exist")
            out.append(name)
            continue
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known) + [PPL_TASK], n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            groups = [t for t in sorted(known) if not t.startswith("blimp_")]
            raise EvalError(f"unknown task {name!r}{hint} Known tasks and groups: {', '.join(groups + [PPL_TASK])} "
                            "(and the 67 blimp_* paradigms)")  # fmt: skip
        out.append(name)
    return out


# ------------------------------------------------------------------------------------------------------
# Token-level perplexity
# ------------------------------------------------------------------------------------------------------


@torch.no_grad()
def token_nll(lm, ids: list[int] | torch.Tensor, window: int, batch_size: int = 8) -> tuple[float, int]:
    """Mean next-token NLL over non-overlapping windows of `window` tokens from the start of `ids` (the
    remainder that does not fill a window is dropped, as in GPTQ's protocol). Returns (mean NLL, tokens)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    n = (len(ids) - 1) // window
    if n == 0:
        raise EvalError(f"text of {len(ids)} tokens is shorter than one window of {window}")
    total = 0.0
    for start in range(0, n, batch_size):
        rows = range(start, min(n, start + batch_size))
        x = torch.stack([ids[r * window : (r + 1) * window] for r in rows]).to(lm.device)
        y = torch.stack([ids[r * window + 1 : (r + 1) * window + 1] for r in rows]).to(lm.device)
        with lm.autocast():
            logits = lm.engine.head(lm.engine.hidden(x)).float()
        total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        lm.n_tokens += x.numel()
    return total / (n * window), n * window


def ppl_texts(lm, data_dir: str | Path | None) -> dict[str, str]:
    """The training run's validation sets: WikiText-2 raw test, the held-out C4 documents and the in-domain
    split of the training mix (data.local_corpus, with the run's data settings)."""

    root = data_root(str(data_dir) if data_dir else None)
    run_cfg = getattr(lm.engine, "run_config", None)
    data_cfg = getattr(lm.engine, "data_config", None) or (run_cfg.data if run_cfg is not None else DataConfig())
    if data_cfg.source != "local":
        data_cfg = DataConfig()
    return local_corpus(dataclasses.replace(data_cfg, data_dir=str(root)))[1]


def token_perplexity(lm, data_dir: str | Path | None = None, window: int | None = None,
                     max_tokens: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Token perplexity and bits per byte of each validation text (bytes: UTF-8 bytes of the scored tokens,
    decoded by the model's own tokenizer, so tokenizers of any size compare)."""

    window = min(lm.max_length, window or PPL_WINDOW)
    out: dict[str, Any] = {"window": window, "protocol": "non-overlapping windows, remainder dropped"}
    for name, text in ppl_texts(lm, data_dir).items():
        ids = lm.tok_encode(text, add_special_tokens=False) + [lm.eot_token_id]
        if max_tokens:
            ids = ids[: max_tokens + 1]
        nll, n = token_nll(lm, ids, window)
        n_bytes = len(lm.tok_decode(ids[1 : n + 1]).encode("utf-8"))
        out[name] = {"ppl": math.exp(nll), "nll": nll, "tokens": n, "bytes": n_bytes,
                     "bpb": bits_per_byte(nll, n, n_bytes)}  # fmt: skip
    out["avg_ppl"] = (out["wikitext2"]["ppl"] + out["c4"]["ppl"]) / 2
    return out


# ------------------------------------------------------------------------------------------------------
# One evaluation
# ------------------------------------------------------------------------------------------------------


def run_eval(model: str | Any, tasks: list[str], num_fewshot: int = 0, limit: int | float | None = None,
             batch_size: int = 32, batch_tokens: int | None = None, data_dir: str | Path | None = None,
             tokenizer: str | None = None, max_length: int | None = None, seed: int = 1234,
             ppl_window: int | None = None, ppl_max_tokens: int | None = None,
             include_path: list[str] | None = None, out: Path | None = None, kv_bits: int | None = None,
             precision: str = "fp32", **meta: Any) -> dict[str, Any]:  # fmt: skip
    """Evaluate `model` (a checkpoint directory, a pretrained name, or a SuiteLM) and return lm-eval's results
    dict, with token perplexity and throughput under "bitnet_repro". Writes it to `out` as JSON if given."""
    import lm_eval

    tm = task_manager(data_dir, include_path)  # fail on bad task names before loading a model
    lm_tasks = resolve_tasks(tasks, tm)
    lm = model if isinstance(model, SuiteLM) else SuiteLM(pretrained=str(model), batch_size=batch_size,
                                                          batch_tokens=batch_tokens, tokenizer=tokenizer,
                                                          max_length=max_length, precision=precision)  # fmt: skip
    if kv_bits:  # Table 6: K and V quantized per head and token, as a 4-bit KV cache would hold them
        if lm.engine.kind != "bitnet_repro":
            raise EvalError("--kv-bits applies to checkpoints of this suite")

        set_kv_bits(lm.engine.model, kv_bits)
    torch.manual_seed(seed)
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    if lm_tasks:
        results = lm_eval.simple_evaluate(
            model=lm, tasks=lm_tasks, num_fewshot=num_fewshot, limit=limit, task_manager=tm, device="cpu",
            random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
            bootstrap_iters=1000, log_samples=False,
        )  # fmt: skip
    t_tasks = time.perf_counter() - t0
    n_examples = sum(v.get("effective", 0) for v in results.get("n-samples", {}).values())
    tokens_tasks = lm.n_tokens
    extra: dict[str, Any] = {
        "model": getattr(lm.engine, "name", str(model)), "model_type": lm.engine.kind,
        "tasks_requested": list(tasks), "num_fewshot": num_fewshot, "limit": limit, "seed": seed,
        "kv_bits": kv_bits,
        "batch_size": lm.batch_size, "batch_tokens": lm.batch_tokens, "max_length": lm.max_length,
        "device": str(lm.device), "precision": lm.precision,
        "throughput": {"examples": n_examples, "seconds": round(t_tasks, 2),
                       "examples_per_second": round(n_examples / t_tasks, 2) if n_examples else None,
                       "tokens_per_second": round(tokens_tasks / t_tasks, 1) if tokens_tasks else None,
                       "threads": torch.get_num_threads()},
        "meta": run_meta(**meta),
    }  # fmt: skip
    run_cfg = getattr(lm.engine, "run_config", None)
    if run_cfg is not None:
        extra["run"] = {"run_id": run_cfg.run_id, "size": run_cfg.size, "variant": run_cfg.variant,
                        "profile": run_cfg.profile, "tokens_trained": run_cfg.train.total_tokens,
                        "params_nonembedding": lm.engine.model.count_params()}  # fmt: skip
        if run_cfg.distill is not None:  # a student of a pretrained teacher (BitDistill, or QAT from it)
            d = run_cfg.distill
            extra["run"]["distill"] = {"teacher": d.teacher, "logit_weight": d.logit_weight,
                                       "relation_weight": d.relation_weight, "cpt_steps": d.cpt_steps}  # fmt: skip
    if PPL_TASK in tasks:
        t1 = time.perf_counter()
        extra[PPL_TASK] = token_perplexity(lm, data_dir, ppl_window, ppl_max_tokens)
        extra[PPL_TASK]["seconds"] = round(time.perf_counter() - t1, 2)
    results = {**results, "bitnet_repro": extra}
    if out is not None:
        from lm_eval.utils import handle_non_serializable

        atomic_write_text(Path(out), json.dumps(results, indent=2, default=handle_non_serializable))
    return results


def bench_eval(models: list[str], tasks: list[str], limit: int, out: Path, batch_tokens: int | None = None,
               threads: int = 0, profile: str = "custom") -> dict[str, Any]:  # fmt: skip
    """Scoring throughput (examples and tokens per second) of each model on the same tasks and items, measured
    one after the other in one process, with every thread given."""

    if threads:
        torch.set_num_threads(threads)
    rows = []
    for model in models:
        res = run_eval(model, tasks, limit=limit, batch_tokens=batch_tokens)
        ours = res["bitnet_repro"]
        rows.append({"model": ours["model"], "run": ours.get("run"), **ours["throughput"],
                     "n_per_task": {t: v["effective"] for t, v in res["n-samples"].items()}})  # fmt: skip
    result = {"tasks": tasks, "limit": limit, "batch_tokens": batch_tokens, "device": "cpu", "models": rows,
              "meta": run_meta(profile=profile, threads=torch.get_num_threads())}  # fmt: skip
    atomic_write_text(Path(out), json.dumps(result, indent=2))
    return result


def task_inventory(out_md: Path, out_json: Path, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Load every local task offline and record its items against the canonical split size."""

    tm = task_manager(data_dir)
    canonical = canonical_counts()
    flat = tm.load([*canonical, "blimp"])["tasks"]
    rows = []
    for name, task in sorted(flat.items()):
        split = task.config.test_split or task.config.validation_split
        rows.append({"task": name, "split": split, "items": len(task.eval_docs),
                     "canonical": canonical.get(name, 1000 if name.startswith("blimp_") else None),
                     "output_type": task.config.output_type, "version": task.VERSION})  # fmt: skip
    ok = all(r["items"] == r["canonical"] for r in rows)
    lines = [f"# Local evaluation tasks ({len(rows)} tasks, data directory {data_root(data_dir)})", "",
             "Every task file of `bitnet_repro/eval/tasks/` loaded offline by lm-evaluation-harness; items scored "
             "against the canonical size of the stock task's split. Deviations: README, 'Evaluation'.", "",
             "| task | split | items | canonical | type |", "|---|---|---:|---:|---|"]  # fmt: skip
    blimp = [r for r in rows if r["task"].startswith("blimp_")]
    for r in rows:
        if not r["task"].startswith("blimp_"):
            lines.append(f"| {r['task']} | {r['split']} | {r['items']} | {r['canonical']} | {r['output_type']} |")
    lines.append(f"| blimp_* ({len(blimp)} paradigms) | train | {sum(r['items'] for r in blimp)} | "
                 f"{1000 * len(blimp)} | multiple_choice |")  # fmt: skip
    lines += ["", f"All counts equal the canonical sizes: {ok}. Files verified by sha256: {len(CHECKSUMS)}."]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    atomic_write_text(out_json, json.dumps({"tasks": rows, "all_canonical": ok}, indent=2))
    if not ok:
        raise EvalError(f"task sizes differ from the canonical ones: see {out_md}")
    return rows


def hf_parity(model_dir: Path, tasks: list[str], limit: int, num_fewshot: int, out: Path,
              work: Path) -> dict[str, Any]:  # fmt: skip
    """Score an FP16 checkpoint through our model type and through lm-eval's stock `hf` type (after the
    exact converter), on the same items, and record every metric of both and their largest difference."""
    import lm_eval

    hf_dir = export_hf_llama(model_dir, work / "hf")
    seeds = dict(random_seed=1234, numpy_random_seed=1234, torch_random_seed=1234, fewshot_random_seed=1234)
    kw = dict(num_fewshot=num_fewshot, limit=limit, task_manager=task_manager(), device="cpu", bootstrap_iters=1000,
              **seeds)  # fmt: skip
    ours = run_eval(str(model_dir), tasks, num_fewshot=num_fewshot, limit=limit, batch_size=16)
    stock = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf_dir},dtype=float32", tasks=tasks,
                                    batch_size=16, **kw)  # fmt: skip
    rows, worst = [], 0.0
    for task, metrics in sorted(stock["results"].items()):
        for key, value in metrics.items():
            if "," in key and "stderr" not in key and isinstance(value, float):
                mine = ours["results"][task][key]
                rel = abs(mine - value) / max(abs(value), 1e-12)
                worst = max(worst, rel)
                rows.append({"task": task, "metric": key.split(",")[0], "bitnet_repro": mine, "hf": value,
                             "rel_diff": rel})  # fmt: skip
    accuracy_equal = all(r["bitnet_repro"] == r["hf"] for r in rows if r["metric"].startswith("acc"))
    result = {"model": str(model_dir), "tasks": tasks, "limit": limit, "num_fewshot": num_fewshot, "rows": rows,
              "accuracies_identical": accuracy_equal, "max_rel_diff": worst, "meta": run_meta()}  # fmt: skip
    atomic_write_text(out, json.dumps(result, indent=2))
    if not accuracy_equal or worst > 1e-5:
        raise EvalError(f"our model type and lm-eval's hf type disagree (max relative difference {worst:.2e}): {out}")
    return result
