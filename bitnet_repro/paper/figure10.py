"""Figure 10: the learning-rate and weight-decay schedule of a BitNet b1.58 run (the paper draws its 700M run:
peak LR 1.5e-3 held for the first half, dropped to 1e-3 at half and decayed; weight decay 0.1, then 0 from half;
Appendix C, Table 13), drawn from the values the optimizer used (each run's metrics.jsonl), against training
progress as a fraction of the run's steps. With a paper profile, the schedule its 700M b1.58 recipe gives is
computed with `lr_at` / `wd_at` and drawn dashed beside them: computed, not trained.

The figure is also an oracle: every logged step's LR and weight decay is recomputed from the run's config.json
with `lr_at` / `wd_at`, and a step that differs by more than `RTOL` (relative) raises `ScheduleMismatchError`;
the caption reports the largest deviation found."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from bitnet_repro.config import RunConfig, TrainConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.paper.writer import Table, figure_arguments, pyplot, save_figure

COMMAND, HELP = "figure10", "Figure 10: the LR and weight-decay schedule, drawn from a run's metrics"

RTOL = 1e-4  # relative tolerance of a logged LR / weight decay against the recipe's
FLOOR = 1e-8  # deviations are relative to max(|logged|, |recipe|, FLOOR): values near 0 compare absolutely
MAX_POINTS = 4000  # points drawn per line (every step is checked); the schedule's corners are always kept


class ScheduleMismatchError(ReproError, ValueError):
    """A run's logged LR or weight decay is not the one its config's schedule gives."""


def arguments(p: argparse.ArgumentParser) -> None:
    figure_arguments(p, "runs", "run directories (metrics.jsonl, config.json) whose schedule to draw", nargs="+")
    p.add_argument("--paper-profile", type=Path,
                   help="a profile YAML (workflows/profiles/paper.yaml): overlay the schedule its BitNet b1.58 700M "
                        "recipe gives, computed with lr_at/wd_at (not trained)")  # fmt: skip


@dataclass
class Schedule:
    """One line pair of the figure: LR and weight decay at each step, with the run config they come from."""

    name: str
    config: RunConfig
    steps: list[int]
    lr: list[float]
    wd: list[float]
    max_lr_dev: float | None = None  # the check's largest relative deviations (None: computed, not logged)
    max_wd_dev: float | None = None

    @property
    def train(self) -> TrainConfig:
        return self.config.train


def deviation(logged: float, recipe: float) -> float:
    """|logged - recipe| relative to the larger of the two (and FLOOR, so that two values near 0 agree)."""
    return abs(logged - recipe) / max(abs(logged), abs(recipe), FLOOR)


def read_run(run_dir: Path) -> Schedule:
    """A run's logged schedule, checked step by step against `lr_at` / `wd_at` of its config.json; raises
    ScheduleMismatchError naming the run and the first step that disagrees."""
    from bitnet_repro.train import lr_at, read_metrics, wd_at  # imports torch: only when a figure is drawn

    run_dir = Path(run_dir)
    for f in ("config.json", "metrics.jsonl"):
        if not (run_dir / f).exists():
            raise ReproError(f"{run_dir}: no {f}; give a run directory written by `train`")
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    t = cfg.train
    rows = sorted((r for _, r in read_metrics(run_dir / "metrics.jsonl") if "lr" in r and "step" in r),
                  key=lambda r: r["step"])  # fmt: skip
    if not rows:
        raise ReproError(f"{run_dir / 'metrics.jsonl'}: no step logs its lr; nothing to draw")
    max_lr = max_wd = 0.0
    bad = []
    for r in rows:
        step = r["step"]
        lr, wd = lr_at(step, t), wd_at(step, t)
        d_lr = deviation(r["lr"], lr)
        d_wd = deviation(r["weight_decay"], wd) if "weight_decay" in r else 0.0
        max_lr, max_wd = max(max_lr, d_lr), max(max_wd, d_wd)
        if d_lr > RTOL:
            bad.append(f"step {step}: logged lr={r['lr']:.6g}, recipe lr_at={lr:.6g} (relative deviation {d_lr:.2g})")
        if d_wd > RTOL:
            bad.append(f"step {step}: logged weight_decay={r['weight_decay']:.6g}, recipe wd_at={wd:.6g}")
    if bad:
        raise ScheduleMismatchError(
            f"run {run_dir.name}: the logged schedule is not the one its config.json gives ({t.schedule}, "
            f"relative tolerance {RTOL:g}) at {len(bad)} step(s); first: {bad[0]}. The run was trained with "
            "another schedule than its config records, or its metrics.jsonl was edited"
        )
    return Schedule(run_dir.name, cfg, [r["step"] for r in rows], [r["lr"] for r in rows],
                    [r.get("weight_decay", wd_at(r["step"], t)) for r in rows], max_lr, max_wd)  # fmt: skip


def paper_run(profile_path: str | Path) -> RunConfig:
    """The BitNet b1.58 700M run of a profile (Figure 10's run), found by its size and variant."""
    from bitnet_repro.profile import Profile

    runs = Profile.load(profile_path).runs
    found = [r for r in runs if r.variant == "bitnet_b158" and r.size.split("-")[-1] == "700M"]
    if len(found) != 1:
        b158 = [r.name for r in runs if r.variant == "bitnet_b158"]
        raise ReproError(f"{profile_path}: expected one BitNet b1.58 700M run, found {len(found)}; its b1.58 runs: "
                         f"{b158}")  # fmt: skip
    return found[0]


def recipe_schedule(cfg: RunConfig) -> Schedule:
    """The schedule a run config gives at every step, computed with `lr_at` / `wd_at`."""
    from bitnet_repro.train import lr_at, wd_at

    t = cfg.train
    steps = list(range(t.steps))
    return Schedule(cfg.name, cfg, steps, [lr_at(s, t) for s in steps], [wd_at(s, t) for s in steps])


def _thin(s: Schedule) -> list[int]:
    """Indices of the points to draw: at most about MAX_POINTS, always with both sides of the warmup's end, of
    the stage boundary and the last step (the schedule's corners)."""
    n = len(s.steps)
    if n <= MAX_POINTS:
        return list(range(n))
    corners = {s.train.warmup_steps - 1, s.train.warmup_steps, s.train.steps // 2 - 1, s.train.steps // 2}
    keep = set(range(0, n, -(-n // MAX_POINTS))) | {n - 1} | {i for i, st in enumerate(s.steps) if st in corners}
    return sorted(keep)


def _lr2(t: TrainConfig) -> str:
    return f"{t.lr_stage2:g}" if t.schedule == "two_stage" and t.lr_stage2 is not None else "-"


def _wd(t: TrainConfig) -> str:
    if t.schedule == "two_stage" and t.wd_stage2 is not None:
        return f"{t.weight_decay:g} -> {t.wd_stage2:g}"
    return f"{t.weight_decay:g}"


def _final_lr(t: TrainConfig) -> str:
    from bitnet_repro.train import lr_at

    return f"{lr_at(t.steps - 1, t):.3g}"


def run(runs: list[Path], profile: str, out: Path, paper_profile: Path | None = None) -> None:
    """Left: LR; right: weight decay; x: step / steps of each run. Solid: logged by the runs (checked against
    their recipe); dashed: the paper profile's 700M b1.58 recipe, computed."""
    drawn = [read_run(Path(d)) for d in runs]
    paper = recipe_schedule(paper_run(paper_profile)) if paper_profile else None
    plt = pyplot()
    fig, (ax_lr, ax_wd) = plt.subplots(1, 2, figsize=(12, 4.5))
    # the logged lines wide, so that both show where the paper recipe's dashes lie on them (weight decay)
    lines = [(s, f"{s.name}\n(logged; {s.train.steps:,} steps)", {"lw": 3.2, "alpha": 0.8, "color": f"C{i}"})
             for i, s in enumerate(drawn)]  # fmt: skip
    if paper:
        label = (f"paper profile's recipe\n{paper.name}\n(computed with lr_at / wd_at,\nnot trained; "
                 f"{paper.train.steps:,} steps)")  # fmt: skip
        lines.append((paper, label, {"lw": 1.4, "color": "black", "ls": "--"}))
    for s, label, style in lines:
        idx = _thin(s)
        x = [s.steps[i] / s.train.steps for i in idx]
        ax_lr.plot(x, [s.lr[i] for i in idx], label=label, **style)
        ax_wd.plot(x, [s.wd[i] for i in idx], label=label, **style)
    if any(s.train.schedule == "two_stage" for s, _, _ in lines):
        for ax in (ax_lr, ax_wd):
            ax.axvline(0.5, color="grey", ls=":", lw=1.2, label="stage boundary (half)")
    wd_top = max(max(s.wd) for s, _, _ in lines)
    ax_lr.set(xlabel="training progress (step / steps of the run)", ylabel="learning rate",
              title="Learning rate", xlim=(0, 1), ylim=(0, None))  # fmt: skip
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, -3))
    ax_wd.set(xlabel="training progress (step / steps of the run)", ylabel="weight decay (decayed weights)",
              title="Weight decay", xlim=(0, 1), ylim=(-0.05 * wd_top, 1.25 * wd_top if wd_top else 1))  # fmt: skip
    for ax in (ax_lr, ax_wd):
        ax.grid(alpha=0.3)
    ax_wd.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(0.515, 0.5), framealpha=0.95)  # the empty
    # second half above weight decay 0: right of the stage boundary, clear of every line
    fig.suptitle(f"Figure 10 ({profile} profile): LR and weight-decay schedule (cf. the paper's 700M BitNet b1.58)",
                 fontsize=10)  # fmt: skip
    save_figure(fig, out, caption(drawn, paper, profile))


def caption(drawn: list[Schedule], paper: Schedule | None, profile: str) -> str:
    table = Table(["run", "schedule", "steps", "warmup", "peak LR", "stage-2 LR", "final LR", "weight decay",
                   "max LR deviation", "max WD deviation"], "lllrrrrlrr")  # fmt: skip
    for s in drawn:
        t = s.train
        table.add(f"`{s.name}`", t.schedule, f"{t.steps:,}", t.warmup_steps, f"{t.lr:g}", _lr2(t), _final_lr(t),
                  _wd(t), f"{s.max_lr_dev:.2g}", f"{s.max_wd_dev:.2g}")  # fmt: skip
    if paper:
        t = paper.train
        table.add(f"paper recipe `{paper.name}` (computed)", t.schedule, f"{t.steps:,}", t.warmup_steps, f"{t.lr:g}",
                  _lr2(t), _final_lr(t), _wd(t), "-", "-")  # fmt: skip
    worst = max(max(s.max_lr_dev, s.max_wd_dev) for s in drawn)
    names = ", ".join(f"`{s.name}` ({s.train.steps:,} steps)" for s in drawn)
    text = (
        f"Figure 10 ({profile} profile; cf. the paper's Figure 10, Appendix C, Table 13). The learning rate (left) "
        f"and weight decay (right) that the optimizer used in {names}, from metrics.jsonl, against training "
        "progress as a fraction of each run's steps (step / steps), so runs of different lengths share the axis. "
        "The dotted vertical line is the stage boundary of the two-stage schedule (half of the steps: the LR "
        "drops to the stage-2 peak and decays by a cosine, the weight decay goes to its stage-2 value)."
    )
    if paper:
        text += (
            f" Dashed: the schedule of the paper profile's `{paper.name}` recipe ({paper.train.steps:,} steps, "
            f"warmup {paper.train.warmup_steps}), computed with `lr_at` / `wd_at`: not a trained run."
        )
    text += (
        f"\n\nCheck: every logged step's LR and weight decay was recomputed with `lr_at` / `wd_at` from the run's "
        f"config.json; the largest relative deviation is {worst:.2g} (tolerance {RTOL:g}), so the trained "
        "schedule is the recipe's. Produced by the `figure10` command.\n\n"
    )
    return text + "\n".join(table.bullets()) + "\n"
