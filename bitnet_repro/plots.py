"""Figures from training runs: loss curves per size (the paper's Figure 9) and validation PPL against size
(Figure 4, left)."""

from __future__ import annotations

import json
from pathlib import Path

from .utils import atomic_write_text

STYLE = {"fp16": ("FP16 (LLaMA)", "-"), "bitnet_b1": ("BitNet b1", ":"), "bitnet_b158": ("BitNet b1.58", "--")}


def _smooth(values: list[float], k: int = 9) -> list[float]:
    out = []
    for i in range(len(values)):
        window = values[max(0, i - k + 1) : i + 1]
        out.append(sum(window) / len(window))
    return out


def _save(fig, out: Path) -> None:
    """The figure as out.png and out.pdf."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out.with_suffix(f".{ext}"), dpi=150)
    plt.close(fig)


def _widened(size: str) -> bool:
    """A widened preset (`cpu-xs-2x`): drawn as its own point, off its variant's size line."""
    from .report import fp16_reference

    return fp16_reference(size) != size


def _ngram_loss(ngram: dict | None, metric: str, protocol: str = "train") -> float | None:
    """The Kneser-Ney trigram's loss on the set of `metric` (val_<set>_loss), from ngram.json."""
    if not ngram or "kn3" not in ngram.get("models", {}):
        return None
    name = metric.removeprefix("val_").removesuffix("_loss")
    return ngram["models"]["kn3"].get(f"{name}_{protocol}", {}).get("loss")


def training_curves(run_dirs: list[Path], out: Path, profile: str, ngram: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
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
        ax_loss.plot(tokens, _smooth([r["loss"] for r in rows]), ls=ls, color=colors[summary["size"]],
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
    _save(fig, out)
    caption = (
        f"Training curves of the `{profile}` profile. Left: training loss against tokens for every size "
        "(colour) and variant (line style). Right: final validation loss on the held-out C4 documents against "
        "non-embedding parameters (log x), with the Kneser-Ney trigram fitted on the same training tokens as a "
        "dotted line (rule `ngram_baselines`) and BitNet b1.58 at twice the width of the smallest size as a "
        "star. Diverged runs are left out of the right panel. Produced by the `training_figure` "
        "rule from the runs' metrics.jsonl and summary.json.\n"
    )
    atomic_write_text(out.with_suffix(".md"), caption)


def eval_scaling(table_csv: Path, out: Path, profile: str) -> None:
    """Token perplexity (average of WikiText-2 and C4) and BLiMP accuracy against size, one line per variant,
    from the evaluation table."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(table_csv.open()))
    counts = {r["variant"]: r for r in rows if r["size"] == "count model"}
    fig, (ax_ppl, ax_blimp) = plt.subplots(1, 2, figsize=(11, 4.2))
    bpb = "bpb_c4" if any(r.get("bpb_c4") for r in rows) else None
    for variant, (label, ls) in STYLE.items():
        mine = sorted((int(r["params_nonembedding"]), r) for r in rows if r["variant"] == variant
                      and not _widened(r["size"]))  # fmt: skip
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
    _save(fig, out)
    atomic_write_text(out.with_suffix(".md"), (
        f"Evaluation of the `{profile}` profile's models through lm-evaluation-harness. Left: bits per byte on "
        "the held-out C4 documents (token level, non-overlapping windows of the context length) against "
        "non-embedding parameters, with the Kneser-Ney trigram on the same tokens dotted. Right: BLiMP accuracy "
        "(mean of the 67 paradigms, ± the harness's standard error; chance 50%; the trigram dash-dotted). "
        f"Produced by the `eval_figure` rule from results/{profile}/tables/eval.csv.\n"))  # fmt: skip
