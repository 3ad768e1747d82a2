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
    from bitnet_repro.data import prepare
    from bitnet_repro.profile import profile_data

    if args.config:  # the data of one run (a BitDistill run tokenizes with its teacher's tokenizer)
        prepare(_run_config(args).data, Path(args.out))
    else:
        prepare(profile_data(load_profile(args.profile)), Path(args.out))


def cmd_train(args: argparse.Namespace) -> None:
    from bitnet_repro.train import train

    run = _run_config(args)
    overrides = {k: v for k, v in (("threads", args.threads), ("device", args.device)) if v is not None}
    if overrides:
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, **overrides))
    summary = train(run, Path(args.data), Path(args.out), progress=not args.no_progress)
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
    result = kill_and_resume(cfg, Path(args.data), Path(args.work), Path(args.out))
    print(json.dumps({k: v for k, v in result.items() if k != "meta"}, indent=2))
    if not result["final_weights_bitwise_equal"]:
        raise SystemExit("resumed run differs from the uninterrupted run")


def cmd_presets(args: argparse.Namespace) -> None:
    from bitnet_repro.presets import preset_model

    print(f"{'size':10} {'source':14} {'d_model':>7} {'layers':>6} {'heads':>5} {'d_ff':>6} {'non-emb params':>15}")
    for name, row in SIZES.items():
        m = preset_model(name, "fp16")
        print(
            f"{name:10} {row['source']:14} {m.d_model:7} {m.n_layers:6} {m.n_heads:5} {m.d_ff:6} "
            f"{m.n_params_nonembedding:15,}"
        )


def run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="resolved config.json of the run")
    p.add_argument("--profile", default="cpu", help="profile name or YAML path (with --run)")
    p.add_argument("--run", help="run name within the profile, e.g. cpu-m-bitnet_b158")


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("runs", cmd_runs, "list a profile's training runs (and optionally write their configs)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--write", help="directory to write <run_id>/config.json into")
    p = add("config", cmd_config, "write the resolved config.json of one run")
    run_args(p)
    p.add_argument("--out", required=True)
    p = add("data", cmd_data, "verify the data, train the tokenizer, write token arrays")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--config", help="a run's config.json: prepare that run's data instead of the profile's")
    p.add_argument("--out", required=True, help="output directory for tokenizer.model and *.bin")
    p = add("train", cmd_train, "train (or resume) one model")
    run_args(p)
    p.add_argument("--data", required=True, help="directory written by `data`")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--threads", type=int, help="CPU threads (overrides train.threads)")
    p.add_argument("--device", help="cpu | cuda (overrides train.device)")
    p.add_argument("--no-progress", action="store_true")
    p = add("check-resume", cmd_check_resume, "SIGKILL a training run mid-way, resume it, compare with a clean run")
    run_args(p)
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True, help="scratch directory for the two runs")
    p.add_argument("--steps", type=int, help="shorten the run to this many steps (checkpoints every quarter)")
    p.add_argument("--out", required=True, help="JSON file")
    add("presets", cmd_presets, "list the model presets (paper tables and CPU sizes)")
