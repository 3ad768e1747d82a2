"""The learning-rate pilots: each arm's final validation loss at each peak LR, the best marked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.paper.writer import VAL_NAMES, Table, count_floor, fmt, table_arguments, write_table

COMMAND, HELP = "pilot-report", "the learning-rate pilots as a table"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "summaries", "summary.json of each pilot run", ngram="ngram.json: the count models as rows")


def run(summaries: list[Path], out_csv: Path, out_md: Path, profile: str, ngram: dict | None = None) -> list[dict]:
    runs = []
    for path in summaries:
        r = json.loads(path.read_text())
        cfg = json.loads((path.parent / "config.json").read_text())
        r["lr"], r["schedule"] = cfg["train"]["lr"], cfg["train"]["schedule"]
        r["arm"] = r["name"].split("-lr")[0].removeprefix(f"pilot-{r['size']}-")
        runs.append(r)
    runs.sort(key=lambda r: (r["arm"], r["lr"]))
    floor = count_floor(ngram)
    sets = [n for n, _ in VAL_NAMES if any(f"val_{n}_loss" in r for r in runs)]
    names = dict(VAL_NAMES)
    best = {}
    for r in runs:
        loss = r.get(f"val_{sets[0]}_loss") if r["status"] == "completed" else None
        if loss is not None and (r["arm"] not in best or loss < best[r["arm"]][f"val_{sets[0]}_loss"]):
            best[r["arm"]] = r
    size = runs[0]["size"] if runs else "-"
    intro = ["", f"Each arm trains `{size}` for {runs[0]['steps'] if runs else 0:,} steps at each peak LR with its "
             "own recipe (schedule, betas, weight decay); the rest of the profile's training settings are the "
             f"ladder's. Loss in nats per token on the first validation tokens; the best LR of each arm (lowest "
             f"{names[sets[0]]} loss) is in bold. vs KN-3: minus the Kneser-Ney trigram's loss.", ""]  # fmt: skip
    table = Table(["arm", "schedule", "peak LR", "status", *(f"{names[n]} loss" for n in sets), "vs KN-3",
                   "tokens/s", "wall time (s)"], "llrl" + "r" * len(sets) + "rrr")  # fmt: skip
    for r in runs:
        mark = "**" if best.get(r["arm"]) is r else ""
        status = r["status"] + (f" (step {r['diverged_at_step']})" if r["status"] == "diverged" else "")
        vs = ""
        if floor and r["status"] == "completed":
            vs = f"{r[f'val_{sets[0]}_loss'] - floor[f'val_{sets[0]}_loss']:+.3f}"
        table.add(r["arm"], r["schedule"], f"{mark}{r['lr']:g}{mark}", status,
                  *(f"{mark}{fmt(r.get(f'val_{n}_loss'), '.4f')}{mark}" for n in sets), vs,
                  f"{r['tokens'] / r['wall_time_s']:,.0f}", f"{r['wall_time_s']:.0f}")  # fmt: skip
    notes = ["", "Best peak LR per arm: " + ", ".join(f"{a} {r['lr']:g}" for a, r in sorted(best.items())) + "."]
    columns = ["arm", "lr", "schedule", "steps", "tokens", "status",
               *[f"val_{n}_{m}" for n in sets for m in ("loss", "ppl", "bpb")], "wall_time_s", "run_id"]  # fmt: skip
    write_table(out_md, f"Learning-rate pilots, profile `{profile}`", intro, table, notes,
                out_csv=out_csv, csv_rows=runs, columns=columns)  # fmt: skip
    return runs
