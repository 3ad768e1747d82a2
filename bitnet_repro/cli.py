"""The core subcommands: list and resolve a profile's runs, prepare the data, train, check resuming, list presets.

Implementation modules are imported inside each command, so that a command loads only what it needs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from bitnet_repro.config import ConfigError, RunConfig
from bitnet_repro.presets import SIZES
from bitnet_repro.profile import Profile, load_profile, runs_from_profile
from bitnet_repro.utils import atomic_write_text


def _run_config(args: argparse.Namespace) -> RunConfig:
    if args.config:
        try:
            return RunConfig.from_dict(json.loads(Path(args.config).read_text()))
        except FileNotFoundError as e:
            raise ConfigError(f"config file {args.config} not found") from e
    resolved = Profile.load(args.profile)
    runs = {r.name: r for r in resolved.runs + resolved.pilots}
    if args.run not in runs:
        raise ConfigError(f"profile {args.profile!r} has no run {args.run!r}; runs: {sorted(runs)}")
    return runs[args.run]


def data_dir(path: str) -> Path:
    """A token directory given with --data, refused early (before any model is built) when it is not there."""
    from bitnet_repro.data import DataError

    if not Path(path).is_dir():
        raise DataError(f"--data {path} is not a directory; write it with `python -m bitnet_repro data --out {path}` "
                        "(or the Snakemake target) first")  # fmt: skip
    return Path(path)


def cmd_runs(args: argparse.Namespace) -> None:
    """List a profile's runs and their ids; with --write, write each resolved config.json."""
    for run in runs_from_profile(load_profile(args.profile)):
        print(f"{run.run_id}\t{run.size}\t{run.variant}\t{run.train.total_tokens} tokens")
        if args.write:
            path = Path(args.write) / run.run_id / "config.json"
            atomic_write_text(path, json.dumps(run.to_dict(), indent=2))


def cmd_config(args: argparse.Namespace) -> None:
    """Write the resolved config of one run of a profile."""
    run = _run_config(args)
    atomic_write_text(Path(args.out), json.dumps(run.to_dict(), indent=2))


def cmd_data(args: argparse.Namespace) -> None:
    from bitnet_repro.data import plan_text, prepare, profile_plan

    if args.config:  # the data of one run (a BitDistill run tokenizes with its teacher's tokenizer)
        if not args.out:
            raise ConfigError("data: give --out DIR (where the tokenizer and the token arrays go)")
        prepare(_run_config(args).data, Path(args.out), workers=args.workers or default_workers(None))
        return
    profile = Profile.load(args.profile)
    workers = args.workers or default_workers(profile)
    if args.plan:
        plan = profile_plan(profile, workers, Path(args.out) if args.out else None)
        print(plan_text(plan, f"data of profile {profile.name}"))
        print(json.dumps(plan, indent=2))
    elif not args.out:
        raise ConfigError("data: give --out DIR (where the tokenizer and the token arrays go), or --plan")
    else:
        prepare(profile.data, Path(args.out), workers=workers)


def default_workers(profile: Profile | None) -> int:
    """Tokenizing processes of sharded data: the CPUs this process may use (a cluster job's allocation), at most
    the profile's `data_workers`."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cpus, profile.data_workers) if profile and profile.data_workers else cpus


def cmd_train(args: argparse.Namespace) -> None:
    from bitnet_repro.train import train

    run = _run_config(args)
    overrides = {k: v for k, v in (("threads", args.threads), ("device", args.device)) if v is not None}
    if overrides:
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, **overrides))
    summary = train(run, data_dir(args.data), Path(args.out), progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary, indent=2))


def cmd_check_resume(args: argparse.Namespace) -> None:
    from bitnet_repro.checks import kill_and_resume

    cfg = _run_config(args)
    if args.steps:  # the same run, shortened: the check is about resuming, not about the model
        t = cfg.train
        short = dataclasses.replace(t, steps=args.steps, warmup_steps=min(t.warmup_steps, args.steps // 4),
                                    ckpt_every=max(1, args.steps // 4), eval_every=max(1, args.steps // 2))  # fmt: skip
        cfg = dataclasses.replace(cfg, train=short)
    result = kill_and_resume(cfg, data_dir(args.data), Path(args.work), Path(args.out), procs=args.procs)
    print(json.dumps({k: v for k, v in result.items() if k != "meta"}, indent=2))
    if not result["final_weights_bitwise_equal"]:
        raise SystemExit("resumed run differs from the uninterrupted run")
    if not result["resumed_run_read_the_same_windows"]:
        raise SystemExit(f"the resumed run read other data than the uninterrupted run ({result['stream_error']})")
    if not result["data"]["ranks_disjoint_every_step"]:
        raise SystemExit("the ranks read overlapping windows, or not the whole global batch")


def cmd_presets(args: argparse.Namespace) -> None:
    """Every named shape. `non-emb params` counts every parameter but the embeddings and head, norms included, as
    the results tables do; `linear N` is Kaplan et al.'s N, the blocks' linear weights only."""
    import torch

    from bitnet_repro.model import Transformer
    from bitnet_repro.presets import preset_model

    print(f"{'size':10} {'source':14} {'d_model':>7} {'layers':>6} {'heads':>5} {'d_ff':>6} {'non-emb params':>15} "
          f"{'linear N':>15}")  # fmt: skip
    for name, row in SIZES.items():
        m = preset_model(name, "fp16")
        with torch.device("meta"):  # shapes only: no memory, even at 30B
            non_emb = Transformer(m).count_params(non_embedding=True)
        print(f"{name:10} {row['source']:14} {m.d_model:7} {m.n_layers:6} {m.n_heads:5} {m.d_ff:6} {non_emb:15,} "
              f"{m.n_params_nonembedding:15,}")  # fmt: skip


def whole_number(text: str, minimum: int) -> int:
    """`text` as a whole number >= `minimum`, or an argparse error that says so."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argument type: a whole number >= 1."""
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argument type: a whole number >= 0."""
    return whole_number(text, 0)


def example_limit(text: str) -> int | float:
    """An argument type for --limit: at most N examples per task (N >= 1), or a fraction of each task (0 < f < 1)."""
    try:
        value = float(text) if "." in text else int(text)
    except ValueError:
        value = 0
    if value <= 0 or (isinstance(value, float) and value >= 1):
        raise argparse.ArgumentTypeError(f"expected a count of examples >= 1 or a fraction in (0, 1), not {text!r}")
    return value


def run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="resolved config.json of the run")
    p.add_argument("--profile", default="cpu", help="profile name or YAML path (with --run)")
    p.add_argument("--run", help="run name within the profile, e.g. cpu-m-bitnet_b158")


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("runs", cmd_runs, "list a profile's training runs (and optionally write their configs)")
    p.add_argument("--profile", default="cpu", help="profile name or YAML path")
    p.add_argument("--write", help="directory to write <run_id>/config.json into")
    p = add("config", cmd_config, "write the resolved config.json of one run")
    run_args(p)
    p.add_argument("--out", required=True, help="config.json to write")
    p = add("data", cmd_data, "verify the data, train the tokenizer, write token arrays")
    p.add_argument("--profile", default="cpu", help="profile name or YAML path whose data to prepare")
    p.add_argument("--config", help="a run's config.json: prepare that run's data instead of the profile's")
    p.add_argument("--out", help="output directory for tokenizer.model, *.bin and (data.format=shards) train/")
    p.add_argument("--workers", type=positive_int,
                   help="processes that tokenize the parts of sharded data (data.format=shards) in parallel "
                        "(default: the CPUs this process may use, at most the profile's data_workers)")
    p.add_argument("--plan", action="store_true",
                   help="print the data step's plan (tokens, disk, tokenizing time, epochs per run) and exit")
    p = add("train", cmd_train, "train (or resume) one model")
    run_args(p)
    p.add_argument("--data", required=True, help="directory written by `data`")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--threads", type=int, help="CPU threads (overrides train.threads)")
    p.add_argument("--device", help="cpu | cuda (overrides train.device)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    p = add("check-resume", cmd_check_resume, "SIGKILL a training run mid-way, resume it, compare with a clean run")
    run_args(p)
    p.add_argument("--data", required=True, help="directory written by `data`")
    p.add_argument("--work", required=True, help="scratch directory for the two runs")
    p.add_argument("--steps", type=positive_int, help="shorten the run to this many steps (checkpoints every quarter)")
    p.add_argument("--procs", type=positive_int, default=1, help="train with this many gloo processes (torchrun)")
    p.add_argument("--out", required=True, help="JSON file")
    add("presets", cmd_presets, "list the model presets (paper tables and CPU sizes)")
