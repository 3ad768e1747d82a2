"""Figure 7: average Table 3 accuracy (zero- and few-shot) and perplexity against model size, one line per PTQ
method and bit width, the FP16 models they quantize and BitNet b1, from Table 3's long CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_repro.paper.table3 import ORDER
from bitnet_repro.paper.writer import figure_arguments, pyplot, save_figure

# pandas and seaborn are imported where used: heavy (seconds to import) and needed by few commands

COMMAND, HELP = "plot-ptq", "Figure 7: Table 3 accuracy against model size, zero- and few-shot"


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "table", "long CSV written by ptq-table")


def run(table: Path, out: Path, profile: str) -> None:
    """Average Table 3 accuracy against model size, zero- and few-shot panels, one line per method and bit
    width plus FP16 and BitNet b1; a third panel gives perplexity, which carries the signal at CPU scale."""
    import pandas as pd
    import seaborn as sns

    plt = pyplot()
    df = pd.read_csv(table)
    df["label"] = [m if p == "no" else f"{m} W{w}A{a}" for m, p, w, a in zip(df.method, df.ptq, df.wbits, df.abits)]
    df["avg_pct"] = 100 * df["avg"]
    shots = sorted(df.shots.unique())
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(shots) + 1, figsize=(5 * (len(shots) + 1), 4.2))
    labels = sorted(df.label.unique(), key=lambda s: (ORDER.get(s.split(" W")[0], 6), s))
    palette = dict(zip(labels, sns.color_palette("tab20", len(labels))))
    for ax, k in zip(axes, shots):
        d = df[(df.shots == k) & df.avg_pct.notna()]
        sns.lineplot(d, x="params", y="avg_pct", hue="label", hue_order=labels, palette=palette, marker="o", ax=ax,
                     legend=False)  # fmt: skip
        ax.axhline(43.75, color="grey", ls=":", lw=1)
        ax.set(xscale="log", xlabel="parameters", ylabel="average accuracy (%)", title=f"{k}-shot")
    d = df[(df.shots == shots[0]) & df.ppl.notna() & (df.ppl < 1e12)]
    sns.lineplot(d, x="params", y="ppl", hue="label", hue_order=labels, palette=palette, marker="o", ax=axes[-1])
    axes[-1].set(xscale="log", yscale="log", xlabel="parameters", ylabel="token perplexity", title="perplexity")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"Figure 7 ({profile} profile): PTQ baselines vs. BitNet b1 across sizes")
    sizes = ", ".join(f"{s} ({int(p):,})" for s, p in df.groupby("size").params.first().sort_values().items())
    save_figure(fig, out, (
        f"Figure 7 ({profile} profile). Average zero- and few-shot accuracy over Winogrande, WSC273, HellaSwag "
        f"and StoryCloze against model size (parameters, log scale), one line per PTQ method and bit width, plus "
        f"the FP16 models they quantize and BitNet b1 trained at the same sizes; the dotted line is chance "
        f"(43.8%). The right panel gives token perplexity (average of WikiText-2 and C4; non-finite or >1e12 "
        f"omitted). Sizes: {sizes}. Data: {table.name}.\n"))  # fmt: skip
