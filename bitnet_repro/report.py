"""Tables from training summaries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .utils import atomic_write_text, write_csv

COLUMNS = ["size", "variant", "params_nonembedding", "tokens", "status", "val_wikitext2_ppl", "val_c4_ppl",
           "wall_time_s", "device", "run_id"]  # fmt: skip
SIZE_ORDER = ["tiny-1", "tiny-2", "cpu-xs", "cpu-s", "cpu-m", "cpu-l"]
VARIANT_ORDER = ["fp16", "bitnet_b1", "bitnet_b158"]


def _key(row: dict) -> tuple:
    size = SIZE_ORDER.index(row["size"]) if row["size"] in SIZE_ORDER else len(SIZE_ORDER)
    variant = VARIANT_ORDER.index(row["variant"]) if row["variant"] in VARIANT_ORDER else 9
    return (size, row["params_nonembedding"], variant)


def training_report(summaries: list[Path], out_csv: Path, out_md: Path, profile: str) -> list[dict]:
    rows = sorted((json.loads(p.read_text()) for p in summaries), key=_key)
    write_csv(out_csv, rows, COLUMNS)
    fp16 = {r["size"]: r for r in rows if r["variant"] == "fp16" and r["status"] == "completed"}
    lines = [
        f"# Training results, profile `{profile}`",
        "",
        "Final validation perplexity (token level, non-overlapping windows of the training sequence length) "
        "of every model of the profile; each row was produced by the `train_model` rule on the device named. "
        "Gap: PPL of the BitNet model minus PPL of the FP16 model of the same size (WikiText-2 / C4).",
        "",
        "| size | variant | non-emb. params | tokens | status | WikiText-2 PPL | C4 PPL | gap vs FP16 "
        "| wall time (s) | device |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        wt, c4 = r.get("val_wikitext2_ppl"), r.get("val_c4_ppl")
        gap = ""
        base = fp16.get(r["size"])
        if r["variant"] != "fp16" and base and wt is not None:
            gap = f"{wt - base['val_wikitext2_ppl']:+.2f} / {c4 - base['val_c4_ppl']:+.2f}"
        status = r["status"] + (f" (step {r['diverged_at_step']})" if r["status"] == "diverged" else "")
        fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
        lines.append(f"| {r['size']} | {r['variant']} | {r['params_nonembedding']:,} | {r['tokens']:,} | {status} | "
                     f"{fmt(wt)} | {fmt(c4)} | {gap} | {r['wall_time_s']:.0f} | {r['device']} |")  # fmt: skip
    total = sum(r["wall_time_s"] for r in rows)
    lines += [
        "",
        f"{len(rows)} models; summed training wall time {total / 60:.1f} min. Snakemake trains one model per "
        "core, so the DAG's elapsed time is shorter; per-job times are in `benchmarks/`.",
    ]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows


# ------------------------------------------------------------------------------------------------------
# Evaluation tables
# ------------------------------------------------------------------------------------------------------

TABLE3_TASKS = [("winogrande", "acc", "WG"), ("wsc273", "acc", "WGe"), ("storycloze_2016", "acc", "SC"),
                ("hellaswag", "acc_norm", "HS")]  # fmt: skip
CANONICAL_N = {"winogrande": 1267, "wsc273": 273, "storycloze_2016": 1871, "hellaswag": 10042, "arc_easy": 2376,
               "arc_challenge": 1172, "boolq": 3270, "openbookqa": 500, "piqa": 1838, "sciq": 1000,
               "lambada_openai": 5153, "wikitext": 62}  # fmt: skip


def _load_eval(path: Path) -> tuple[dict, list[dict]]:
    from .evaluate import summary_rows

    res = json.loads(path.read_text())
    return res, summary_rows(res)


def device_label(ours: dict) -> str:
    """Where a results JSON was measured, e.g. "cpu (2 threads, x86_64)" (threads absent for unscored models)."""
    threads = ours.get("throughput", {}).get("threads")
    parts = [f"{threads} threads" if threads else "", ours.get("meta", {}).get("processor", "")]
    return f"{ours.get('device', 'cpu')} ({', '.join(p for p in parts if p)})"


def _pm(value: float | None, stderr: float | None, scale: float = 100.0) -> str:
    if value is None:
        return "-"
    return f"{value * scale:.1f} ± {stderr * scale:.1f}" if stderr is not None else f"{value * scale:.1f}"


def eval_report(files: list[Path], out_csv: Path, out_md: Path, out_long: Path | None, profile: str) -> list[dict]:
    """One row per trained model: token PPL (WikiText-2, C4, average), BLiMP, and the Table 3 tasks zero- and
    few-shot; plus a long CSV of every (model, suite, task, metric) for later tables."""
    long_rows, by_run = [], {}
    for path in files:
        res, rows = _load_eval(path)
        ours = res["bitnet_repro"]
        run, suite = dict(ours.get("run", {})), path.stem
        summary = path.parents[2] / "runs" / run.get("run_id", "-") / "summary.json"
        if summary.is_file():  # the training table's parameter count (norm gains included), for one number per model
            run["params_nonembedding"] = json.loads(summary.read_text())["params_nonembedding"]
        key = run.get("run_id", ours["model"])
        device = device_label(ours)
        entry = by_run.setdefault(key, {"run": run, "suites": {}, "device": device})
        entry["suites"][suite] = ({(r["task"], r["metric"]): r for r in rows}, ours)
        for r in rows:
            long_rows.append({"profile": profile, "run_id": key, "size": run.get("size"),
                              "variant": run.get("variant"), "suite": suite, "num_fewshot": ours["num_fewshot"],
                              "limit": ours["limit"], **r})  # fmt: skip
    out = []
    for key, e in by_run.items():
        run = e["run"]
        row = {"size": run.get("size"), "variant": run.get("variant"),
               "params_nonembedding": run.get("params_nonembedding"), "tokens": run.get("tokens_trained"),
               "run_id": key, "device": e["device"]}  # fmt: skip
        for m, ours in e["suites"].values():
            if ("token_ppl_wikitext2", "ppl") in m:
                row["ppl_wikitext2"] = m[("token_ppl_wikitext2", "ppl")]["value"]
                row["ppl_c4"] = m[("token_ppl_c4", "ppl")]["value"]
                row["ppl_avg"] = m[("token_ppl", "avg_ppl")]["value"]
                row["ppl_window"] = ours["token_ppl"]["window"]
            if ("wikitext", "word_perplexity") in m:
                row["wikitext_word_ppl"] = m[("wikitext", "word_perplexity")]["value"]
            if ("blimp", "acc") in m:
                row["blimp"], row["blimp_se"] = m[("blimp", "acc")]["value"], m[("blimp", "acc")]["stderr"]
                row["blimp_n"] = sum(r["n"] or 0 for (t, _), r in m.items() if t.startswith("blimp_"))
            shots = ours["num_fewshot"]
            accs = []
            for task, metric, short in TABLE3_TASKS:
                if (task, metric) in m:
                    r = m[(task, metric)]
                    row[f"{short}_{shots}shot"], row[f"{short}_{shots}shot_se"] = r["value"], r["stderr"]
                    row[f"{short}_{shots}shot_n"] = r["n"]
                    accs.append(r["value"])
            if len(accs) == len(TABLE3_TASKS):
                row[f"avg_{shots}shot"] = sum(accs) / len(accs)
        out.append(row)
    out.sort(key=lambda r: _key({**r, "params_nonembedding": r["params_nonembedding"] or 0}))
    shots_seen = sorted({int(c.split("_")[1][0]) for r in out for c in r if c.startswith("avg_")})
    cols = ["size", "variant", "params_nonembedding", "tokens", "ppl_wikitext2", "ppl_c4", "ppl_avg", "ppl_window",
            "wikitext_word_ppl", "blimp", "blimp_se", "blimp_n"]  # fmt: skip
    for s in shots_seen:
        for _, _, short in TABLE3_TASKS:
            cols += [f"{short}_{s}shot", f"{short}_{s}shot_se", f"{short}_{s}shot_n"]
        cols.append(f"avg_{s}shot")
    cols += ["device", "run_id"]
    write_csv(out_csv, out, cols)
    if out_long is not None:
        write_csv(out_long, long_rows, ["profile", "run_id", "size", "variant", "suite", "num_fewshot", "limit",
                                         "task", "metric", "value", "stderr", "n"])  # fmt: skip
    fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
    ns = {f"{short}_{s}": next((r.get(f"{short}_{s}shot_n") for r in out if r.get(f"{short}_{s}shot_n")), None)
          for s in shots_seen for _, _, short in TABLE3_TASKS}  # fmt: skip
    lines = [
        f"# Evaluation, profile `{profile}`",
        "",
        "Every model the profile trains, evaluated by the `eval_model` rule through lm-evaluation-harness on local "
        "data (README, 'Evaluation'). PPL: token level, non-overlapping windows of the model's context length, "
        "on WikiText-2 test and the held-out C4 documents, and their average. Word PPL: lm-eval's `wikitext` (word "
        "perplexity of the 62 test documents, rolling windows), comparable with published numbers. BLiMP: mean "
        "accuracy over the 67 paradigms (chance 50%). WG Winogrande, WGe WSC273, SC StoryCloze 2016, HS HellaSwag "
        "(acc_norm), in %, ± the harness's standard error; chance is 50 / 50 / 50 / 25.",
        "",
        "| size | variant | non-emb. params | tokens | PPL WikiText-2 | PPL C4 | PPL avg | word PPL | BLiMP | "
        + " | ".join(f"{short} {s}-shot" for s in shots_seen for _, _, short in TABLE3_TASKS)
        + " | " + " | ".join(f"Avg {s}-shot" for s in shots_seen) + " |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * (5 * len(shots_seen)),
    ]  # fmt: skip
    for r in out:
        cells = [r["size"], r["variant"], f"{r['params_nonembedding'] or 0:,}", f"{r['tokens'] or 0:,}",
                 fmt(r.get("ppl_wikitext2")), fmt(r.get("ppl_c4")), fmt(r.get("ppl_avg")),
                 fmt(r.get("wikitext_word_ppl")), _pm(r.get("blimp"), r.get("blimp_se"))]  # fmt: skip
        cells += [_pm(r.get(f"{short}_{s}shot"), r.get(f"{short}_{s}shot_se")) for s in shots_seen
                  for _, _, short in TABLE3_TASKS]  # fmt: skip
        cells += [_pm(r.get(f"avg_{s}shot"), None) for s in shots_seen]
        lines.append("| " + " | ".join(cells) + " |")
    counts = ", ".join(f"{k.replace('_', ' ')}-shot n={v}" for k, v in ns.items() if v)
    blimp_n = next((r.get("blimp_n") for r in out if r.get("blimp_n")), None)
    lines += ["", f"Examples scored per task: {counts}; BLiMP {blimp_n} pairs. Canonical sizes: "
              + ", ".join(f"{t} {CANONICAL_N[t]}" for t, _, _ in TABLE3_TASKS)
              + "; a smaller n is the profile's `limit` (the first n items, lm-eval's convention).",
              f"Device: {out[0]['device'] if out else '-'}."]  # fmt: skip
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return out


def pretrained_report(files: list[Path], out_csv: Path, out_md: Path, profile: str) -> list[dict]:
    """Scores of the real pretrained models, one row per (model, task, metric), with n against the canonical size."""
    rows, notes = [], []
    for path in files:
        res, summary = _load_eval(path)
        ours = res["bitnet_repro"]
        tp = ours["throughput"]
        if tp.get("examples"):
            notes.append(f"`{ours['model']}` {path.stem}: {tp['examples']} examples in {tp['seconds']:.0f} s = "
                         f"{tp['examples_per_second']} examples/s ({tp['tokens_per_second']} tokens/s, "
                         f"{tp['threads']} threads)")  # fmt: skip
        blimp_n = sum(r["n"] or 0 for r in summary if r["task"].startswith("blimp_"))
        for r in summary:
            if r["task"].startswith("blimp_"):
                continue
            if r["task"] == "blimp":
                r = {**r, "n": blimp_n}
            rows.append({"model": ours["model"], "suite": path.stem, "num_fewshot": ours["num_fewshot"], **r,
                         "n_canonical": CANONICAL_N.get(r["task"], 67000 if r["task"] == "blimp" else None),
                         "limit": ours["limit"],
                         "window": ours["token_ppl"]["window"] if r["task"].startswith("token_ppl") else None,
                         })  # fmt: skip
    write_csv(out_csv, rows, ["model", "suite", "num_fewshot", "task", "metric", "value", "stderr", "n",
                               "n_canonical", "limit", "window"])  # fmt: skip
    lines = [f"# Real pretrained model(s), profile `{profile}`", "",
             "Zero-shot scores through the suite's lm-eval model type and local task files (README, 'Evaluation'), "
             "± the harness's standard error (perplexity: bootstrap, 1000 resamples). n: items scored; a smaller n "
             "than canonical is the profile's `limit` (the first n items). token_ppl: token-level perplexity in "
             "non-overlapping windows.", "",
             "| model | task | metric | value | ± stderr | n | canonical n |",
             "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        pct = r["metric"] in ("acc", "acc_norm")
        v = f"{r['value'] * 100:.2f}" if pct else f"{r['value']:.3f}"
        se = "" if r["stderr"] is None else (f"{r['stderr'] * 100:.2f}" if pct else f"{r['stderr']:.3f}")
        lines.append(f"| {r['model']} | {r['task']} | {r['metric']}{' (%)' if pct else ''} | {v} | {se} | "
                     f"{r['n'] if r['n'] is not None else '-'} | {r['n_canonical'] or '-'} |")  # fmt: skip
    lines += ["", "Throughput (CPU, fp32):", ""] + [f"- {n}" for n in notes]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows


# ------------------------------------------------------------------------------------------------------
# Table 6: BitNet b1.58 with and without a 4-bit KV cache
# ------------------------------------------------------------------------------------------------------

TABLE6_TASKS = [("arc_easy", "acc", "ARCe", "arce"), ("arc_challenge", "acc_norm", "ARCc", "arcc"),
                ("hellaswag", "acc_norm", "HS", "hs"), ("boolq", "acc", "BQ", "bq"),
                ("openbookqa", "acc_norm", "OQ", "oq"), ("piqa", "acc_norm", "PQ", "pq"),
                ("winogrande", "acc", "WGe", "wge")]  # fmt: skip


def table6_report(files: list[Path], out_csv: Path, out_md: Path, profile: str, paper_csv: Path | None = None,
                  ) -> list[dict]:  # fmt: skip
    """Zero-shot accuracy of each b1.58 model with an FP cache and with a `kv_bits` cache, and the difference."""
    rows = []
    for path in files:
        res, flat = _load_eval(path)
        ours = res["bitnet_repro"]
        m = {(r["task"], r["metric"]): r for r in flat}
        run = ours.get("run", {})
        row = {"profile": profile, "size": run.get("size"), "run_id": run.get("run_id"),
               "params_nonembedding": run.get("params_nonembedding"), "kv_bits": ours.get("kv_bits") or 16,
               "limit": ours.get("limit")}  # fmt: skip
        accs = []
        for task, metric, short, _ in TABLE6_TASKS:
            r = m.get((task, metric))
            row[short], row[f"{short}_se"] = (r["value"], r["stderr"]) if r else (None, None)
            accs.append(r["value"] if r else None)
        row["avg"] = sum(accs) / len(accs) if all(a is not None for a in accs) else None
        rows.append(row)
    rows.sort(key=lambda r: (r["params_nonembedding"] or 0, -r["kv_bits"]))
    cols = list(rows[0])
    write_csv(out_csv, rows, cols)
    paper = []
    if paper_csv and paper_csv.is_file():
        with open(paper_csv) as f:
            paper = list(csv.DictReader(f))
    shorts = [s for _, _, s, _ in TABLE6_TASKS]
    lines = [f"# Table 6 ({profile} profile): BitNet b1.58 zero-shot with and without a 4-bit KV cache", "",
             "| model | KV cache | " + " | ".join(shorts) + " | Avg | Δ Avg |",
             "|---|---|" + "---|" * (len(shorts) + 2)]  # fmt: skip
    base = {}
    for r in rows:
        key = r["size"]
        if r["kv_bits"] == 16:
            base[key] = r["avg"]
        delta = "" if r["kv_bits"] == 16 or r["avg"] is None else f"{100 * (r['avg'] - base.get(key, r['avg'])):+.1f}"
        cache = "FP32" if r["kv_bits"] == 16 else f"{r['kv_bits']}-bit"
        cells = [_pm(r[s], r[f"{s}_se"]) for s in shorts]
        avg = "-" if r["avg"] is None else f"{100 * r['avg']:.1f}"
        lines.append(f"| {r['size']} b1.58 | {cache} | " + " | ".join(cells) + f" | {avg} | {delta} |")
    n = rows[0]["limit"]
    lines += ["", f"Accuracy in % ± the harness's standard error, first {n} items per task (ARC-c, HS, OQ, PQ: "
              "acc_norm). The 4-bit cache quantizes K (after rotary) and V with one symmetric absmax scale per "
              "head and token (Sec. 4.2); scoring with it equals KV-cached decoding with it "
              "(tests/test_infer.py)."]  # fmt: skip
    if paper:
        lines += ["", "The paper's Table 6 (3B and 3.9B, labelled as the paper's):", "",
                  "| paper model | size | " + " | ".join(shorts) + " | Avg |",
                  "|---|---|" + "---|" * (len(shorts) + 1)]  # fmt: skip
        for p in paper:
            lines.append(f"| {p['model']} | {p['size']} | " + " | ".join(p[k] for _, _, _, k in TABLE6_TASKS)
                         + f" | {p['avg']} |")  # fmt: skip
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows
