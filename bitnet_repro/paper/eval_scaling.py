"""The evaluation figure: bits per byte, the average Table 3 accuracy zero- and few-shot (the paper's Figure 5
measure) and BLiMP accuracy against non-embedding parameters, one line per variant, with chance and the
Kneser-Ney trigram as references, from the evaluation table."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bitnet_repro.paper.plotstyle import (
    TABLE3_CHANCE,
    TABLE3_SHORTS,
    VARIANT_COLORS,
    legend_panel,
    mean_se,
    reference_line,
    size_ticks,
)
from bitnet_repro.paper.writer import STYLE, figure_arguments, fp16_reference, pyplot, read_csv, save_figure

COMMAND, HELP = "plot-eval", "perplexity and BLiMP against size, from the evaluation table"
DODGE = 0.012  # decades between the variants' points at one size, so that their error bars stay apart


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "table", "results/<profile>/tables/eval.csv")


def _num(row: dict, key: str) -> float | None:
    return float(row[key]) if row.get(key) not in (None, "") else None


def _panels(rows: list[dict], tri: dict) -> list[tuple[str, str, float, float | None]]:
    """The accuracy panels the table fills: (title, column, chance, the trigram's score or None), as fractions;
    `tri` is the table's KN trigram row ({} without one)."""
    shots = sorted({int(m.group(1)) for c in (rows[0] if rows else {}) if (m := re.fullmatch(r"avg_(\d+)shot", c))})
    panels = [(f"{k}-shot average of WG, WGe, HS, SC (cf. Figure 5)", f"avg_{k}shot", TABLE3_CHANCE, None)
              for k in shots if any(r.get(f"avg_{k}shot") for r in rows)]  # fmt: skip
    if any(r.get("blimp") for r in rows):
        panels.append(("BLiMP (67 paradigms)", "blimp", 0.5, _num(tri, "blimp")))
    return panels


def _se(row: dict, column: str) -> float | None:
    """A score's standard error: BLiMP's from the harness, a task average's from its tasks' (`mean_se`)."""
    if column == "blimp":
        return _num(row, "blimp_se")
    shots = column.removeprefix("avg_")
    return mean_se(_num(row, f"{s}_{shots}_se") for s in TABLE3_SHORTS)


def run(table: Path, out: Path, profile: str) -> None:
    """Bits per byte on C4 (else token perplexity), the average Table 3 accuracy at each number of shots and
    BLiMP accuracy against size, one line per variant with one standard error, from the evaluation table."""
    plt = pyplot()
    rows = read_csv(table)
    models = [r for r in rows if r["size"] != "count model" and r.get("params_nonembedding")]
    tri = next((r for r in rows if r["size"] == "count model" and r["variant"] == "KN trigram"), {})
    panels = _panels(models and rows, tri)
    n = len(panels) + 1
    cols = min(n, 2)
    fig = plt.figure(figsize=(5 * cols + 2.4, 3.9 * -(-n // cols) + 0.5))
    grid = fig.add_gridspec(-(-n // cols), cols + 1, width_ratios=[1] * cols + [0.45])
    ax_ppl, *axes = [fig.add_subplot(grid[i // cols, i % cols]) for i in range(n)]
    bpb = "bpb_c4" if any(r.get("bpb_c4") for r in models) else None
    loss = bpb or "ppl_avg"
    sizes = {}
    handles, labels = [], []
    for i, (variant, (label, ls)) in enumerate(STYLE.items()):
        shift = 10 ** (DODGE * (i - (len(STYLE) - 1) / 2))  # the variants' error bars side by side
        mine = sorted((int(r["params_nonembedding"]), r) for r in models if r["variant"] == variant)
        ladder = [(p, r) for p, r in mine if fp16_reference(r["size"]) == r["size"]]
        wide = [(p, r) for p, r in mine if fp16_reference(r["size"]) != r["size"]]
        if not ladder:
            continue
        for p, r in ladder:
            sizes[r["size"]] = min(sizes.get(r["size"], p), p)
        style = {"color": VARIANT_COLORS[variant], "ls": ls, "marker": "o", "lw": 1.8}
        for ax, column, scale in [(ax_ppl, loss, 1)] + [(a, c, 100) for a, (_, c, _, _) in zip(axes, panels)]:
            pts = [(p, _num(r, column), _se(r, column) if ax is not ax_ppl else None) for p, r in ladder]
            pts = [(p, y, e) for p, y, e in pts if y is not None]
            if pts:
                x, y, err = zip(*pts)
                yerr = [scale * e for e in err] if all(e is not None for e in err) else None
                line = ax.errorbar([v * shift for v in x], [scale * v for v in y], yerr=yerr, capsize=3, **style)
            for p, r in wide:
                if _num(r, column) is not None:
                    ax.errorbar([p], [scale * _num(r, column)], yerr=None if ax is ax_ppl or _se(r, column) is None
                                else [scale * _se(r, column)], marker="*", ms=13, ls="", capsize=3,
                                color=style["color"])  # fmt: skip
        handles.append(line)
        labels.append(label)
        if wide:
            handles.append(plt.Line2D([], [], marker="*", ms=13, ls="", color=style["color"]))
            labels.append(f"{label}, 2x width ({', '.join(r['size'] for _, r in wide)})")
    if bpb and tri.get(bpb):
        reference_line(ax_ppl, float(tri[bpb]), f"Kneser-Ney trigram, same tokens ({float(tri[bpb]):.2f})",
                       where="right")  # fmt: skip
    ax_ppl.set(ylabel="bits per byte, C4 held-out" if bpb else "token PPL, mean of WikiText-2 and C4",
               title="Validation loss against size")  # fmt: skip
    for ax, (title, _, chance, trigram) in zip(axes, panels):
        reference_line(ax, 100 * chance, f"chance ({100 * chance:.1f}%)")
        if trigram is not None:
            reference_line(ax, 100 * trigram, f"Kneser-Ney trigram ({100 * trigram:.1f}%)", ls="-.", where="right")
        ax.set(ylabel="accuracy (%), ± 1 s.e.", title=title)
    for ax in (ax_ppl, *axes):
        ax.set(xscale="log", xlabel="non-embedding parameters")
        size_ticks(ax, sizes)
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(10)
    legend_panel(fig.add_subplot(grid[:, -1]), handles, labels)
    device = next((r["device"] for r in models if r.get("device")), "-")
    fig.suptitle(f"Evaluation against size, profile '{profile}' ({device})", fontsize=11)
    save_figure(fig, out, (
        f"Evaluation of the `{profile}` profile's models through lm-evaluation-harness, against non-embedding "
        "parameters (log x), one line per variant, set slightly apart along x so that the error bars stay visible "
        "(BitNet b1.58 at twice the width of the smallest size as a star). First panel: bits per byte on the "
        "held-out C4 documents (token level, non-overlapping windows of the context length), with the Kneser-Ney "
        "trigram on the same tokens dotted. Then the average accuracy over "
        "Winogrande, WSC273, HellaSwag and StoryCloze at each number of shots (the measure of the paper's "
        "Figure 5, there against inference energy), ± one standard error of the average (the four tasks' "
        f"standard errors combined as independent); chance {100 * TABLE3_CHANCE:.2f}% dotted. Last panel: BLiMP "
        "accuracy (mean of the 67 paradigms, ± the harness's standard error; chance 50% dotted; the trigram "
        f"dash-dotted). Produced by the `eval_figure` rule from results/{profile}/tables/eval.csv.\n"))  # fmt: skip
