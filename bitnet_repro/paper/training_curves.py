"""Training curves: training loss against tokens per size and variant (the paper's Figure 9), and final
validation loss against non-embedding parameters with the Kneser-Ney trigram (Figure 4, left)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from bitnet_repro.paper.plotstyle import VARIANT_COLORS, count_label, reference_line, size_ticks
from bitnet_repro.paper.writer import (
    STYLE,
    VARIANT_ORDER,
    figure_arguments,
    fp16_reference,
    pyplot,
    read_json,
    running_mean,
    save_figure,
)

COMMAND, HELP = (("figure9", "figure4", "plot"),
                 "Figures 9 and 4 (left): training curves and validation loss against size of a profile's runs")
SMOOTH = 9  # steps in the running mean of the training-loss curves


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "runs", "run directories", nargs="+")
    p.add_argument("--ngram", type=read_json, help="ngram.json: the Kneser-Ney trigram as a reference line")


def _widened(size: str) -> bool:
    """A widened preset (`cpu-xs-2x`): drawn as its own point, off its variant's size line."""
    return fp16_reference(size) != size


def _ngram_loss(ngram: dict | None, metric: str, protocol: str = "train") -> float | None:
    """The Kneser-Ney trigram's loss on the set of `metric` (val_<set>_loss), from ngram.json."""
    if not ngram or "kn3" not in ngram.get("models", {}):
        return None
    name = metric.removeprefix("val_").removesuffix("_loss")
    return ngram["models"]["kn3"].get(f"{name}_{protocol}", {}).get("loss")


def run(runs: list[Path], out: Path, profile: str, ngram: dict | None = None) -> None:
    """Left: one small panel per size, the training loss of each variant (colour) against tokens; right: the final
    validation loss against non-embedding parameters, one line per variant."""
    from matplotlib.ticker import FuncFormatter

    plt = pyplot()
    run_dirs, runs = runs, []
    for d in run_dirs:
        summary = json.loads((d / "summary.json").read_text())
        rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        runs.append((summary, rows))
    params = {}  # ladder size -> the fewest non-embedding parameters among its models (FP16's: no extra norms)
    for s, _ in runs:
        size = fp16_reference(s["size"])
        if size == s["size"]:
            params[size] = min(params.get(size, s["params_nonembedding"]), s["params_nonembedding"])
    sizes = sorted(params, key=params.get)
    cols = min(2, len(sizes))
    rows_n = -(-len(sizes) // cols)
    fig = plt.figure(figsize=(5.2 * cols + 6.5, 3.3 * rows_n + 1.0))
    grid = fig.add_gridspec(rows_n, cols + 1, width_ratios=[1] * cols + [1.5])
    panels = {size: fig.add_subplot(grid[i // cols, i % cols]) for i, size in enumerate(sizes)}
    floor_train = _ngram_loss(ngram, "val_indomain_loss")
    order = sorted(runs, key=lambda r: (_widened(r[0]["size"]), VARIANT_ORDER.index(r[0]["variant"])
                                        if r[0]["variant"] in VARIANT_ORDER else 9))  # fmt: skip
    for size, ax in panels.items():
        for summary, rows in order:
            if fp16_reference(summary["size"]) != size:
                continue
            label, ls = STYLE.get(summary["variant"], (summary["variant"], "-"))
            wide = _widened(summary["size"])
            ax.plot([r["tokens"] for r in rows], running_mean([r["loss"] for r in rows], SMOOTH), lw=1.1,
                    color=VARIANT_COLORS.get(summary["variant"], "grey"), ls="--" if wide else "-",
                    label=f"{label}, 2x width" if wide else label)  # fmt: skip
        if floor_train is not None:
            reference_line(ax, floor_train, f"Kneser-Ney trigram, in-domain held-out ({floor_train:.2f})")
        ax.set_title(f"{size}: {count_label(params[size])} non-embedding parameters", fontsize=10)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: count_label(v) if v else "0"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    first = panels[sizes[0]]
    for i, ax in enumerate(panels.values()):
        if ax is not first:
            ax.sharex(first)
            ax.sharey(first)
        ax.set(xlabel="training tokens" if i >= len(panels) - cols else "",
               ylabel=f"training loss ({SMOOTH}-step mean)" if i % cols == 0 else "")  # fmt: skip
    losses = [v for _, rows in runs for v in running_mean([r["loss"] for r in rows], SMOOTH) if math.isfinite(v)]
    first.set_ylim(min(losses + [floor_train or math.inf]) - 0.15, None)  # the trigram's line in view
    ax_val = fig.add_subplot(grid[:, cols])
    metric = "val_c4_loss" if all("val_c4_loss" in s for s, _ in runs) else "val_wikitext2_loss"
    for variant, (label, ls) in STYLE.items():
        done = [s for s, _ in runs if s["variant"] == variant and s["status"] == "completed"]
        pts = sorted((s["params_nonembedding"], s[metric]) for s in done if not _widened(s["size"]))
        if pts:
            color = VARIANT_COLORS[variant]
            ax_val.plot(*zip(*pts), ls=ls, marker="o", color=color, lw=1.8, label=label)
            for s in (s for s in done if _widened(s["size"])):
                ax_val.plot([s["params_nonembedding"]], [s[metric]], marker="*", ms=14, ls="", color=color,
                            label=f"{label}, 2x width ({s['size']})")  # fmt: skip
    floor = _ngram_loss(ngram, metric)
    if floor is not None:
        reference_line(ax_val, floor, f"Kneser-Ney trigram, same tokens ({floor:.2f})", where="right")
    ax_val.set(xscale="log", xlabel="non-embedding parameters",
               ylabel=f"{'C4 held-out' if 'c4' in metric else 'WikiText-2'} validation loss (nats/token)",
               title="Final validation loss against size (cf. Figure 4, left)")  # fmt: skip
    size_ticks(ax_val, params)
    ax_val.grid(alpha=0.3)
    ax_val.legend(fontsize=8, loc="best")
    device = ", ".join(sorted({s["device"] for s, _ in runs}))
    fig.suptitle(f"Training curves (cf. the paper's Figure 9), profile '{profile}' ({device}); "
                 f"{runs[0][0]['tokens']:,} training tokens per model", fontsize=11)  # fmt: skip
    caption = (
        f"Training curves of the `{profile}` profile. Left: one panel per size (its FP16 model's non-embedding "
        "parameters in the title), the training loss against tokens of each variant (colour: FP16 blue, BitNet "
        "b1 orange, BitNet b1.58 green; the b1.58 model at twice the width of the size dashed), with the "
        "Kneser-Ney trigram's loss on the held-out in-domain documents (the training corpus's distribution) as "
        "a reference. Right: final validation loss on the held-out C4 documents against non-embedding parameters "
        "(log x), with the Kneser-Ney trigram fitted on the same training tokens (rule `ngram_baselines`) and "
        "BitNet b1.58 at twice the width of the smallest size as a star. Diverged runs are left out of the right "
        "panel. Produced by the `training_figure` rule from the runs' metrics.jsonl and summary.json.\n"
    )
    save_figure(fig, out, caption)
