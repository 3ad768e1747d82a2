"""Figure 6: the stability test. FP16 and BitNet b1 at one size over a ladder of peak learning rates (the profile's
`stability` section): left, the training loss of both at the LR where FP16 first diverges (the paper's "same
learning rate"); middle, BitNet b1's validation perplexity over training at each LR; right, the final validation
loss against the peak LR, a diverged run (no final loss) marked in a band above the loss axis. A diverged run is a
result here, read from its summary (`status`, `diverged_at_step`), never a failed job.

Writes out.png / out.pdf, the numbers as out.csv, and a caption out.md with the table and the claim lines."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from bitnet_repro.config import VARIANT_LABELS
from bitnet_repro.paper.plotstyle import VARIANT_COLORS, log_ticks, reference_line
from bitnet_repro.paper.writer import (
    Table,
    figure_arguments,
    fmt,
    ngram_rows,
    pyplot,
    read_json,
    running_mean,
    save_figure,
    write_csv,
)
from bitnet_repro.train import read_metrics

COMMAND, HELP = "figure6", "Figure 6: the stability test, FP16 and BitNet b1 over a ladder of peak LRs"

SMOOTH = 25  # steps in the running mean of the training-loss curves
FAILED_NATS = 0.5  # without count models: a completed run this far (nats) above its arm's best has not converged
COLUMNS = ["size", "arm", "variant", "recipe", "lr", "status", "diverged_at_step", "steps", "val_c4_loss", "val_c4_ppl",
           "best_val_c4_loss", "min_train_loss", "outcome", "count_level", "run_id"]  # fmt: skip


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "runs", "run directories of the stability test (summary.json, config.json, metrics.jsonl)",
                     nargs="+")  # fmt: skip
    p.add_argument("--ngram", type=read_json, help="ngram.json of the profile: which count model each run beats")


def _load(run: Path) -> dict[str, Any]:
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())
    lines = [m for _, m in read_metrics(run / "metrics.jsonl")]
    train = [(m["step"], m["loss"]) for m in lines if "split" not in m]
    val = [(m["step"], m["val_c4_loss"]) for m in lines if m.get("split") == "val" and "val_c4_loss" in m]
    t = config["train"]
    variant = config["model"]["linear"]
    recipe = {"polynomial": "bitnet_b1", "two_stage": "bitnet_b158"}.get(t["schedule"], "fp16")
    diverged = summary["status"] == "diverged"
    arm = VARIANT_LABELS[variant] + ("" if recipe == variant else f" on {VARIANT_LABELS[recipe]}'s recipe")
    return {"size": config["size"], "arm": arm, "variant": variant, "recipe": recipe, "lr": t["lr"],
            "status": summary["status"],
            "diverged_at_step": summary.get("diverged_at_step"), "steps": t["steps"],
            "val_c4_loss": None if diverged else summary.get("val_c4_loss"),
            "val_c4_ppl": None if diverged else summary.get("val_c4_ppl"),
            "best_val_c4_loss": min((v for _, v in val if math.isfinite(v)), default=None),
            "min_train_loss": min((v for _, v in train if math.isfinite(v)), default=None),
            "run_id": summary["run_id"], "train": train, "val": val,
            "device": summary.get("device", "cpu")}  # fmt: skip


def _smooth(points: list[tuple[int, float]], k: int = SMOOTH) -> tuple[list[int], list[float]]:
    """A running mean over `k` steps; non-finite losses (a divergence) end the curve."""
    end = next((i for i, (_, v) in enumerate(points) if not math.isfinite(v)), len(points))
    return [s for s, _ in points[:end]], running_mean([v for _, v in points[:end]], k)


def outcomes(rows: list[dict[str, Any]], unigram: float | None = None) -> None:
    """Each run's `outcome`: `diverged` (the training criterion), `not converged` (completed, but it ends closer to
    the Kneser-Ney unigram than to its arm's best run: it kept less than half of what training at a good LR learns
    beyond unigram counts; without the count models, more than FAILED_NATS above that best), or `converged`."""
    for r in rows:
        best = min((x["val_c4_loss"] for x in rows if x["arm"] == r["arm"] and x["val_c4_loss"] is not None),
                   default=None)  # fmt: skip
        if r["status"] == "diverged" or r["val_c4_loss"] is None:
            r["outcome"] = "diverged" if r["status"] == "diverged" else r["status"]
            continue
        limit = (best + unigram) / 2 if unigram is not None and unigram > best else best + FAILED_NATS
        r["outcome"] = "not converged" if r["val_c4_loss"] > limit else "converged"


def verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The stability claim on these runs (after `outcomes`): the LR at which FP16 first diverges and first fails to
    converge, the largest LR at which b1 converges, whether b1 converges at an LR where FP16 diverges (`holds`;
    None when no FP16 run diverged) and where FP16 does not converge (`holds_converge`)."""
    fp = [r for r in rows if r["variant"] == "fp16"]
    b1 = [r for r in rows if r["variant"] == "bitnet_b1"]
    b1_ok = {r["lr"] for r in b1 if r["outcome"] == "converged"}
    fp_div = sorted(r["lr"] for r in fp if r["status"] == "diverged")
    fp_bad = sorted(r["lr"] for r in fp if r["outcome"] != "converged")
    best = {v: min((r for r in rs if r["val_c4_loss"] is not None), key=lambda r: r["val_c4_loss"], default=None)
            for v, rs in (("fp16", fp), ("bitnet_b1", b1))}  # fmt: skip
    return {"fp16_first_diverged_lr": fp_div[0] if fp_div else None,
            "fp16_first_not_converged_lr": fp_bad[0] if fp_bad else None,
            "b1_largest_converged_lr": max(b1_ok, default=None),
            "holds": bool(set(fp_div) & b1_ok) if fp_div and b1 else None,
            "holds_converge": bool(set(fp_bad) & b1_ok) if fp_bad and b1 else None,
            "both_converge": sorted({r["lr"] for r in fp if r["outcome"] == "converged"} & b1_ok),
            "fp16_best_lr": best["fp16"]["lr"] if best["fp16"] else None,
            "b1_best_lr": best["bitnet_b1"]["lr"] if best["bitnet_b1"] else None}  # fmt: skip


def count_level(row: dict[str, Any], counts: list[dict]) -> str:
    """The highest-order Kneser-Ney model whose C4 loss the run's final loss is below ('KN-1' ... 'KN-3'), 'none'
    (not even the unigram: a run that learned nothing counts do not), '-' for a diverged run or no count models."""
    if row["val_c4_loss"] is None or not counts:
        return "-"
    beaten = [c["order"] for c in counts if c.get("val_c4_loss") is not None and row["val_c4_loss"] < c["val_c4_loss"]]
    return f"below KN-{max(beaten)}" if beaten else "above KN-1"


def run(runs: list[Path], profile: str, out: Path, ngram: dict | None = None) -> list[dict[str, Any]]:
    rows = sorted((_load(r) for r in runs), key=lambda r: (r["variant"] != "fp16", r["lr"]))
    counts = ngram_rows(ngram)
    for r in rows:
        r["count_level"] = count_level(r, counts)
    unigram = next((c.get("val_c4_loss") for c in counts if c["order"] == 1), None)
    outcomes(rows, unigram)
    v = verdict(rows)
    same_lr = v["fp16_first_not_converged_lr"] or max(r["lr"] for r in rows)
    plt = pyplot()
    fig, (ax_same, ax_b1, ax_lr) = plt.subplots(1, 3, figsize=(15, 4.6))
    colors = {v: VARIANT_COLORS[v] for v in ("fp16", "bitnet_b1")}
    for r in (r for r in rows if r["lr"] == same_lr):
        xs, ys = _smooth(r["train"])
        ax_same.plot(xs, ys, color=colors[r["variant"]], label=f"{r['arm']} ({r['outcome']})")
        if r["status"] == "diverged" and xs:
            ax_same.plot(xs[-1], ys[-1], "x", color=colors[r["variant"]], ms=10, mew=2)
    ax_same.set(title=f"Same peak LR ({same_lr:g})", xlabel="step", ylabel=f"training loss (mean of {SMOOTH} steps)")
    ax_same.legend(fontsize=8)
    _b1_curves(ax_b1, [r for r in rows if r["variant"] == "bitnet_b1"], plt.get_cmap("viridis"))
    _final_losses(ax_lr, rows, counts, colors)
    fig.suptitle(f"Figure 6 ({profile} profile): stability test at {_size(rows)}")
    table = Table(["model", "peak LR", "outcome", "diverged at step", "final C4 loss", "final C4 PPL",
                   "against the count models"], "lrlrrrl")  # fmt: skip
    for r in rows:
        table.add(r["arm"], f"{r['lr']:g}", r["outcome"], fmt(r["diverged_at_step"], "d"),
                  fmt(r["val_c4_loss"], ".3f"), fmt(r["val_c4_ppl"], ".1f"), r["count_level"])  # fmt: skip
    yes = {True: "yes", False: "NO"}
    caption = "\n".join([
        f"Figure 6 ({profile} profile; cf. the paper's Figure 6, Sec. 3.1.4). FP16 and BitNet b1 at {_size(rows)} "
        f"trained over {len({r['lr'] for r in rows})} peak learning rates ({min(r['lr'] for r in rows):g} to "
        f"{max(r['lr'] for r in rows):g}), each with its recipe, on device {rows[0]['device']}. A run diverges when "
        "its cross-entropy is not finite or exceeds its running minimum by the recipe's `diverge_factor`; it stops "
        "there and is marked x. A completed run has not converged when it ends closer to the Kneser-Ney unigram "
        f"({fmt(unigram, '.3f')} nats on C4) than to its arm's best run"
        + ("" if unigram is not None else f" (no count models given: more than {FAILED_NATS} nats above that best)")
        + ". Left: training loss of both at the LR where FP16 first fails to converge (else "
        "the largest). "
        "Middle: BitNet b1's validation perplexity over training at each LR. Right: final validation loss against "
        "the peak LR, with the Kneser-Ney unigram and trigram on C4 dotted; a diverged run has no final loss and is "
        "marked x in the band above the loss axis, at its peak LR, with the step where it stopped.",
        "", *table.bullets(), "", "Claims:", "",
        f"- FP16 first diverges at LR {fmt(v['fp16_first_diverged_lr'], 'g')} and first fails to converge at LR "
        f"{fmt(v['fp16_first_not_converged_lr'], 'g')}; the largest LR at which BitNet b1 converges is "
        f"{fmt(v['b1_largest_converged_lr'], 'g')}.",
        "- BitNet b1 converges at a learning rate where FP16 diverges (the training criterion): "
        + yes.get(v["holds"], "not tested (no FP16 run diverged)") + ".",
        "- BitNet b1 converges at a learning rate where FP16 does not (diverged, or ended closer to the unigram "
        "than to its best run): " + yes.get(v["holds_converge"], "not tested") + ".",
        f"- Best peak LR by final validation loss: FP16 {fmt(v['fp16_best_lr'], 'g')}, BitNet b1 "
        f"{fmt(v['b1_best_lr'], 'g')} (the paper: the stability lets BitNet b1 use a larger LR, with a lower PPL).",
        "", "Rule `figure6_plot`, from the runs' summary.json, config.json and metrics.jsonl; the numbers are in "
        f"`{out.with_suffix('.csv').name}`.", ""])  # fmt: skip
    save_figure(fig, out, caption)
    write_csv(out.with_suffix(".csv"), rows, COLUMNS)
    return rows


def _b1_curves(ax, b1: list[dict[str, Any]], cmap) -> None:
    """The middle panel: BitNet b1's validation perplexity over training at each peak LR; a diverged run's curve
    ends in an x, and one that stopped before its first evaluation is named under the curves."""
    unseen = []
    for i, r in enumerate(b1):
        points = [(s, math.exp(x)) for s, x in r["val"] if math.isfinite(x)]
        color = cmap(i / max(len(b1) - 1, 1))
        if not points:
            unseen.append(f"LR {r['lr']:g}: diverged at step {r['diverged_at_step']}, before its first evaluation")
            continue
        mark = f" (diverged at step {r['diverged_at_step']})" if r["status"] == "diverged" else ""
        ax.plot(*zip(*points), "o-", ms=3, color=color, label=f"LR {r['lr']:g}{mark}")
        if r["status"] == "diverged":
            ax.plot(*points[-1], "x", color=color, ms=10, mew=2)
    ax.set(title="BitNet b1 at each peak LR", xlabel="step", ylabel="validation PPL (C4 held-out)", yscale="log")
    if any(r["val"] for r in b1):
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * (hi / lo) ** 0.6)  # room above the curves for the legend
        log_ticks(ax, "y")
        ax.legend(fontsize=7.5, ncol=2, loc="upper right")
    if unseen:
        ax.text(0.02, 0.02, "\n".join(unseen), transform=ax.transAxes, fontsize=7, va="bottom")


def _final_losses(ax, rows: list[dict[str, Any]], counts: list[dict], colors: dict[str, str]) -> None:
    """The right panel: the final validation loss of each completed run against its peak LR, the Kneser-Ney
    unigram and trigram as references, and above the axis, off the loss scale, a band marking the diverged runs
    (which have no final loss) at their peak LR, with the step where they stopped."""
    band = ax.inset_axes([0, 1.03, 1, 0.16], sharex=ax)
    arms = [v for v in ("fp16", "bitnet_b1") if any(r["variant"] == v for r in rows)]
    for level, variant in enumerate(reversed(arms)):
        rs = [r for r in rows if r["variant"] == variant]
        ok = [r for r in rs if r["val_c4_loss"] is not None]
        ax.plot([r["lr"] for r in ok], [r["val_c4_loss"] for r in ok], "o-", color=colors[variant],
                label=VARIANT_LABELS[variant])  # fmt: skip
        for r in (r for r in rs if r["status"] == "diverged"):
            band.plot(r["lr"], level, "x", color=colors[variant], ms=9, mew=2)
            band.annotate(f"step {r['diverged_at_step']}", (r["lr"], level), xytext=(-7, 0), ha="right",
                          va="center", textcoords="offset points", fontsize=7, color=colors[variant])  # fmt: skip
    diverged = any(r["status"] == "diverged" for r in rows)
    band.text(0.01, 0.5, "diverged (no final loss)" if diverged else "no run diverged", transform=band.transAxes,
              ha="left", va="center", fontsize=8)  # fmt: skip
    band.set_ylim(-0.7, len(arms) - 0.3)
    band.set_yticks([])
    band.tick_params(axis="x", which="both", labelbottom=False)
    band.set_title("Final validation loss against peak LR")
    for c in counts:
        if c["order"] in (1, 3) and c.get("val_c4_loss") is not None:
            reference_line(ax, c["val_c4_loss"], f"{c['variant']} ({c['val_c4_loss']:.2f})", where="right")
    ax.set(xlabel="peak LR", ylabel="C4 held-out loss (nats)", xscale="log")
    ax.legend(fontsize=8, loc="upper left")


def _size(rows: list[dict[str, Any]]) -> str:
    return ", ".join(dict.fromkeys(r["size"] for r in rows))
