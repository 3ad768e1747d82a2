"""The token-budget table: single ladder models trained for more steps than the ladder (the profile's `budget`
section), against the Kneser-Ney trigram and against the same model at the ladder's token count: what the
ladder's budget leaves on the table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.paper.writer import (
    VAL_NAMES,
    Table,
    count_floor,
    floor_label,
    read_json,
    size_key,
    table_arguments,  # fmt: skip
    write_table,
)

COMMAND, HELP = "budget-table", "token-budget runs against the trigram and against the ladder's token count"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "summaries", "summary.json of each token-budget run")
    p.add_argument("--ladder", nargs="+", type=Path, required=True, help="summary.json of the ladder's runs")
    p.add_argument("--ngram", type=read_json, required=True, help="ngram.json: the floor, and the training tokens")


def run(summaries: list[Path], ladder: list[Path], ngram: dict, out_csv: Path, out_md: Path, profile: str,
        ) -> list[dict]:  # fmt: skip
    rows = sorted((json.loads(p.read_text()) for p in summaries), key=size_key)
    base = {(r["size"], r["variant"]): r for r in (json.loads(p.read_text()) for p in ladder)}
    floor = count_floor(ngram)
    if floor is None:
        raise ValueError("the budget table needs the profile's Kneser-Ney trigram (ngram.json, --ngram)")
    sets = [n for n, _ in VAL_NAMES if any(f"val_{n}_loss" in r for r in rows)]
    names = dict(VAL_NAMES)
    table = Table(["size", "variant", "non-emb. params", "tokens", "epochs", *(f"{names[n]} loss" for n in sets),
                   "vs KN-3 (nats)", "level", "the ladder's tokens", "its vs KN-3", "more tokens buy (nats)",
                   "wall time (s)"], "llrrr" + "r" * len(sets) + "rlrrrr")  # fmt: skip
    for r in rows:
        b = base.get((r["size"], r["variant"]))
        vs = lambda x: " / ".join(f"{x[f'val_{n}_loss'] - floor[f'val_{n}_loss']:+.3f}" for n in sets)  # noqa: E731
        r["epochs"] = round(r["tokens"] / ngram["train_tokens"], 2)
        r["ladder_tokens"] = b["tokens"] if b else None
        r["gain_c4"] = round(b[f"val_{sets[0]}_loss"] - r[f"val_{sets[0]}_loss"], 4) if b else None
        table.add(r["size"], r["variant"], f"{r['params_nonembedding']:,}", f"{r['tokens']:,}", f"{r['epochs']:.2f}",
                  *(f"{r[f'val_{n}_loss']:.4f}" for n in sets), vs(r), floor_label(r, floor, sets),
                  f"{b['tokens']:,}" if b else "-", vs(b) if b else "-",
                  f"{r['gain_c4']:.3f}" if b else "-", f"{r['wall_time_s']:.0f}")  # fmt: skip
    intro = ["", f"Ladder models of the `{profile}` profile trained for more steps than the ladder (its `budget` "
             "section), with the ladder's own recipe for that variant (the cosine or two-stage schedule stretched "
             "over the longer run), each on one core beside another job. Loss in nats per token on the ladder's "
             "validation windows; vs KN-3: minus the Kneser-Ney trigram's loss on "
             + " / ".join(names[n] for n in sets) + " (negative is better); more tokens buy: the ladder model's "
             f"{names[sets[0]]} loss minus this run's. Epochs: over the {ngram['train_tokens']:,} training tokens.",
             ""]  # fmt: skip
    columns = ["size", "variant", "params_nonembedding", "steps", "tokens", "epochs",
               *[f"val_{n}_loss" for n in sets], "ladder_tokens", "gain_c4", "wall_time_s", "run_id"]  # fmt: skip
    notes = ["", f"Device: {', '.join(sorted({r['device'] for r in rows}))}. Rule `budget_table`, from the runs' "
             "summary.json and the ladder's."]
    write_table(out_md, f"Token budget, profile `{profile}`", intro, table, notes, out_csv=out_csv, csv_rows=rows,
                columns=columns)
    return rows
