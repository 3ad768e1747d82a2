"""The packed-size table: bytes of each packed BitNet artefact (`export.packed`) against the same model in FP16."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bitnet_repro.export.packed import read_manifest
from bitnet_repro.paper.writer import Table, table_arguments, write_table

COMMAND, HELP = "pack-table", "bytes of packed artefacts against FP16"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "manifests", "manifest.json of each artefact")


def run(manifests: list[Path], out_csv: Path, out_md: Path, profile: str) -> list[dict[str, Any]]:
    """Bytes of each packed model against the same model's weights in FP16 (2 bytes per parameter)."""
    rows = []
    for a in (m.parent for m in manifests):
        m = read_manifest(a)
        cfg = m["config"]
        linear_params = sum(o * i for o, i in m["layers"].values())
        fp16 = 2 * linear_params + m["bytes"]["other_fp16"]
        rows.append({"profile": profile, "run": cfg["name"], "size": cfg["size"], "variant": m["variant"],
                     "packing": m["packing"], "linear_params": linear_params,
                     "packed_weight_bytes": m["bytes"]["packed_weights"], "other_fp16_bytes": m["bytes"]["other_fp16"],
                     "total_bytes": m["bytes"]["total"], "file_bytes": m["bytes"]["file"], "fp16_bytes": fp16,
                     "fp16_over_packed": round(fp16 / m["bytes"]["total"], 3),
                     "linear_fp16_over_packed": round(2 * linear_params / m["bytes"]["packed_weights"], 3),
                     })  # fmt: skip
    table = Table(["model", "packing", "linear weights", "packed", "embeddings, norms, head (FP16)", "total",
                   "FP16 total", "FP16 / packed", "linear layers only"], "ll" + "r" * 7)  # fmt: skip
    for r in rows:
        table.add(r["run"], r["packing"], f"{r['linear_params']:,}", f"{r['packed_weight_bytes']:,}",
                  f"{r['other_fp16_bytes']:,}", f"{r['total_bytes']:,}", f"{r['fp16_bytes']:,}",
                  f"{r['fp16_over_packed']:.2f}x", f"{r['linear_fp16_over_packed']:.2f}x")  # fmt: skip
    notes = ["", "Bytes of tensor data (`manifest.json`); the files add a safetensors header. FP16 total: the same "
              "model with every weight in FP16. Small models are dominated by their FP16 embeddings and head, so "
              "the whole-model ratio is far below the linear layers' 8x (ternary) or 16x (binary)."]  # fmt: skip
    write_table(out_md, f"Packed artefacts ({profile} profile): bytes against FP16", "", table, notes,
                out_csv=out_csv, csv_rows=rows)  # fmt: skip
    return rows
