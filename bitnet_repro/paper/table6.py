"""Table 6: BitNet b1.58's zero-shot accuracy with a full-precision and with a 4-bit KV cache, and the
difference, beside the paper's rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_repro.paper.evaluation import load_eval
from bitnet_repro.paper.writer import Table, pm, read_csv, table_arguments, write_table

COMMAND, HELP = "table6", "Table 6: b1.58 zero-shot with and without a 4-bit KV cache"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "results", "results JSON of `eval` with and without --kv-bits")
    p.add_argument("--paper", type=Path, help="the paper's Table 6 CSV, for the rows labelled as the paper's")


TABLE6_TASKS = [("arc_easy", "acc", "ARCe", "arce"), ("arc_challenge", "acc_norm", "ARCc", "arcc"),
                ("hellaswag", "acc_norm", "HS", "hs"), ("boolq", "acc", "BQ", "bq"),
                ("openbookqa", "acc_norm", "OQ", "oq"), ("piqa", "acc_norm", "PQ", "pq"),
                ("winogrande", "acc", "WGe", "wge")]  # fmt: skip


def run(results: list[Path], out_csv: Path, out_md: Path, profile: str, paper: Path | None = None) -> list[dict]:
    """Zero-shot accuracy of each b1.58 model with an FP cache and with a `kv_bits` cache, and the difference."""
    rows = []
    for path in results:
        res, flat = load_eval(path)
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
    paper_csv, paper = paper, (read_csv(paper) if paper and paper.is_file() else [])  # the paper's rows
    shorts = [s for _, _, s, _ in TABLE6_TASKS]
    table = Table(["model", "KV cache", *shorts, "Avg", "Δ Avg"])
    base = {}
    for r in rows:
        key = r["size"]
        if r["kv_bits"] == 16:
            base[key] = r["avg"]
        delta = "" if r["kv_bits"] == 16 or r["avg"] is None else f"{100 * (r['avg'] - base.get(key, r['avg'])):+.1f}"
        cache = "FP32" if r["kv_bits"] == 16 else f"{r['kv_bits']}-bit"
        cells = [pm(r[s], r[f"{s}_se"]) for s in shorts]
        avg = "-" if r["avg"] is None else f"{100 * r['avg']:.1f}"
        table.add(f"{r['size']} b1.58", cache, *cells, avg, delta)
    n = rows[0]["limit"]
    notes = ["", f"Accuracy in % ± the harness's standard error, first {n} items per task (ARC-c, HS, OQ, PQ: "
              "acc_norm). The 4-bit cache quantizes K (after rotary) and V with one symmetric absmax scale per "
              "head and token (Sec. 4.2); scoring with it equals KV-cached decoding with it "
              "(tests/test_infer.py)."]  # fmt: skip
    if paper:
        theirs = Table(["paper model", "size", *shorts, "Avg"])
        for p in paper:
            theirs.add(p["model"], p["size"], *(p[k] for _, _, _, k in TABLE6_TASKS), p["avg"])
        notes += ["", "The paper's Table 6 (3B and 3.9B, labelled as the paper's):", "", theirs]
    write_table(out_md, f"Table 6 ({profile} profile): BitNet b1.58 zero-shot with and without a 4-bit KV cache", "",
                table, notes, out_csv=out_csv, csv_rows=rows, paper=paper_csv)  # fmt: skip
    return rows
