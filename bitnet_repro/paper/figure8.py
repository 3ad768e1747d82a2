"""Figure 8: decoding latency and memory of FP16 and BitNet b1.58 against parameter count at the paper's shapes,
and the FP16 / b1.58 ratios beside the paper's."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_repro.cost.shapes import LABELS, SHAPES, VOCAB, analytic_bytes
from bitnet_repro.paper.plotstyle import legend_panel, log_ticks, reference_line
from bitnet_repro.paper.table4 import GB, cost_rows, load_measurements, paper_rows, size_order
from bitnet_repro.paper.writer import pyplot, save_figure

COMMAND, HELP = ("figure8", "plot-cost"), "Figure 8: decoding latency and memory by size, from cost-measure files"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, help="cost-measure JSON files, one per size, engine and variant")
    p.add_argument("--profile", required=True, help="profile name, stated in the figure's caption")
    p.add_argument("--paper-dir", type=Path, help="directory of the paper's tables (for its ratios)")
    p.add_argument("--figure", type=Path, required=True, help="figure path without suffix (.png, .pdf, .md)")


def run(files: list[Path], figure: Path, profile: str, paper_dir: Path | None = None) -> None:
    """Left: time per output token; middle: memory (measured points, analytic weight lines to 70B); right:
    FP16 / b1.58 ratios beside the paper's."""
    plt = pyplot()
    ms = load_measurements(files)
    rows = cost_rows(ms, paper_dir)
    params = {s: analytic_bytes(s, 2.0)["linear_params"] + VOCAB * SHAPES[s][0] for s in SHAPES}
    fig = plt.figure(figsize=(16.5, 4.3))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 0.42])
    axes = [fig.add_subplot(grid[0, i]) for i in range(3)]
    style = {
        ("llama.cpp", "fp16"): ("C0", "o", "-"),
        ("llama.cpp", "bitnet_b158"): ("C3", "o", "-"),
        ("llama.cpp", "bitnet_b158-tq1_0"): ("C1", "o", ":"),
        ("torch", "fp16"): ("C0", "s", "--"),
        ("torch", "bitnet_b158"): ("C3", "s", "--"),
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
        if r["model"] == LABELS["bitnet_b158"]:
            axes[2].scatter(x, r["latency_ratio"], color="C2", marker=mk, zorder=3)
            axes[2].scatter(x, r["memory_ratio"], color="C4", marker=mk, zorder=3)
    paper = [
        r for r in paper_rows(paper_dir, "table4_ppl_cost.csv") if r["model"] == "BitNet b1.58" and r["size"] in SHAPES
    ]
    if paper:
        px = [params[r["size"]] / 1e9 for r in paper]
        axes[2].plot(px, [float(r["latency_ratio"]) for r in paper], "x--", color="C2", label="latency, paper (A100)")
        axes[2].plot(px, [float(r["memory_ratio"]) for r in paper], "x--", color="C4", label="memory, paper (A100)")
    axes[2].scatter([], [], color="C2", marker="o", label="latency, llama.cpp (ours)")
    axes[2].scatter([], [], color="C4", marker="o", label="memory, llama.cpp (ours)")
    axes[2].scatter([], [], color="gray", marker="s", label="PyTorch path (ours)")
    reference_line(axes[2], 1, "parity (no saving)", ls="-")
    titles = ["decoding latency", "memory", "FP16 / BitNet b1.58"]
    ylabels = ["ms per output token", "GB (resident; lines: weights)", "ratio (higher: b1.58 cheaper)"]
    measured = sorted({m["size"] for m in ms}, key=size_order)
    ticks = {0: measured, 1: list(SHAPES), 2: sorted(set(measured) | {r["size"] for r in paper}, key=size_order)}
    for i, (ax, t, y) in enumerate(zip(axes, titles, ylabels)):
        ax.set_xscale("log")
        ax.set_xticks([params[s] / 1e9 for s in ticks[i]], ticks[i], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("model size (parameters, log scale)")
        ax.set_title(t)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    log_ticks(axes[1], "y")
    for label in axes[1].get_xticklabels():  # 3B and 3.9B side by side
        label.set(rotation=40, ha="right", rotation_mode="anchor")
    series = axes[0].get_legend_handles_labels()  # the measured series, drawn alike in both panels
    legend_panel(fig.add_subplot(grid[0, 3]), *series, title="measured (latency, memory)")
    analytic = [(h, lb) for h, lb in zip(*axes[1].get_legend_handles_labels()) if "analytic" in lb]
    axes[1].legend(*zip(*analytic), fontsize=7, loc="lower right")
    axes[2].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Figure 8 ({profile} profile): {rows[0]['device']}, random weights at the paper's shapes", fontsize=10
    )
    caption = (
        f"Figure 8 ({profile} profile). Decoding latency (left) and memory (middle) of FP16 (LLaMA) and BitNet "
        f"b1.58 against parameter count, measured on {rows[0]['device']} through llama.cpp (circles; FP16 as "
        "F16, b1.58 as TQ2_0 and TQ1_0) and this suite's PyTorch path (squares; float16, int8 codes). Thick "
        "lines: analytic weight memory to 70B. Right: FP16 / b1.58 ratios, ours beside the paper's Table 4 "
        "(A100, FasterTransformer + Ladder). Numbers: tables/table4_cost.md."
    )
    save_figure(fig, figure, caption + "\n")
