"""Figure 7: average Table 3 accuracy (zero- and few-shot) and perplexity against model size, one line per PTQ
method and bit width, the FP16 models they quantize and BitNet b1, from Table 3's long CSV."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bitnet_repro.paper.plotstyle import (
    TABLE3_CHANCE,
    TABLE3_SHORTS,
    VARIANT_COLORS,
    legend_panel,
    log_ticks,
    mean_se,
    reference_line,
    size_ticks,
)
from bitnet_repro.paper.table3 import ORDER
from bitnet_repro.paper.writer import figure_arguments, pyplot, read_json, save_figure

# pandas is imported where used: heavy (seconds to import) and needed by few commands

COMMAND, HELP = ("figure7", "plot-ptq"), "Figure 7: Table 3 accuracy against model size, zero- and few-shot"

METHOD_COLORS = {"Transformer": VARIANT_COLORS["fp16"], "LLM.int8()": "tab:cyan", "Absmax": "tab:red",
                 "SmoothQuant": "tab:purple", "GPTQ": "tab:olive", "QuIP": "tab:brown",
                 "BitNet b1": VARIANT_COLORS["bitnet_b1"], "BitNet b1.58": VARIANT_COLORS["bitnet_b158"]}  # fmt: skip
OTHER_COLORS = ["tab:pink", "tab:gray", "black"]  # methods not named above, in order of appearance
BITS_STYLE = {16: ("o", "-"), 8: ("o", "-"), 4: ("s", "--"), 2: ("^", "-."), 1: ("D", ":")}  # weight bits
DODGE = 0.011  # decades between neighbouring series, so that error bars at one size do not cover each other


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "table", "long CSV written by ptq-table")
    p.add_argument("--ngram", type=read_json, help="ngram.json of the profile: the Kneser-Ney trigram as the floor")


def trigram_ppl(ngram: dict | None, rows) -> float | None:
    """The Kneser-Ney trigram's perplexity as the rows give theirs (mean of WikiText-2 and C4) on the windows the
    rows were scored on: the count model's scoring (the first tokens, or the whole texts) whose C4 bytes per token
    match the rows' (their C4 loss over their C4 bits per byte). None without it or when no scoring matches."""
    kn3 = (ngram or {}).get("models", {}).get("kn3")
    if not kn3 or "bpb_c4" not in rows or "ppl_c4" not in rows:
        return None
    scored = rows[rows.ppl_c4.notna() & rows.bpb_c4.notna()]
    if scored.empty:
        return None
    r = scored.iloc[0]
    per_token = math.log(r.ppl_c4) / (r.bpb_c4 * math.log(2))
    for protocol in ("train", "whole"):
        c4, wt2 = kn3.get(f"c4_{protocol}"), kn3.get(f"wikitext2_{protocol}")
        if c4 and wt2 and math.isclose(c4["bytes"] / c4["tokens"], per_token, rel_tol=1e-3):
            return (c4["ppl"] + wt2["ppl"]) / 2
    return None


def _styles(df) -> dict[str, dict]:
    """Each series' look: colour by method, marker and line by weight bits; the trained low-bit models (BitNet
    b1, the subject) bold and on top, the PTQ methods thin over the FP16 models they quantize (8-bit rows lie on
    FP16's line)."""
    firsts = df.drop_duplicates("label")
    others = iter(OTHER_COLORS * 3)
    colors = {m: METHOD_COLORS.get(m) or next(others) for m in dict.fromkeys(firsts.method)}
    styles = {}
    for r in firsts.itertuples():
        marker, ls = BITS_STYLE.get(int(r.wbits), ("o", "-"))
        s = {"color": colors[r.method], "marker": marker, "ls": ls, "lw": 1.3, "ms": 5, "zorder": 3}
        if r.ptq == "no" and r.wbits < 16:
            s.update(marker="*", ls="-", lw=3.0, ms=13, zorder=6)
        elif r.ptq == "no":
            s.update(lw=2.6, ms=6, zorder=2)
        styles[r.label] = s
    return styles


def run(table: Path, out: Path, profile: str, ngram: dict | None = None) -> None:
    """Average Table 3 accuracy against model size, zero- and few-shot panels with one standard error, one line
    per method and bit width plus FP16 and BitNet b1; a third panel gives perplexity, which carries the signal at
    CPU scale, above the Kneser-Ney trigram."""
    import pandas as pd
    from matplotlib.lines import Line2D

    plt = pyplot()
    df = pd.read_csv(table)
    df["label"] = [m if p == "no" else f"{m} W{w}A{a}" for m, p, w, a in zip(df.method, df.ptq, df.wbits, df.abits)]
    df["avg_pct"] = 100 * df["avg"]
    ses = [f"{s}_se" for s in TABLE3_SHORTS]
    df["se_pct"] = [100 * (mean_se(r) or math.nan) for r in df[ses].itertuples(index=False)] if set(ses) <= set(
        df.columns) else math.nan  # fmt: skip
    labels = sorted(df.label.unique(), key=lambda s: (ORDER.get(s.split(" W")[0], 6), s))
    labels = [lb for lb in labels if lb.startswith("Transformer")] + [lb for lb in labels if
              not lb.startswith("Transformer")]  # fmt: skip
    style = _styles(df)
    quantized = set(df.label[df.ptq == "yes"])
    sizes = df.groupby("size").params.min().to_dict()
    shots = sorted(df.shots.unique())
    fig = plt.figure(figsize=(5 * len(shots) + 7, 4.8))
    grid = fig.add_gridspec(1, len(shots) + 2, width_ratios=[1] * (len(shots) + 1) + [0.42])
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(shots) + 1)]
    for ax, k in zip(axes, shots):
        d = df[(df.shots == k) & df.avg_pct.notna()]
        for i, label in enumerate(labels):
            s = d[d.label == label].sort_values("params")
            shift = 10 ** (DODGE * (i - (len(labels) - 1) / 2))
            bars = ax.errorbar(s.params * shift, s.avg_pct, yerr=s.se_pct.where(s.se_pct.notna(), None), capsize=2,
                               elinewidth=0.8, **style[label])  # fmt: skip
            for artist in (*bars[1], *bars[2]):  # the PTQ rows' bars light, the trained models' full
                artist.set_alpha(0.4 if label in quantized else 0.9)
        reference_line(ax, 100 * TABLE3_CHANCE, f"chance ({100 * TABLE3_CHANCE:.1f}%)")
        ax.set(xscale="log", xlabel="non-embedding parameters", ylabel="average accuracy (%), ± 1 s.e.",
               title=f"{k}-shot: average of WG, WGe, HS, SC")  # fmt: skip
    ax = axes[-1]
    d = df[(df.shots == shots[0]) & df.ppl.notna() & (df.ppl < 1e12)]
    for label in labels:
        s = d[d.label == label].sort_values("params")
        ax.plot(s.params, s.ppl, **style[label])
    floor = trigram_ppl(ngram, d)
    if floor is not None:
        reference_line(ax, floor, f"Kneser-Ney trigram, same tokens ({floor:.1f})", ls="-.", where="right")
    ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters",
           ylabel="token perplexity (log; mean of WikiText-2, C4)", title="Perplexity (lower is better)")  # fmt: skip
    log_ticks(ax, "y")
    for ax in axes:
        size_ticks(ax, sizes)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], **{k: v for k, v in style[lb].items() if k != "zorder"}) for lb in labels]
    names = ["FP16 Transformer" if lb == "Transformer" else lb for lb in labels]
    legend_panel(fig.add_subplot(grid[0, -1]), handles, names, title="colour: method\nmarker: weight bits")
    device = f", {df.device.dropna().iloc[0]}" if "device" in df and df.device.notna().any() else ""
    fig.suptitle(f"Figure 7 ({profile} profile{device}): PTQ baselines vs. BitNet b1 across sizes")
    sizes_text = ", ".join(f"{s} ({int(p):,})" for s, p in sorted(sizes.items(), key=lambda kv: kv[1]))
    floor_text = (f" The dash-dotted line is the Kneser-Ney trigram fitted on the profile's training tokens and "
                  f"scored on the same tokens ({floor:.1f})." if floor is not None else "")  # fmt: skip
    save_figure(fig, out, (
        f"Figure 7 ({profile} profile). Average zero- and few-shot accuracy over Winogrande, WSC273, HellaSwag "
        f"and StoryCloze against model size (non-embedding parameters, log scale), one line per PTQ method "
        f"(colour) and bit width (marker and line style), plus the FP16 models they quantize and BitNet b1 trained "
        f"at the same sizes (bold stars). Error bars: one standard error of the average (the four tasks' standard "
        f"errors, combined as independent); the series are set slightly apart along x so that the bars stay "
        f"visible. The dotted line is chance ({100 * TABLE3_CHANCE:.2f}%). The right panel gives token perplexity "
        f"(average of WikiText-2 and C4; non-finite or >1e12 omitted).{floor_text} Sizes: {sizes_text}. "
        f"Data: {table.name}.\n"))  # fmt: skip
