"""Training curves: training loss against tokens per size and variant (the paper's Figure 9), and final
validation loss against non-embedding parameters with the Kneser-Ney trigram (Figure 4, left)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.paper.writer import (
    STYLE,
    figure_arguments,
    fp16_reference,
    pyplot,
    read_json,
    running_mean,
    save_figure,
)

COMMAND, HELP = "plot", "training and validation curves of a profile's runs (PNG and PDF)"
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
    plt = pyplot()
    run_dirs, runs = runs, []
    for d in run_dirs:
        summary = json.loads((d / "summary.json").read_text())
        rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        runs.append((summary, rows))
    sizes = sorted({s["size"] for s, _ in runs}, key=lambda n: min(s["params_nonembedding"] for s, _ in runs
                                                                   if s["size"] == n))  # fmt: skip
    colors = {size: plt.cm.viridis(i / max(1, len(sizes) - 1)) for i, size in enumerate(sizes)}
    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(12, 4.5))
    for summary, rows in runs:
        label, ls = STYLE.get(summary["variant"], (summary["variant"], "-"))
        tokens = [r["tokens"] for r in rows]
        ax_loss.plot(tokens, running_mean([r["loss"] for r in rows], SMOOTH), ls=ls, color=colors[summary["size"]],
                     label=f"{summary['size']} {label}")  # fmt: skip
    ax_loss.set(xlabel="training tokens", ylabel="training loss (moving average of 9 steps)",
                title="Training loss (cf. the paper's Figure 9)")  # fmt: skip
    ax_loss.legend(fontsize=7, ncol=2)
    metric = "val_c4_loss" if all("val_c4_loss" in s for s, _ in runs) else "val_wikitext2_loss"
    for variant, (label, ls) in STYLE.items():
        pts = sorted((s["params_nonembedding"], s[metric]) for s, _ in runs if s["variant"] == variant
                     and s["status"] == "completed" and not _widened(s["size"]))  # fmt: skip
        if pts:
            line = ax_ppl.plot(*zip(*pts), ls=ls, marker="o", label=label)[0]
            wide = [(s["params_nonembedding"], s[metric]) for s, _ in runs if s["variant"] == variant
                    and s["status"] == "completed" and _widened(s["size"])]  # fmt: skip
            for x, y in wide:
                ax_ppl.plot([x], [y], marker="*", ms=12, ls="", color=line.get_color(), label=f"{label}, 2x width")
    floor = _ngram_loss(ngram, metric)
    if floor is not None:
        ax_ppl.axhline(floor, color="grey", ls=":", lw=1, label="Kneser-Ney trigram (same tokens)")
    ax_ppl.set(xscale="log", xlabel="non-embedding parameters",
               ylabel=f"{'C4 held-out' if 'c4' in metric else 'WikiText-2'} validation loss (nats/token)",
               title="Final validation loss against size (cf. Figure 4, left)")  # fmt: skip
    ax_ppl.legend(fontsize=8)
    device = ", ".join(sorted({s["device"] for s, _ in runs}))
    fig.suptitle(f"profile '{profile}' ({device}); {runs[0][0]['tokens']:,} training tokens per model", fontsize=10)
    caption = (
        f"Training curves of the `{profile}` profile. Left: training loss against tokens for every size "
        "(colour) and variant (line style). Right: final validation loss on the held-out C4 documents against "
        "non-embedding parameters (log x), with the Kneser-Ney trigram fitted on the same training tokens as a "
        "dotted line (rule `ngram_baselines`) and BitNet b1.58 at twice the width of the smallest size as a "
        "star. Diverged runs are left out of the right panel. Produced by the `training_figure` "
        "rule from the runs' metrics.jsonl and summary.json.\n"
    )
    save_figure(fig, out, caption)
