"""The evaluation figure: bits per byte and BLiMP accuracy against non-embedding parameters, one line per
variant, the Kneser-Ney trigram as a reference, from the evaluation table."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_repro.paper.writer import STYLE, figure_arguments, fp16_reference, pyplot, read_csv, save_figure

COMMAND, HELP = "plot-eval", "perplexity and BLiMP against size, from the evaluation table"


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "table", "results/<profile>/tables/eval.csv")


def run(table: Path, out: Path, profile: str) -> None:
    """Token perplexity (average of WikiText-2 and C4) and BLiMP accuracy against size, one line per variant,
    from the evaluation table."""
    plt = pyplot()
    rows = read_csv(table)
    counts = {r["variant"]: r for r in rows if r["size"] == "count model"}
    fig, (ax_ppl, ax_blimp) = plt.subplots(1, 2, figsize=(11, 4.2))
    bpb = "bpb_c4" if any(r.get("bpb_c4") for r in rows) else None
    for variant, (label, ls) in STYLE.items():
        mine = sorted((int(r["params_nonembedding"]), r) for r in rows if r["variant"] == variant
                      and fp16_reference(r["size"]) == r["size"])  # fmt: skip
        if not mine:
            continue
        x = [p for p, _ in mine]
        if bpb and all(r.get(bpb) for _, r in mine):
            ax_ppl.plot(x, [float(r[bpb]) for _, r in mine], ls=ls, marker="o", label=label)
        elif all(r.get("ppl_avg") for _, r in mine):
            ax_ppl.plot(x, [float(r["ppl_avg"]) for _, r in mine], ls=ls, marker="o", label=label)
        if all(r.get("blimp") for _, r in mine):
            y = [100 * float(r["blimp"]) for _, r in mine]
            err = [100 * float(r["blimp_se"]) for _, r in mine]
            ax_blimp.errorbar(x, y, yerr=err, ls=ls, marker="o", capsize=3, label=label)
    tri = counts.get("KN trigram")
    if tri and bpb and tri.get(bpb):
        ax_ppl.axhline(float(tri[bpb]), color="grey", ls=":", lw=1, label="Kneser-Ney trigram")
    if tri and tri.get("blimp"):
        ax_blimp.axhline(100 * float(tri["blimp"]), color="grey", ls="-.", lw=0.8, label="Kneser-Ney trigram")
    ax_ppl.set(xscale="log", xlabel="non-embedding parameters",
               ylabel="bits per byte, C4 held-out" if bpb else "token PPL, mean of WikiText-2 and C4",
               title="Validation loss against size")  # fmt: skip
    ax_blimp.axhline(50, color="grey", lw=0.8, ls=":", label="chance")
    ax_blimp.set(xscale="log", xlabel="non-embedding parameters", ylabel="BLiMP accuracy (%)",
                 title="BLiMP (67 paradigms) against size")  # fmt: skip
    for ax in (ax_ppl, ax_blimp):
        ax.legend(fontsize=8)
    device = rows[0]["device"] if rows else "-"
    fig.suptitle(f"profile '{profile}' ({device})", fontsize=10)
    save_figure(fig, out, (
        f"Evaluation of the `{profile}` profile's models through lm-evaluation-harness. Left: bits per byte on "
        "the held-out C4 documents (token level, non-overlapping windows of the context length) against "
        "non-embedding parameters, with the Kneser-Ney trigram on the same tokens dotted. Right: BLiMP accuracy "
        "(mean of the 67 paradigms, ± the harness's standard error; chance 50%; the trigram dash-dotted). "
        f"Produced by the `eval_figure` rule from results/{profile}/tables/eval.csv.\n"))  # fmt: skip
