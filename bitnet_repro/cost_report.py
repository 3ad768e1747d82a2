"""Table 4's cost columns, Figure 8 and Table 7 from the measurements of `cost.py`, beside the paper's numbers
(in columns labelled Paper: A100 GPUs, FasterTransformer and Ladder's 2-bit kernel)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from . import cost
from .cost import LABELS, SHAPES, VARIANTS, analytic_bytes

GB = 1e9


def _load(files: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(f).read_text()) for f in files]


def _paper(paper_dir: Path | None, name: str) -> list[dict[str, str]]:
    if paper_dir is None or not (paper_dir / name).is_file():
        return []
    with open(paper_dir / name) as f:
        return list(csv.DictReader(f))


def _order(size: str) -> int:
    return list(SHAPES).index(size)


def cost_rows(measurements: list[dict], paper_dir: Path | None) -> list[dict[str, Any]]:
    """One row per (size, engine, variant), with FP16 / this ratios against the same engine's FP16."""
    paper = {(r["size"], r["model"]): r for r in _paper(paper_dir, "table4_ppl_cost.csv")}
    fp16 = {(m["size"], m["engine"]): m for m in measurements if m["variant"] == "fp16"}
    rows = []
    variants = list(LABELS)  # fp16 first
    for m in sorted(measurements, key=lambda m: (_order(m["size"]), m["engine"], variants.index(m["variant"]))):
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
    paper = {(r["size"], r["model"]): r for r in _paper(paper_dir, "table4_ppl_cost.csv")}
    rows = []
    for size in SHAPES:
        fp16 = analytic_bytes(size, 2.0)["weights"]
        tq2 = analytic_bytes(size, VARIANTS[("llama.cpp", "b158")][1])["weights"]
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


def _fmt(v: Any, suffix: str = "") -> str:
    return "-" if v in (None, "") else f"{v}{suffix}"


def table4(
    measure_files: list[Path],
    out_csv: Path,
    out_md: Path,
    profile: str,
    paper_dir: Path | None = None,
    eval_csv: Path | None = None,
) -> list[dict]:
    from .utils import atomic_write_text, write_csv

    ms = _load(measure_files)
    rows = cost_rows(ms, paper_dir)
    write_csv(out_csv, rows, list(rows[0]))
    dev = rows[0]["device"]
    lines = [
        f"# Table 4, cost columns ({profile} profile): memory and time per output token, FP16 vs BitNet b1.58",
        "",
        f"Measured on **{dev}**; random weights at the paper's shapes (Table 12), vocabulary 32,000, head tied "
        f"to the embeddings in both models; {ms[0]['prompt_tokens']}-token prompt, then the median of "
        f"{ms[0]['new_tokens']} greedy decoding steps. Memory: resident set growth from loading the model to the "
        "end of decoding (weights, KV cache, buffers). Ratios: FP16 / b1.58 on the same engine. Paper: A100, "
        "FasterTransformer with Ladder's 2-bit kernel.",
        "",
        "| size | engine | model | format | memory (GB) | FP16/b1.58 | latency (ms/token) | FP16/b1.58 | "
        "prefill (tok/s) | logit corr. | Paper memory (GB) | Paper ratio | Paper latency (ms) | Paper ratio |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['engine']} | {r['model']} | {r['format']} | {r['memory_gb']:.2f} | "
            f"{_fmt(r['memory_ratio'], 'x')} | {r['latency_ms']:.1f} | {_fmt(r['latency_ratio'], 'x')} | "
            f"{r['prefill_tok_s']:.0f} | {r['logit_corr']:.3f} | {_fmt(r['paper_memory_gb'])} | "
            f"{_fmt(r['paper_memory_ratio'], 'x')} | {_fmt(r['paper_latency_ms'])} | "
            f"{_fmt(r['paper_latency_ratio'], 'x')} |"
        )
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
        "| size | FP16 (GB) | TQ2_0 (GB) | int8 codes (GB) | FP16/TQ2_0 | FP16/int8 | Paper memory ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for a in analytic_rows(paper_dir):
        lines.append(
            f"| {a['size']} | {a['fp16_gb']} | {a['tq2_0_gb']} | {a['int8_gb']} | {a['ratio_tq2_0']}x | "
            f"{a['ratio_int8']}x | {_fmt(a['paper_memory_ratio'], 'x')} |"
        )
    if eval_csv is not None and Path(eval_csv).is_file():
        with open(eval_csv) as f:
            every = list(csv.DictReader(f))
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
                "| size | LLaMA (FP16) PPL (C4 bpb) | BitNet b1.58 PPL (C4 bpb) |",
                "|---|---:|---:|",
            ]

            def cell(r: dict | None) -> str:
                if not r or not r.get("ppl_wikitext2"):
                    return "-"
                avg = (float(r["ppl_wikitext2"]) + float(r["ppl_c4"])) / 2
                bpb = f" ({float(r['bpb_c4']):.3f})" if r.get("bpb_c4") else ""
                return f"{avg:.1f}{bpb}"

            by = {(r["size"], r["variant"]): r for r in ev}
            for size in dict.fromkeys(r["size"] for r in ev):
                lines.append(f"| {size} | {cell(by.get((size, 'fp16')))} | {cell(by.get((size, 'bitnet_b158')))} |")
            if tri:
                lines.append(f"| Kneser-Ney trigram | {cell(tri)} | |")
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows


def table7(files: list[Path], out_csv: Path, out_md: Path, profile: str, paper_dir: Path | None = None) -> list[dict]:
    from .utils import atomic_write_text, write_csv

    ts = {t["variant"]: t for t in _load(files)}
    if set(ts) != {"fp16", "b158"}:
        raise ValueError(f"Table 7 needs one FP16 and one b1.58 throughput file, got {sorted(ts)}")
    paper = {r["model"]: r for r in _paper(paper_dir, "table7_throughput_70B.csv")}
    f, b = ts["fp16"], ts["b158"]
    rows = []
    for t in (f, b):
        p = paper.get("LLaMA LLM" if t is f else "BitNet b1.58", {})
        rows.append(
            {
                "model": LABELS[t["variant"]],
                "size": t["size"],
                "format": t["format"],
                "context": t["context"],
                "budget_gb": round(t["budget_bytes"] / GB, 3),
                "resident_gb": round(t["resident_bytes"] / GB, 3),
                "weights_gb": round(t["weights_resident_bytes"] / GB, 3),
                "max_batch": t["max_batch"],
                "batch_ratio": round(t["max_batch"] / f["max_batch"], 2),
                "tokens_per_s": round(t["tokens_per_s"], 1),
                "throughput_ratio": round(t["tokens_per_s"] / f["tokens_per_s"], 2),
                "paper_size": p.get("size"),
                "paper_max_batch": p.get("max_batch"),
                "paper_batch_ratio": p.get("batch_ratio"),
                "paper_tokens_per_s": p.get("throughput_tok_s"),
                "paper_throughput_ratio": p.get("throughput_ratio"),
                "device": f"{t['cpu']}, {t['threads']} threads",
            }
        )
    write_csv(out_csv, rows, list(rows[0]))
    lines = [
        f"# Table 7 ({profile} profile): largest batch under a memory budget and its throughput",
        "",
        f"Measured on **{rows[0]['device']}** with this suite's PyTorch path ({f['dtype']} for half-precision "
        f"tensors, b1.58 linear layers as int8 codes), {f['size']} shapes with random weights, sequences of "
        f"{f['context']} tokens. Scaled to this device: the paper's LLaMA 70B fitted a batch of 16 on two 80 GB "
        f"A100s, so the budget here is what FP16 needs for a batch of 16 ({rows[0]['budget_gb']:.2f} GB: resident "
        "weights, measured overhead and 16 KV caches); b1.58 gets the largest batch that fits the same budget. "
        "Throughput: decoding tokens per second over the batch (median step).",
        "",
        "| model | size | format | budget (GB) | resident (GB) | max batch | ratio | tokens/s | ratio | "
        "Paper size | Paper max batch | Paper ratio | Paper tokens/s | Paper ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['format']} | {r['budget_gb']:.2f} | {r['resident_gb']:.2f} | "
            f"{r['max_batch']} | {r['batch_ratio']}x | {r['tokens_per_s']} | {r['throughput_ratio']}x | "
            f"{_fmt(r['paper_size'])} | {_fmt(r['paper_max_batch'])} | {_fmt(r['paper_batch_ratio'], 'x')} | "
            f"{_fmt(r['paper_tokens_per_s'])} | {_fmt(r['paper_throughput_ratio'], 'x')} |"
        )
    kv = f["kv_bytes_per_sequence"] / GB
    lines += [
        "",
        f"Why the batch ratio is smaller than the paper's: the batch is bought with the weight memory b1.58 "
        f"saves ({rows[0]['weights_gb']:.2f} - {rows[1]['weights_gb']:.2f} GB here), and one {f['context']}-token "
        f"cache takes {kv:.3f} GB at this size; at 70B the weights dwarf the caches, so the same saving buys "
        "many more sequences.",
    ]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows


def figure8(measure_files: list[Path], out: Path, profile: str, paper_dir: Path | None = None) -> None:
    """Left: time per output token; middle: memory (measured points, analytic weight lines to 70B); right:
    FP16 / b1.58 ratios beside the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save
    from .utils import atomic_write_text

    ms = _load(measure_files)
    rows = cost_rows(ms, paper_dir)
    params = {s: analytic_bytes(s, 2.0)["linear_params"] + cost.VOCAB * SHAPES[s][0] for s in SHAPES}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    style = {
        ("llama.cpp", "fp16"): ("C0", "o", "-"),
        ("llama.cpp", "b158"): ("C3", "o", "-"),
        ("llama.cpp", "b158-tq1_0"): ("C1", "o", ":"),
        ("torch", "fp16"): ("C0", "s", "--"),
        ("torch", "b158"): ("C3", "s", "--"),
    }
    for (engine, variant), (color, marker, ls) in style.items():
        sel = sorted(
            (m for m in ms if m["engine"] == engine and m["variant"] == variant), key=lambda m: params[m["size"]]
        )
        if not sel:
            continue
        x = [params[m["size"]] / 1e9 for m in sel]
        label = f"{LABELS[variant]}, {engine}"
        axes[0].plot(x, [m["ms_per_token"] for m in sel], color=color, marker=marker, ls=ls, label=label)
        axes[1].plot(x, [m["resident_bytes"] / GB for m in sel], color=color, marker=marker, ls=ls, label=label)
    xs = [params[s] / 1e9 for s in SHAPES]
    axes[1].plot(
        xs,
        [analytic_bytes(s, 2.0)["weights"] / GB for s in SHAPES],
        color="C0",
        alpha=0.35,
        lw=4,
        label="FP16 weights (analytic)",
    )
    axes[1].plot(
        xs,
        [analytic_bytes(s, 66 / 256)["weights"] / GB for s in SHAPES],
        color="C3",
        alpha=0.35,
        lw=4,
        label="TQ2_0 weights (analytic)",
    )
    for r in rows:
        if r["latency_ratio"] is None:
            continue
        x = params[r["size"]] / 1e9
        mk = "o" if r["engine"] == "llama.cpp" else "s"
        if r["model"] == LABELS["b158"]:
            axes[2].scatter(x, r["latency_ratio"], color="C2", marker=mk, zorder=3)
            axes[2].scatter(x, r["memory_ratio"], color="C4", marker=mk, zorder=3)
    paper = [
        r for r in _paper(paper_dir, "table4_ppl_cost.csv") if r["model"] == "BitNet b1.58" and r["size"] in SHAPES
    ]
    if paper:
        px = [params[r["size"]] / 1e9 for r in paper]
        axes[2].plot(px, [float(r["latency_ratio"]) for r in paper], "x--", color="C2", label="latency, paper (A100)")
        axes[2].plot(px, [float(r["memory_ratio"]) for r in paper], "x--", color="C4", label="memory, paper (A100)")
    axes[2].scatter([], [], color="C2", marker="o", label="latency, llama.cpp (ours)")
    axes[2].scatter([], [], color="C4", marker="o", label="memory, llama.cpp (ours)")
    axes[2].scatter([], [], color="gray", marker="s", label="PyTorch path (ours)")
    axes[2].axhline(1, color="gray", lw=0.8)
    titles = ["decoding latency", "memory", "FP16 / BitNet b1.58"]
    ylabels = ["ms per output token", "GB (resident; lines: weights)", "ratio (higher: b1.58 cheaper)"]
    measured = sorted({m["size"] for m in ms}, key=_order)
    ticks = {0: measured, 1: list(SHAPES), 2: sorted(set(measured) | {r["size"] for r in paper}, key=_order)}
    for i, (ax, t, y) in enumerate(zip(axes, titles, ylabels)):
        ax.set_xscale("log")
        ax.set_xticks([params[s] / 1e9 for s in ticks[i]], ticks[i], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("model size (parameters, log scale)")
        ax.set_title(t)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].set_yscale("log")
    fig.suptitle(
        f"Figure 8 ({profile} profile): {rows[0]['device']}, random weights at the paper's shapes", fontsize=10
    )
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    caption = (
        f"Figure 8 ({profile} profile). Decoding latency (left) and memory (middle) of LLaMA (FP16) and BitNet "
        f"b1.58 against parameter count, measured on {rows[0]['device']} through llama.cpp (circles; FP16 as "
        "F16, b1.58 as TQ2_0 and TQ1_0) and this suite's PyTorch path (squares; float16, int8 codes). Thick "
        "lines: analytic weight memory to 70B. Right: FP16 / b1.58 ratios, ours beside the paper's Table 4 "
        "(A100, FasterTransformer + Ladder). Numbers: tables/table4_cost.md."
    )
    atomic_write_text(out.with_suffix(".md"), caption + "\n")
