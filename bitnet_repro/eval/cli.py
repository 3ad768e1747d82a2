"""Evaluation subcommands: lm-evaluation-harness runs, the task inventory, scoring throughput, the parity check against
lm-eval's hf model type, the count models.

Implementation modules are imported inside each command, so that a command loads only what it needs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.cli import example_limit, non_negative_int, positive_int
from bitnet_repro.profile import BenchSection, Suites


def cmd_eval(args: argparse.Namespace) -> None:
    """Evaluate one model with lm-evaluation-harness (and token perplexity) and write the results JSON."""
    import torch

    from bitnet_repro.eval.harness import run_eval
    from bitnet_repro.eval.results import summary_rows

    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = [t for part in args.tasks for t in part.split(",") if t]
    results = run_eval(args.model, tasks, num_fewshot=args.num_fewshot, limit=args.limit, batch_size=args.batch_size,
                       batch_tokens=args.batch_tokens, max_length=args.max_length,
                       data_dir=args.data_dir, tokenizer=args.tokenizer, seed=args.seed, ppl_window=args.ppl_window,
                       ppl_max_tokens=args.ppl_max_tokens, include_path=args.include_path, out=Path(args.out),
                       kv_bits=args.kv_bits, precision=args.precision, profile=args.profile)  # fmt: skip
    for row in summary_rows(results):
        err = f" ± {row['stderr']:.4f}" if row["stderr"] is not None else ""
        print(f"{row['task']:40} {row['metric']:16} {row['value']:.4f}{err}  (n={row['n']})")
    print(f"throughput: {results['bitnet_repro']['throughput']}")


def cmd_tasks(args: argparse.Namespace) -> None:
    from bitnet_repro.eval.harness import task_inventory

    rows = task_inventory(Path(args.out_md), Path(args.out_json), args.data_dir)
    print(f"{len(rows)} tasks load offline with their canonical sizes")


def cmd_bench_eval(args: argparse.Namespace) -> None:
    from bitnet_repro.eval.harness import bench_eval

    res = bench_eval(args.models, args.tasks, args.limit, Path(args.out), args.batch_tokens, args.threads, args.profile)
    for r in res["models"]:
        print(f"{r['model']}: {r['examples_per_second']} examples/s, {r['tokens_per_second']} tokens/s")


def cmd_check_hf_parity(args: argparse.Namespace) -> None:
    from bitnet_repro.eval.harness import hf_parity

    res = hf_parity(Path(args.model), args.tasks, args.limit, args.num_fewshot, Path(args.out), Path(args.work))
    print(
        f"{len(res['rows'])} metrics compared; accuracies identical: {res['accuracies_identical']}; "
        f"max relative difference {res['max_rel_diff']:.2e}"
    )


def cmd_ngram(args: argparse.Namespace) -> None:
    from bitnet_repro.eval.ngram import fit_and_score

    res = fit_and_score(Path(args.data), args.orders, args.seq_len, args.eval_tokens, Path(args.out), args.profile,
                        args.blimp_limit)  # fmt: skip
    print(json.dumps({k: {n: v for n, v in m.items() if n.endswith("_train")} for k, m in res["models"].items()},
                     indent=2))  # fmt: skip


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("eval", cmd_eval, "evaluate a checkpoint or pretrained model with lm-evaluation-harness, offline")
    p.add_argument("--model", required=True, help="checkpoint directory (ours or Hugging Face) or smollm2-135m")
    p.add_argument("--tasks", required=True, nargs="+",
                   help="task names, groups (table3, table5, table8, pretrained, blimp) or task YAML paths, "
                        "comma- or space-separated; token_ppl adds token-level perplexity")  # fmt: skip
    p.add_argument("--num-fewshot", type=non_negative_int, default=0, help="in-context examples per item")
    p.add_argument("--limit", type=example_limit, help="at most N examples per task (or a fraction, e.g. 0.1)")
    p.add_argument("--batch-size", type=positive_int, default=Suites.batch_size, help="rows per scoring batch")
    p.add_argument("--batch-tokens", type=positive_int,
                   help="token budget per scoring batch instead (rows = budget / length)")  # fmt: skip
    p.add_argument("--seed", type=int, default=1234, help="seed of the few-shot draws (and every other RNG)")
    p.add_argument("--tokenizer", help="SentencePiece model, if not found beside the checkpoint")
    p.add_argument("--data-dir", help="evaluation data directory (default: $BITNET_REPRO_DATA, ../shared/data)")
    p.add_argument("--include-path", nargs="*", help="extra directories or files of lm-eval task YAMLs")
    p.add_argument("--max-length", type=positive_int, help="context length to score with (default: the model's own)")
    p.add_argument("--ppl-window", type=positive_int, help="token_ppl window (default: min(context length, 2048))")
    p.add_argument("--ppl-max-tokens", type=positive_int, help="token_ppl: score at most this many tokens per text")
    p.add_argument("--kv-bits", type=int, choices=[2, 3, 4, 8], help="quantize K and V per head (Table 6: 4)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32",
                   help="fp32, or bf16 autocast; auto: bf16 where the device has bf16 matrix units (default: fp32)")
    p.add_argument("--profile", default="custom", help="profile name recorded in the results")
    p.add_argument("--out", required=True, help="results JSON (lm-eval's full results, plus ours)")
    p = add("tasks", cmd_tasks, "load every local task offline and write their sizes against the canonical ones")
    p.add_argument("--data-dir", help="evaluation data directory (default: $BITNET_REPRO_DATA, ../shared/data)")
    p.add_argument("--out-md", required=True, help="Markdown table: each task's items against the canonical split size")
    p.add_argument("--out-json", required=True, help="JSON file to write (the same rows)")
    p = add("bench-eval", cmd_bench_eval, "scoring throughput of several models on the same items")
    p.add_argument("--models", nargs="+", required=True, help="checkpoint directories or pretrained names")
    p.add_argument("--tasks", nargs="+", required=True, help="task names or groups, as for `eval`")
    p.add_argument("--limit", type=positive_int, default=BenchSection.eval_limit, help="examples per task")
    p.add_argument("--batch-tokens", type=positive_int, help="token budget per scoring batch")
    p.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads; 0: torch's choice")
    p.add_argument("--profile", default="custom", help="profile name recorded in the results")
    p.add_argument("--out", required=True, help="JSON file")
    p = add("check-hf-parity", cmd_check_hf_parity, "score an FP16 checkpoint through our model type and lm-eval's hf")
    p.add_argument("--model", required=True, help="FP16 checkpoint directory")
    p.add_argument("--tasks", nargs="+", required=True, help="task names or groups, as for `eval`")
    p.add_argument("--limit", type=positive_int, default=100, help="examples per task")
    p.add_argument("--num-fewshot", type=non_negative_int, default=0, help="in-context examples per item")
    p.add_argument("--work", required=True, help="scratch directory for the exported Hugging Face model")
    p.add_argument("--out", required=True, help="JSON file (every metric both ways)")
    p = add("ngram", cmd_ngram, "Kneser-Ney count-model baselines on a profile's training tokens")
    p.add_argument("--data", required=True, help="directory written by `data`")
    p.add_argument("--orders", type=positive_int, nargs="+", default=[1, 2, 3], help="n-gram orders to fit")
    p.add_argument("--seq-len", type=int, required=True, help="validation window (the training sequence length)")
    p.add_argument("--eval-tokens", type=int, required=True, help="tokens per validation set (train.eval_tokens)")
    p.add_argument("--profile", default="custom", help="profile name recorded in the results")
    p.add_argument("--blimp-limit", type=positive_int, help="also score BLiMP, this many pairs per paradigm")
    p.add_argument("--out", required=True, help="JSON file")
