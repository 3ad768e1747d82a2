"""Cost subcommands: the training-step benchmark and the inference-cost measurements at the paper's shapes.

Implementation modules are imported inside each command, so that a command loads only what it needs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.cli import non_negative_int, positive_int
from bitnet_repro.profile import BenchSection, CostSection, Table7Section


def cmd_bench(args: argparse.Namespace) -> None:
    from bitnet_repro.cost.train_bench import VARIANTS, bench_train_step

    variants = tuple(args.variants.split(",")) if args.variants else VARIANTS
    modes = tuple(args.modes.split(",")) if args.modes else None
    bench_train_step(args.size, Path(args.out), steps=args.steps, repeats=args.repeats, threads=args.threads,
                     profile=args.profile, device=args.device, variants=variants, compile=args.compile,
                     modes=modes)  # fmt: skip


def cmd_cost_prepare(args: argparse.Namespace) -> None:
    """Write one size's FP16 and b1.58 models (random weights) for the cost measurements."""
    from bitnet_repro.cost.measure import prepare

    m = prepare(args.size, args.out, seed=args.seed, engines=tuple(args.engines))
    print(f"{args.out}: " + ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in m["files"].items()))


def cmd_cost_measure(args: argparse.Namespace) -> None:
    """Time per output token and memory of one engine and variant (Table 4's cost columns)."""
    from bitnet_repro.cost.measure import measure
    from bitnet_repro.utils import atomic_write_text

    r = measure(args.prep, args.engine, args.variant, args.prompt, args.new_tokens, args.threads)
    atomic_write_text(Path(args.out), json.dumps(r, indent=2) + "\n")
    print(f"{r['size']} {args.engine} {args.variant}: {r['ms_per_token']:.1f} ms/token, "
          f"{r['resident_bytes'] / 1e9:.2f} GB, logit correlation {r['agreement']['correlation']:.4f}")  # fmt: skip


def cmd_cost_throughput(args: argparse.Namespace) -> None:
    """Table 7: FP16 at a batch (defines the budget), or b1.58's largest batch in FP16's budget."""
    from bitnet_repro.cost.measure import throughput
    from bitnet_repro.utils import atomic_write_text

    budget = json.loads(Path(args.budget_from).read_text())["budget_bytes"] if args.budget_from else None
    if args.budget_gb:
        budget = args.budget_gb * 1e9
    r = throughput(args.prep, args.variant, batch=args.batch, budget_bytes=budget, context=args.context,
                   threads=args.threads)  # fmt: skip
    atomic_write_text(Path(args.out), json.dumps(r, indent=2) + "\n")
    print(f"{r['size']} {args.variant}: batch {r['max_batch']}, {r['tokens_per_s']:.1f} tokens/s, "
          f"{r['resident_bytes'] / 1e9:.2f} GB of {r['budget_bytes'] / 1e9:.2f} GB")  # fmt: skip


def cmd_cost_gguf(args: argparse.Namespace) -> None:
    """Time per output token and memory of a real model's GGUF files (FP16 teacher first, then its ternary
    students), interleaved over rounds, each measurement in a fresh process."""
    from bitnet_repro.cost.real import side_by_side
    from bitnet_repro.utils import atomic_write_text

    models = [tuple(spec.rsplit(":", 1)) for spec in args.models]
    r = side_by_side(models, args.rounds, args.prompt, args.new_tokens, args.threads)
    atomic_write_text(Path(args.out), json.dumps(r, indent=2) + "\n")
    for m in r["models"]:
        print(f"{m['model']}: {m['ms_per_token']:.1f} ms/token (rounds {m['rounds_ms_per_token']}), "
              f"{m['resident_bytes'] / 1e6:.0f} MB, x{m['speedup_vs_first']:.2f} vs {r['baseline']}")  # fmt: skip


def cmd_shards_bench(args: argparse.Namespace) -> None:
    from bitnet_repro.cost.data_bench import bench

    r = bench(Path(args.out), target_tokens=args.tokens, repeats=args.repeats)
    print(json.dumps({k: v for k, v in r.items() if k != "meta"}, indent=2))


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("bench", cmd_bench, "time training steps of FP16 and BitNet side by side")
    p.add_argument("--size", default=BenchSection.size, help="model size (`presets` lists them)")
    p.add_argument("--profile", default="cpu", help="profile name recorded in the results")
    p.add_argument("--steps", type=positive_int, default=BenchSection.steps, help="timed training steps per repeat")
    p.add_argument("--repeats", type=positive_int, default=BenchSection.repeats, help="repeats of each measurement")
    p.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads; 0: torch's choice")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--variants", help="comma-separated subset of fp16,bitnet_b158,bitnet_b1,bitnet_b158_appendix_d")
    p.add_argument("--compile", action="store_true", help="CUDA: torch.compile every model (CPU: see --modes)")
    p.add_argument("--modes", help="comma-separated subset of fp32,fp32+compile,bf16,bf16+compile (CPU default: all "
                   "four where the CPU has bf16 units, else the fp32 ones; CUDA: bf16, or bf16+compile with --compile)")
    p.add_argument("--out", required=True, help="JSON file")
    p = add("shards-bench", cmd_shards_bench, "tokenizing into shards per core, and the shard loader against a GPU")
    p.add_argument("--tokens", type=positive_int, default=40_000_000, help="tokens to tokenize per measurement")
    p.add_argument("--repeats", type=positive_int, default=20, help="batches timed per loader measurement")
    p.add_argument("--out", required=True, help="JSON file (a Markdown and an HTML page beside it)")
    p = add("cost-prepare", cmd_cost_prepare, "write one size's FP16 and b1.58 models (random weights) for cost")
    p.add_argument("--size", required=True, help="700M, 1.3B, 3B, 3.9B, 7B, 13B or 70B (paper shapes)")
    p.add_argument("--out", required=True, help="directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.add_argument(
        "--engines",
        nargs="+",
        default=["llama.cpp", "torch"],
        choices=["llama.cpp", "torch"],
        help="which engines' files to write (large sizes: llama.cpp only)",
    )
    p = add("cost-measure", cmd_cost_measure, "time per output token and memory of one engine/variant (Table 4)")
    p.add_argument("--prep", required=True, help="directory written by cost-prepare")
    p.add_argument("--engine", required=True, choices=["llama.cpp", "torch"], help="inference engine to time")
    p.add_argument("--variant", required=True, choices=["fp16", "bitnet_b158", "bitnet_b158-tq1_0"],
                   help="model to time: fp16, bitnet_b158 (llama.cpp: its TQ2_0 file) or its TQ1_0 file")  # fmt: skip
    p.add_argument("--prompt", type=int, default=CostSection.prompt, help="prompt tokens (prefill)")
    p.add_argument("--new-tokens", type=int, default=CostSection.new_tokens, help="decoding steps timed")
    p.add_argument("--threads", type=positive_int, default=CostSection.threads, help="CPU threads of the engine")
    p.add_argument("--out", required=True, help="JSON file")
    p = add("cost-gguf", cmd_cost_gguf, "time per output token and memory of a real model's GGUF files (llama.cpp)")
    p.add_argument("models", nargs="+", help="DIR:FILE, a directory written by export-real and a GGUF file in it; "
                   "the first is the baseline")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each measures every model once")
    p.add_argument("--prompt", type=int, default=CostSection.prompt, help="prompt tokens (prefill)")
    p.add_argument("--new-tokens", type=int, default=CostSection.new_tokens, help="decoding steps timed")
    p.add_argument("--threads", type=positive_int, default=CostSection.threads, help="CPU threads of the engine")
    p.add_argument("--out", required=True, help="JSON file")
    p = add("cost-throughput", cmd_cost_throughput, "Table 7: largest batch under a memory budget, throughput")
    p.add_argument("--prep", required=True, help="directory written by cost-prepare")
    p.add_argument("--variant", required=True, choices=["fp16", "bitnet_b158"], help="model to run")
    p.add_argument("--batch", type=int, help="run this batch (FP16: defines the budget)")
    p.add_argument("--budget-from", help="a cost-throughput JSON whose budget to fill (b1.58)")
    p.add_argument("--budget-gb", type=float, help="a memory budget to fill, in GB")
    p.add_argument("--context", type=positive_int, default=Table7Section.context, help="tokens of context per sequence")
    p.add_argument("--threads", type=positive_int, default=CostSection.threads, help="CPU threads of the engine")
    p.add_argument("--out", required=True, help="JSON file")
