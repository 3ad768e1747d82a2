"""PTQ subcommands: quantize and evaluate one FP16 model with one registered method; list the methods.

Implementation modules are imported inside each command, so that a command loads only what it needs."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_repro.cli import non_negative_int, positive_int
from bitnet_repro.profile import PTQSection, Suites


def cmd_ptq(args: argparse.Namespace) -> None:
    """Quantize an FP16 model with one PTQ setting, check it, evaluate it, write the results JSON."""
    import torch

    from bitnet_repro.eval.results import summary_rows
    from bitnet_repro.ptq.run import run_ptq

    if args.threads:
        torch.set_num_threads(args.threads)
    params = dict(args.param or [])
    tasks = [t for part in args.tasks for t in part.split(",") if t]
    results = run_ptq(args.model, args.method, Path(args.calib_data), tasks, num_fewshot=args.num_fewshot,
                      limit=args.limit, calib_samples=args.calib_samples, calib_seq_len=args.calib_seq_len,
                      params=params, batch_size=args.batch_size, batch_tokens=args.batch_tokens,
                      max_length=args.max_length, ppl_max_tokens=args.ppl_max_tokens, out=Path(args.out),
                      device=args.device, profile=args.profile)  # fmt: skip
    ptq = results["bitnet_repro"]["ptq"]
    print(f"{ptq['setting']['spec']}: {ptq['status']}, quantized in {ptq['seconds_quantize']} s")
    for row in summary_rows(results):
        print(f"{row['task']:40} {row['metric']:16} {row['value']:.4f}")


def cmd_baselines(args: argparse.Namespace) -> None:
    from bitnet_repro.ptq.baselines import discover

    for name, cls in discover().items():
        bits = f"W{list(cls.w_bits)} A{list(cls.a_bits)}"
        params = ", ".join(f"{k}={v}" for k, v in cls.defaults.items()) or "-"
        print(f"{name:12} {cls.title:12} {bits:28} Table 3: {', '.join(cls.table3) or '-'}   --param {params}   "
              f"[{cls.implementation}]")  # fmt: skip


def parameter(text: str) -> tuple[str, object]:
    """An argument type for --param: `name=value`, the value read as YAML (0.8, true, random-hadamard)."""
    import yaml

    name, sep, value = text.partition("=")
    if not (name and sep and value):
        raise argparse.ArgumentTypeError(f"expected name=value, e.g. alpha=0.8, not {text!r}")
    try:
        return name, yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not a number, a word or a list ({e})") from e


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("ptq", cmd_ptq, "post-training-quantize an FP16 model (a registered method) and evaluate it in memory")
    p.add_argument("--model", required=True, help="FP16 checkpoint directory or smollm2-135m")
    p.add_argument("--method", required=True, help="method:W<bits>A<bits>, e.g. gptq:W4A16 (see `baselines`)")
    p.add_argument("--param", nargs="*", type=parameter,
                   help="method parameters as name=value, e.g. alpha=0.8 (`baselines` lists them)")  # fmt: skip
    p.add_argument("--calib-data", required=True, help="token directory of the training corpus (train.bin)")
    p.add_argument("--calib-samples", type=positive_int, default=PTQSection.calib_samples,
                   help="calibration sequences drawn from train.bin")  # fmt: skip
    p.add_argument("--calib-seq-len", type=positive_int, default=PTQSection.calib_seq_len,
                   help="tokens per calibration sequence")  # fmt: skip
    p.add_argument("--tasks", required=True, nargs="+", help="task names or groups, as for `eval`")
    p.add_argument("--num-fewshot", type=non_negative_int, default=0, help="in-context examples per item")
    p.add_argument("--limit", type=positive_int, help="at most N examples per task")
    p.add_argument("--batch-size", type=positive_int, default=Suites.batch_size, help="rows per scoring batch")
    p.add_argument("--batch-tokens", type=positive_int,
                   help="token budget per scoring batch instead (rows = budget / length)")  # fmt: skip
    p.add_argument("--max-length", type=positive_int, help="context length to score with (default: the model's own)")
    p.add_argument("--ppl-max-tokens", type=positive_int, help="token_ppl: score at most this many tokens per text")
    p.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads; 0: torch's choice")
    p.add_argument("--device", default="cpu", help="where the quantized model is evaluated: cpu | cuda")
    p.add_argument("--profile", default="custom", help="profile name recorded in the results")
    p.add_argument("--out", required=True, help="results JSON (lm-eval's results, plus the PTQ run's)")
    add("baselines", cmd_baselines, "list the registered PTQ baselines and what they support")
