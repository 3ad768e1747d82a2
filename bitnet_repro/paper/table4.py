"""Table 4's cost columns: memory and time per output token of FP16 and BitNet b1.58 at the paper's shapes, as
measured by `cost.measure`, beside the paper's numbers (columns labelled Paper: A100 GPUs, FasterTransformer and
Ladder's 2-bit kernel); the analytic weight memory of every size; the perplexity column from the profile's
evaluation table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bitnet_repro.cost.shapes import LABELS, SHAPES, VARIANTS, analytic_bytes
from bitnet_repro.paper.writer import Table, read_csv, table_arguments, write_table

COMMAND, HELP = ("table4", "cost-table"), "Table 4's cost columns from cost-measure files"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "files", "cost-measure JSON files")
    p.add_argument("--paper-dir", type=Path, help="directory of the paper's tables (for the Paper columns)")
    p.add_argument("--eval-csv", type=Path, help="tables/eval.csv of the profile (perplexity of its trained models)")


GB = 1e9


def load_measurements(files: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(f).read_text()) for f in files]


def paper_rows(paper_dir: Path | None, name: str) -> list[dict[str, str]]:
    if paper_dir is None or not (paper_dir / name).is_file():
        return []
    return read_csv(paper_dir / name)


def size_order(size: str) -> int:
    return list(SHAPES).index(size)


def cost_rows(measurements: list[dict], paper_dir: Path | None) -> list[dict[str, Any]]:
    """One row per (size, engine, variant), with FP16 / this ratios against the same engine's FP16."""
    paper = {(r["size"], r["model"]): r for r in paper_rows(paper_dir, "table4_ppl_cost.csv")}
    fp16 = {(m["size"], m["engine"]): m for m in measurements if m["variant"] == "fp16"}
    rows = []
    variants = list(LABELS)  # fp16 first
    for m in sorted(measurements, key=lambda m: (size_order(m["size"]), m["engine"], variants.index(m["variant"]))):
        base = fp16.get((m["size"], m["engine"]))
        p = paper.get((m["size"], "LLaMA LLM" if m["variant"] == "fp16" else "BitNet b1.58"), {})
        ratio = lambda k: round(base[k] / m[k], 2) if base and m["variant"] != "fp16" and m[k] > 0 else None  # noqa: E731
        rows.append(
            {
                "size": m["size"],
                "engine": m["engine"],
                "model": LABELS[m["variant"]],
                "format": m["format"],
                "memory_gb": round(m["resident_bytes"] / GB, 3),
                "memory_ratio": ratio("resident_bytes"),
                "weights_gb": round(m["file_bytes"] / GB, 3),
                "latency_ms": round(m["ms_per_token"], 2),
                "latency_ratio": ratio("ms_per_token"),
                "prefill_tok_s": round(m["prompt_tokens"] / m["prefill_s"], 1),
                "logit_corr": round(m["agreement"]["correlation"], 4),
                "top1_agree": round(m["agreement"]["top1_agreement"], 3),
                "paper_memory_gb": p.get("memory_gb"),
                "paper_memory_ratio": p.get("memory_ratio"),
                "paper_latency_ms": p.get("latency_ms"),
                "paper_latency_ratio": p.get("latency_ratio"),
                "device": f"{m['cpu']}, {m['threads']} threads",
                "d_ff_used": m["d_ff_used"],
            }
        )
    return rows


def analytic_rows(paper_dir: Path | None) -> list[dict[str, Any]]:
    """Weight memory of every size in each format (FP16 embeddings, tied head), FP16 / b1.58."""
    paper = {(r["size"], r["model"]): r for r in paper_rows(paper_dir, "table4_ppl_cost.csv")}
    rows = []
    for size in SHAPES:
        fp16 = analytic_bytes(size, 2.0)["weights"]
        tq2 = analytic_bytes(size, VARIANTS[("llama.cpp", "bitnet_b158")][1])["weights"]
        int8 = analytic_bytes(size, 1.0)["weights"]
        rows.append(
            {
                "size": size,
                "fp16_gb": round(fp16 / GB, 2),
                "tq2_0_gb": round(tq2 / GB, 2),
                "int8_gb": round(int8 / GB, 2),
                "ratio_tq2_0": round(fp16 / tq2, 2),
                "ratio_int8": round(fp16 / int8, 2),
                "paper_memory_ratio": paper.get((size, "BitNet b1.58"), {}).get("memory_ratio"),
            }
        )
    return rows


def cell(v: Any, suffix: str = "") -> str:
    """A value with its unit suffix, or '-' when it is missing."""
    return "-" if v in (None, "") else f"{v}{suffix}"


def run(
    files: list[Path],
    out_csv: Path,
    out_md: Path,
    profile: str,
    paper_dir: Path | None = None,
    eval_csv: Path | None = None,
) -> list[dict]:
    ms = load_measurements(files)
    rows = cost_rows(ms, paper_dir)
    dev = rows[0]["device"]
    measured = Table(["size", "engine", "model", "format", "memory (GB)", "FP16/b1.58", "latency (ms/token)",
                      "FP16/b1.58", "prefill (tok/s)", "logit corr.", "Paper memory (GB)", "Paper ratio",
                      "Paper latency (ms)", "Paper ratio"], "llll" + "r" * 10)  # fmt: skip
    lines = [
        "",
        f"Measured on **{dev}**; random weights at the paper's shapes (Table 12), vocabulary 32,000, head tied "
        f"to the embeddings in both models; {ms[0]['prompt_tokens']}-token prompt, then the median of "
        f"{ms[0]['new_tokens']} greedy decoding steps. Memory: resident set growth from loading the model to the "
        "end of decoding (weights, KV cache, buffers). Ratios: FP16 / b1.58 on the same engine. Paper: A100, "
        "FasterTransformer with Ladder's 2-bit kernel.",
        "",
        measured,
    ]
    for r in rows:
        measured.add(r["size"], r["engine"], r["model"], r["format"], f"{r['memory_gb']:.2f}",
                     cell(r["memory_ratio"], "x"), f"{r['latency_ms']:.1f}", cell(r["latency_ratio"], "x"),
                     f"{r['prefill_tok_s']:.0f}", f"{r['logit_corr']:.3f}", cell(r["paper_memory_gb"]),
                     cell(r["paper_memory_ratio"], "x"), cell(r["paper_latency_ms"]),
                     cell(r["paper_latency_ratio"], "x"))  # fmt: skip
    padded = sorted({(r["size"], r["d_ff_used"]) for r in rows if r["d_ff_used"] != SHAPES[r["size"]][1]})
    notes = [
        f"{s}: the FFN width {SHAPES[s][1]} is rounded up to {f} in both models (TQ2_0 packs rows in blocks of 256)."
        for s, f in padded
    ]
    lines += [
        "",
        "Logit corr.: correlation of the engine's logits with our float32 forward pass of the same model on "
        "32 tokens, checked before timing (llama.cpp quantizes activations per block of 256, we per token; "
        "through many random layers a last-bit difference flips an activation code, hence < 1 for b1.58).",
        *notes,
        "",
        "## Weight memory at every size (analytic: linear layers in the format, FP16 embeddings, tied head)",
        "",
    ]
    analytic = Table(["size", "FP16 (GB)", "TQ2_0 (GB)", "int8 codes (GB)", "FP16/TQ2_0", "FP16/int8",
                      "Paper memory ratio"], "l" + "r" * 6)  # fmt: skip
    for a in analytic_rows(paper_dir):
        analytic.add(a["size"], a["fp16_gb"], a["tq2_0_gb"], a["int8_gb"], f"{a['ratio_tq2_0']}x",
                     f"{a['ratio_int8']}x", cell(a["paper_memory_ratio"], "x"))  # fmt: skip
    lines.append(analytic)
    if eval_csv is not None and Path(eval_csv).is_file():
        every = read_csv(Path(eval_csv))
        ev = [r for r in every if r["variant"] in ("fp16", "bitnet_b158")]
        tri = next((r for r in every if r["size"] == "count model" and r["variant"] == "KN trigram"), None)
        if ev:
            lines += [
                "",
                "## Perplexity column: this profile's trained models (`tables/eval.csv`)",
                "",
                "The cost rows above are the paper's shapes with random weights; perplexity needs trained "
                "models, which this profile has at its own sizes. Token PPL, average of WikiText-2 and C4 (the "
                "paper's Table 4 protocol), with bits per byte on C4 held-out in brackets; the Kneser-Ney trigram "
                "on the same tokens is the floor.",
                "",
            ]
            ppl = Table(["size", *(f"{LABELS[v]} PPL (C4 bpb)" for v in ("fp16", "bitnet_b158"))], "lrr")
            lines.append(ppl)

            def ppl_cell(r: dict | None) -> str:
                if not r or not r.get("ppl_wikitext2"):
                    return "-"
                avg = (float(r["ppl_wikitext2"]) + float(r["ppl_c4"])) / 2
                bpb = f" ({float(r['bpb_c4']):.3f})" if r.get("bpb_c4") else ""
                return f"{avg:.1f}{bpb}"

            by = {(r["size"], r["variant"]): r for r in ev}
            for size in dict.fromkeys(r["size"] for r in ev):
                ppl.add(size, ppl_cell(by.get((size, "fp16"))), ppl_cell(by.get((size, "bitnet_b158"))))
            if tri:
                ppl.add("Kneser-Ney trigram", ppl_cell(tri), "")
    write_table(out_md, f"Table 4, cost columns ({profile} profile): memory and time per output token, FP16 vs "
                "BitNet b1.58", lines, out_csv=out_csv, csv_rows=rows,
                paper=paper_dir / "table4_ppl_cost.csv" if paper_dir else None)  # fmt: skip
    return rows
