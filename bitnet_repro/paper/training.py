"""The training table: every model's final validation loss (perplexity and bits per byte on each validation
set) against the Kneser-Ney count models, with the block-skip diagnostic and the gap to FP16 of the same size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.paper.writer import (
    NGRAM_ORDER,
    VAL_NAMES,
    Table,
    floor_label,
    fmt,
    fp16_reference,
    ngram_rows,
    size_key,
    table_arguments,
    write_table,
)

COMMAND, HELP = "report", "collect training summaries into a table"
COLUMNS = ["size", "variant", "params_nonembedding", "params_total", "tokens", "status",
           *[f"val_{n}_{m}" for n, _ in VAL_NAMES for m in ("loss", "ppl", "bpb", "skip_loss")],
           "wall_time_s", "device", "run_id"]  # fmt: skip


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "summaries", "summary.json of each training run", ngram="ngram.json: the count models as rows")


def run(summaries: list[Path], out_csv: Path, out_md: Path, profile: str, ngram: dict | None = None) -> list[dict]:
    rows = sorted((json.loads(p.read_text()) for p in summaries), key=size_key)
    counts = ngram_rows(ngram)
    fp16 = {r["size"]: r for r in rows if r["variant"] == "fp16" and r["status"] == "completed"}
    floor = next((c for c in counts if c["order"] == NGRAM_ORDER), None)
    sets = [n for n, _ in VAL_NAMES if any(f"val_{n}_loss" in r for r in rows)]
    names = dict(VAL_NAMES)
    intro = [
        "",
        "Final validation loss of every model of the profile (token level, non-overlapping windows of the training "
        "sequence length, the first `eval_tokens` tokens of each set), as perplexity with bits per UTF-8 byte in "
        "brackets (bits per byte compare tokenizers of any size). Each row was produced by the `train_model` rule "
        "on the device named. The count models above the line are interpolated Kneser-Ney n-grams fitted on the "
        "same training tokens and scored with the same windows (rule `ngram_baselines`).",
        "",
        "- **vs KN-3**: the model's loss minus the Kneser-Ney trigram's, in nats per token, on "
        + " / ".join(names[n] for n in sets) + "; negative is better. **level**: `beats KN-3` when it is lower on "
        "every set, else `n-gram level` (a model at that level has learned little that counts do not).",
        "- **blocks add**: the loss with every transformer block skipped (embeddings -> final norm -> head) minus "
        f"the model's loss, nats on {names[sets[0]]}: how much the blocks do.",
        "- **gap vs FP16**: BitNet loss minus the FP16 model's of the same size, nats, "
        + " / ".join(names[n] for n in sets) + ".",
        "",
    ]  # fmt: skip
    table = Table(["size", "variant", "non-emb. params", "tokens", "status",
                   *(f"{names[n]} PPL (bpb)" for n in sets), "vs KN-3 (nats)", "level", "blocks add",
                   "gap vs FP16 (nats)", "wall time (s)", "device"],
                  "llrrl" + "r" * len(sets) + "rlrrrl")  # fmt: skip

    def cells(r: dict) -> list[str]:
        return [f"{fmt(r.get(f'val_{n}_ppl'))} ({fmt(r.get(f'val_{n}_bpb'), '.3f')})" for n in sets]

    for c in counts:
        table.add("count model", c["variant"], "-", f"{c['tokens']:,}", "fitted", *cells(c),
                  "0 (the floor)" if c is floor else "", "", "", "", "", "cpu")  # fmt: skip
    for r in rows:
        status = r["status"] + (f" (step {r['diverged_at_step']})" if r["status"] == "diverged" else "")
        vs = gap = add = ""
        if floor and r["status"] == "completed":
            vs = " / ".join(f"{r[f'val_{n}_loss'] - floor[f'val_{n}_loss']:+.3f}" for n in sets)
        base = fp16.get(fp16_reference(r["size"]))
        if r["variant"] != "fp16" and base and r["status"] == "completed":
            gap = " / ".join(f"{r[f'val_{n}_loss'] - base[f'val_{n}_loss']:+.3f}" for n in sets)
            if fp16_reference(r["size"]) != r["size"]:
                gap += f" (vs {fp16_reference(r['size'])})"
        if r.get(f"val_{sets[0]}_skip_loss") is not None:
            add = f"{r[f'val_{sets[0]}_skip_loss'] - r[f'val_{sets[0]}_loss']:.3f}"
        table.add(r["size"], r["variant"], f"{r['params_nonembedding']:,}", f"{r['tokens']:,}", status, *cells(r),
                  vs, floor_label(r, floor, sets), add, gap, f"{r['wall_time_s']:.0f}", r["device"])  # fmt: skip
    total = sum(r["wall_time_s"] for r in rows)
    notes = ["", f"{len(rows)} models; summed training wall time {total / 60:.1f} min. Snakemake trains one model "
             "per core, so the DAG's elapsed time is shorter; per-job times are in `benchmarks/`."]  # fmt: skip
    write_table(out_md, f"Training results, profile `{profile}`", intro, table, notes,
                out_csv=out_csv, csv_rows=counts + rows, columns=COLUMNS)  # fmt: skip
    return rows
