"""Tables from training summaries."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .utils import atomic_write_text

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
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_csv, buf.getvalue())
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
