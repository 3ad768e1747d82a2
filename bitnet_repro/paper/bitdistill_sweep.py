"""The BitDistill loss-weight sweep: the distilling arm's recipe at several (logits, relations) weight pairs for a
shorter training, each read against the teacher on the same validation windows; the pair with the lowest mean
validation loss is the sweep's choice."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.paper.writer import (
    VAL_NAMES,
    Table,
    count_floor,
    floor_label,
    fmt,
    table_arguments,
    write_table,
)

COMMAND, HELP = "bitdistill-sweep-table", "BitDistill's loss weights chosen by a short sweep"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "summaries", "summary.json of each distill-sweep-<weights> run",
                    ngram="ngram.json of the profile: the Kneser-Ney trigram's bits per byte as the floor")
    p.add_argument("--configs", nargs="+", type=Path, required=True, help="config.json of the same runs")
    p.add_argument("--chosen", nargs=2, type=float, metavar=("LOGITS", "RELATIONS"), required=True,
                   help="the weights the profile's bitdistill arm trains with")  # fmt: skip


def block(layer: int) -> str:
    """The distilled block as a reader says it (negative indices count from the last)."""
    return "the last block" if layer == -1 else f"block {layer}"


def run(summaries: list[Path], configs: list[Path], chosen: list[float], out_csv: Path, out_md: Path,
        profile: str, ngram: dict | None = None) -> list[dict]:  # fmt: skip
    runs = [(json.loads(s.read_text()), json.loads(c.read_text())) for s, c in zip(summaries, configs, strict=True)]
    sets = [n for n, _ in VAL_NAMES if all(f"val_{n}_loss" in s for s, _ in runs)]
    names = dict(VAL_NAMES)
    first = runs[0][0]
    teacher = {n: first[f"teacher_val_{n}_loss"] for n in sets}
    rows = []
    for s, c in runs:
        d = c["distill"]
        rows.append({"logit_weight": d["logit_weight"], "relation_weight": d["relation_weight"],
                     "temperature": d["temperature"], "layer": d["layer"], "cpt_steps": d["cpt_steps"],
                     "steps": c["train"]["steps"], "tokens": s["tokens"], "status": s["status"],
                     **{f"val_{n}_{m}": s.get(f"val_{n}_{m}") for n in sets for m in ("loss", "bpb")},
                     "mean_val_loss": sum(s[f"val_{n}_loss"] for n in sets) / len(sets),
                     "wall_time_s": s["wall_time_s"], "run_id": s["run_id"]})  # fmt: skip
    rows.sort(key=lambda r: r["mean_val_loss"])
    best = rows[0]
    floor = count_floor(ngram)
    for r in rows:  # another tokenizer than the count model's: only bits per byte compare
        r["level"] = floor_label(r, floor, sets, key="val_{}_bpb")
    table = Table(["loss weights (logits, relations)", *(f"{names[n]} loss" for n in sets), "mean",
                   "vs best (nats)", "vs teacher (nats)", "C4 bits per byte", "level", "wall time (s)"],
                  "l" + "r" * (len(sets) + 4) + "lr")  # fmt: skip
    for r in rows:
        mark = " (profile's choice)" if [r["logit_weight"], r["relation_weight"]] == list(chosen) else ""
        gap = " / ".join(f"{r[f'val_{n}_loss'] - teacher[n]:+.3f}" for n in sets)
        table.add(f"{r['logit_weight']:g}, {r['relation_weight']:g}{mark}",
                  *(f"{r[f'val_{n}_loss']:.3f}" for n in sets),
                  f"{r['mean_val_loss']:.3f}", f"{r['mean_val_loss'] - best['mean_val_loss']:+.3f}", gap,
                  fmt(r.get("val_c4_bpb"), ".3f"), r["level"], f"{r['wall_time_s']:.0f}")  # fmt: skip
    table.add("teacher (FP16)", *(f"{teacher[n]:.3f}" for n in sets), f"{sum(teacher.values()) / len(sets):.3f}",
              "", "", "", "", "")  # fmt: skip
    if floor:
        table.add("Kneser-Ney trigram (count model, the profile's own tokens)", *("-" for _ in sets), "-", "", "",
                  fmt(floor.get("val_c4_bpb"), ".3f"), "the floor", "")  # fmt: skip
    spread = rows[-1]["mean_val_loss"] - best["mean_val_loss"]
    chosen_row = next((r for r in rows if [r["logit_weight"], r["relation_weight"]] == list(chosen)), None)
    claims = ["", "Claims:", "",
              f"- Lowest mean validation loss: logits {best['logit_weight']:g}, relations {best['relation_weight']:g} "
              f"({best['mean_val_loss']:.3f} nats); the settings span {spread:.3f} nats."]  # fmt: skip
    if chosen_row is None:
        claims.append(f"- The profile's weights ({chosen[0]:g}, {chosen[1]:g}) are not among the sweep's settings.")
    else:
        rank = rows.index(chosen_row) + 1
        claims.append(f"- The profile's weights ({chosen[0]:g}, {chosen[1]:g}) rank {rank} of {len(rows)}, "
                      f"{chosen_row['mean_val_loss'] - best['mean_val_loss']:+.3f} nats from the best.")  # fmt: skip
    if floor:
        level = [r for r in rows if r["level"] != "beats KN-3"]
        claims.append(f"- Against the count-model floor in bits per byte (the Kneser-Ney trigram's, on every set): "
                      f"{len(level)} of {len(rows)} settings at the n-gram level"
                      + (", so the sweep ranks how well each setting starts a student that has not yet recovered, "
                         "not which weights distil best" if level else "") + ".")  # fmt: skip
    intro = ["", f"Profile `{profile}`: the `bitdistill` arm's recipe (SubLN, ternary weights, 8-bit activations, "
             f"T={best['temperature']:g}, relations at {block(best['layer'])}) trained for {best['steps']} steps "
             f"({best['tokens']:,} tokens; cross-entropy only for the first {best['cpt_steps']}) with each pair of "
             "loss weights, one run per pair (one seed: differences of a few hundredths of a nat are within what "
             "another data order could give). Loss in nats per token on the first validation tokens of each set, "
             "the teacher on the same windows. The relation term follows the BitDistill paper's equation "
             "(softmax of scaled dot products, KL per position, mean over heads and positions), so the weights of "
             "the authors' code, whose relation loss is normalised differently (cosine relations, divided by the "
             "head count), do not carry over; the sweep chooses them here.", ""]  # fmt: skip
    notes = [*claims, "", f"Device: {first['device']}. Rule `bitdistill_sweep_table`, from the runs' summary.json "
             "and config.json."]  # fmt: skip
    columns = ["logit_weight", "relation_weight", "temperature", "layer", "cpt_steps", "steps", "tokens", "status",
               *[f"val_{n}_{m}" for n in sets for m in ("loss", "bpb")], "mean_val_loss", "level", "wall_time_s",
               "run_id"]  # fmt: skip
    write_table(out_md, f"BitDistill loss-weight sweep, profile `{profile}`", intro, table, notes, out_csv=out_csv,
                csv_rows=rows, columns=columns)
    return rows
