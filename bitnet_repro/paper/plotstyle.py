"""The look the paper's figures share: one colour per variant, log axes with readable ticks, reference lines
labelled where they are drawn (chance, the count-model floor) and the standard error of a task average."""

from __future__ import annotations

import math
from collections.abc import Iterable

from bitnet_repro.eval.tasks import table3_columns

VARIANT_COLORS = {"fp16": "tab:blue", "bitnet_b1": "tab:orange", "bitnet_b158": "tab:green"}
REFERENCE_COLOR = "dimgrey"  # chance and the count models
TABLE3_SHORTS = [c["short"] for c in table3_columns()]  # WG, WGe, HS, SC
TABLE3_CHANCE = sum(c["chance"] for c in table3_columns()) / len(table3_columns())  # of the average: 0.4375


def count_label(n: float) -> str:
    """A count for a tick label: 107K, 1.3M, 6.7B."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def size_ticks(ax, sizes: dict[str, float], axis: str = "x") -> None:
    """Ticks of a log parameter axis at the model sizes, each labelled with its name and parameter count."""
    from matplotlib.ticker import NullLocator

    values = sorted(sizes.items(), key=lambda kv: kv[1])
    a = getattr(ax, f"{axis}axis")
    a.set_ticks([p for _, p in values], [f"{s}\n{count_label(p)}" for s, p in values])
    a.set_minor_locator(NullLocator())


def log_ticks(ax, axis: str = "y") -> None:
    """Labelled ticks on a log axis whose range spans a decade or two (perplexity 40..150 gets 40, 50, 60, 80, 100,
    150 rather than one power of ten): steps of 1, 2, 5 per decade, finer when the range is narrow."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = sorted(getattr(ax, f"get_{axis}lim")())
    subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) > 1.2 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    a = getattr(ax, f"{axis}axis")
    a.set_major_locator(LogLocator(base=10, subs=subs))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())


def reference_line(ax, y: float, label: str, ls: str = ":", where: str = "left") -> None:
    """A horizontal reference (chance, a count model) with its label written on it, at the left or right end."""
    ax.axhline(y, color=REFERENCE_COLOR, ls=ls, lw=1.1, zorder=1)
    x, ha = (0.01, "left") if where == "left" else (0.99, "right")
    ax.annotate(label, (x, y), xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points",
                ha=ha, va="bottom", fontsize=7.5, color=REFERENCE_COLOR, zorder=8,
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.5})  # fmt: skip


def mean_se(errors: Iterable[float | None]) -> float | None:
    """The standard error of the mean of tasks scored independently, from each task's: sqrt(sum se^2) / n;
    None when one is missing."""
    errors = list(errors)
    if not errors or any(e is None or not math.isfinite(e) for e in errors):
        return None
    return math.sqrt(sum(e * e for e in errors)) / len(errors)


def legend_panel(ax, handles: list, labels: list[str], title: str | None = None) -> None:
    """An axes given over to the legend, beside the panels, so that no legend sits on data."""
    ax.axis("off")
    ax.legend(handles, labels, loc="center left", fontsize=8, title=title, title_fontsize=8, frameon=False)
