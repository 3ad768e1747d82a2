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


def training_curves(run_dirs: list[Path], out: Path, profile: str) -> None:
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
    for variant, (label, ls) in STYLE.items():
        pts = sorted((s["params_nonembedding"], s["val_wikitext2_ppl"]) for s, _ in runs
                     if s["variant"] == variant and s["status"] == "completed")  # fmt: skip
        if pts:
            ax_ppl.plot(*zip(*pts), ls=ls, marker="o", label=label)
    ax_ppl.set(xscale="log", yscale="log", xlabel="non-embedding parameters", ylabel="WikiText-2 validation PPL",
               title="Final validation PPL against size (cf. Figure 4, left)")  # fmt: skip
    ax_ppl.legend()
    device = ", ".join(sorted({s["device"] for s, _ in runs}))
    fig.suptitle(f"profile '{profile}' ({device}); {runs[0][0]['tokens']:,} training tokens per model", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out.with_suffix(f".{ext}"), dpi=150)
    plt.close(fig)
    caption = (
        f"Training curves of the `{profile}` profile. Left: training loss against tokens for every size "
        "(colour) and variant (line style). Right: final WikiText-2 validation perplexity against non-embedding "
        "parameters, log-log. Diverged runs are left out of the right panel. Produced by the `training_figure` "
        "rule from the runs' metrics.jsonl and summary.json.\n"
    )
    atomic_write_text(out.with_suffix(".md"), caption)
