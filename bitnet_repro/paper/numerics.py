"""The precision check: the ladder's precision (`auto`: bf16 autocast where the CPU has bf16 matrix units, else fp32)
with torch.compile against fp32 eager, at one size, several seeds each.

A difference between the two precisions is read against the seed spread: it is called within noise when the
difference of the means is smaller than the larger of the two modes' seed ranges (max - min over seeds)."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bitnet_repro.config import VARIANT_LABELS
from bitnet_repro.paper.writer import VAL_NAMES, Table, count_floor, fmt, table_arguments, write_table

COMMAND, HELP = "numerics-report", "the precision check (auto + compile against fp32 eager, several seeds) as a table"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "summaries", "summary.json of each numerics run", ngram="ngram.json: the count models as rows")


def _mode(cfg: dict) -> str:
    t = cfg["train"]
    return t.get("precision", "fp32") + (" + compile" if t.get("compile") else " eager")


def run(summaries: list[Path], out_csv: Path, out_md: Path, profile: str, ngram: dict | None = None) -> list[dict]:
    runs = []
    for path in summaries:
        r = json.loads(path.read_text())
        cfg = json.loads((path.parent / "config.json").read_text())
        r.update(mode=_mode(cfg), seed=cfg["train"]["seed"], lr=cfg["train"]["lr"])
        runs.append(r)
    runs.sort(key=lambda r: (r["variant"], r["mode"] != "fp32 eager", r["mode"], r["seed"]))
    sets = [n for n, _ in VAL_NAMES if any(f"val_{n}_loss" in r for r in runs)]
    names = dict(VAL_NAMES)
    floor = count_floor(ngram)
    size = runs[0]["size"] if runs else "-"
    steps = runs[0]["steps"] if runs else 0
    intro = ["", f"`{size}` trained for {steps:,} steps ({runs[0]['tokens'] if runs else 0:,} tokens) at the ladder's "
             "recipe of each variant, in each precision mode with each seed (the seed sets the initialisation and "
             "the data order). Final validation loss in nats per token; tokens/s is the run's own (periodic "
             "evaluation included), compile time is the first step's excess over the median step.", ""]  # fmt: skip
    table = Table(["variant", "mode", "seed", *(f"{names[n]} loss" for n in sets), "tokens/s", "compile (s)",
                   "wall time (s)"], "llr" + "r" * len(sets) + "rrr")  # fmt: skip
    for r in runs:
        table.add(VARIANT_LABELS[r["variant"]], r["mode"], r["seed"],
                  *(fmt(r.get(f"val_{n}_loss"), ".4f") for n in sets), f"{r['tokens'] / r['wall_time_s']:,.0f}",
                  fmt(r.get("compile_s"), ".0f"), f"{r['wall_time_s']:.0f}")  # fmt: skip
    other = next((r["mode"] for r in runs if r["mode"] != "fp32 eager"), "other")  # `auto` as resolved here
    summary = Table(["variant", "set", "fp32 eager: mean (seed range)", f"{other}: mean (seed range)",
                     "difference", "within seed spread", "wall-time speed-up"], "llrrrlr")  # fmt: skip
    verdicts = []
    for variant in sorted({r["variant"] for r in runs}):
        by_mode: dict[str, list[dict]] = {}
        for r in runs:
            if r["variant"] == variant and r["status"] == "completed":
                by_mode.setdefault(r["mode"], []).append(r)
        ref, new = by_mode.get("fp32 eager", []), next((v for k, v in by_mode.items() if k != "fp32 eager"), [])
        if not ref or not new:
            continue
        speed = statistics.mean(r["wall_time_s"] for r in ref) / statistics.mean(r["wall_time_s"] for r in new)
        for n in sets:
            a, b = [r[f"val_{n}_loss"] for r in ref], [r[f"val_{n}_loss"] for r in new]
            diff = statistics.mean(b) - statistics.mean(a)
            spread = max(max(a) - min(a), max(b) - min(b))
            within = abs(diff) <= spread
            verdicts.append(within)
            summary.add(VARIANT_LABELS[variant], names[n], f"{statistics.mean(a):.4f} ({max(a) - min(a):.4f})",
                        f"{statistics.mean(b):.4f} ({max(b) - min(b):.4f})", f"{diff:+.4f}", "yes" if within else "no",
                        f"{speed:.2f}x")  # fmt: skip
    notes = [""]
    if floor:
        notes.append("The Kneser-Ney trigram on the same windows: "
                     + ", ".join(f"{names[n]} {floor[f'val_{n}_loss']:.4f}" for n in sets) + ".")
        key = f"val_{sets[0]}_loss"
        above = [r for r in runs if r["status"] == "completed" and r[key] >= floor[key]]
        if above:
            notes.append(f"{len(above)} of {len(runs)} runs are at the n-gram level (not below the trigram on "
                         f"{names[sets[0]]}): this compares how the precisions train, not models that learned more "
                         "than counts.")
    if verdicts:
        notes.append(f"{other} against fp32 eager: {sum(verdicts)} of {len(verdicts)} differences (of the means) "
                     "within the seed spread.")
    columns = ["name", "variant", "mode", "seed", "lr", "steps", "tokens", "status",
               *[f"val_{n}_{m}" for n in sets for m in ("loss", "bpb")], "wall_time_s", "compile_s", "run_id"]
    write_table(out_md, f"Precision check: {other} against fp32 eager, profile `{profile}`", intro, table,
                ["", "Means over seeds; the seed range is max - min:", ""], summary, notes,
                out_csv=out_csv, csv_rows=runs, columns=columns)  # fmt: skip
    return runs
