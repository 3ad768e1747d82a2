"""PTQ subcommands: quantize and evaluate one FP16 model with one registered method; list the methods.

Implementation modules are imported inside each command, so that a command loads only what it needs."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_repro.profile import PTQSection, Suites


def cmd_ptq(args: argparse.Namespace) -> None:
    """Quantize an FP16 model with one PTQ setting, check it, evaluate it, write the results JSON."""
    import torch

    from bitnet_repro.eval.results import summary_rows
    from bitnet_repro.ptq.run import run_ptq

    if args.threads:
        torch.set_num_threads(args.threads)
    params = {}
    for kv in args.param or []:
        k, _, v = kv.partition("=")
        params[k] = __import__("yaml").safe_load(v)
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
        print(f"{name:12} {cls.title:12} {bits:28} Table 3: {', '.join(cls.table3) or '-'}   [{cls.implementation}]")


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("ptq", cmd_ptq, "post-training-quantize an FP16 model (a registered method) and evaluate it in memory")
    p.add_argument("--model", required=True, help="FP16 checkpoint directory or smollm2-135m")
    p.add_argument("--method", required=True, help="method:W<bits>A<bits>, e.g. gptq:W4A16 (see `baselines`)")
    p.add_argument("--param", nargs="*", help="method parameters, e.g. alpha=0.8")
    p.add_argument("--calib-data", required=True, help="token directory of the training corpus (train.bin)")
    p.add_argument("--calib-samples", type=int, default=PTQSection.calib_samples)
    p.add_argument("--calib-seq-len", type=int, default=PTQSection.calib_seq_len)
    p.add_argument("--tasks", required=True, nargs="+")
    p.add_argument("--num-fewshot", type=int, default=0)
    p.add_argument("--limit", type=int)
    p.add_argument("--batch-size", type=int, default=Suites.batch_size)
    p.add_argument("--batch-tokens", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--ppl-max-tokens", type=int)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", help="where the quantized model is evaluated: cpu | cuda")
    p.add_argument("--profile", default="custom")
    p.add_argument("--out", required=True)
    add("baselines", cmd_baselines, "list the registered PTQ baselines and what they support")
