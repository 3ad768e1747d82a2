"""Command line: `python -m bitnet_repro <command> ...` (the Snakemake rules call these)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from .config import SIZES, ConfigError, RunConfig, load_profile, pilot_runs, runs_from_profile
from .utils import atomic_write_text

log = logging.getLogger("bitnet_repro")


def _run_config(args: argparse.Namespace) -> RunConfig:
    if args.config:
        try:
            return RunConfig.from_dict(json.loads(Path(args.config).read_text()))
        except FileNotFoundError as e:
            raise ConfigError(f"config file {args.config} not found") from e
    profile = load_profile(args.profile)
    runs = {r.name: r for r in runs_from_profile(profile) + pilot_runs(profile)}
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
    from .config import profile_data
    from .data import prepare

    prepare(profile_data(load_profile(args.profile)), Path(args.out))


def cmd_train(args: argparse.Namespace) -> None:
    from .train import train

    run = _run_config(args)
    overrides = {k: v for k, v in (("threads", args.threads), ("device", args.device)) if v is not None}
    if overrides:
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, **overrides))
    summary = train(run, Path(args.data), Path(args.out), progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary, indent=2))


def cmd_bench(args: argparse.Namespace) -> None:
    from .bench import VARIANTS, bench_train_step

    variants = tuple(args.variants.split(",")) if args.variants else VARIANTS
    bench_train_step(args.size, Path(args.out), steps=args.steps, repeats=args.repeats, threads=args.threads,
                     profile=args.profile, device=args.device, variants=variants, compile=args.compile)  # fmt: skip


def cmd_report(args: argparse.Namespace) -> None:
    from .report import training_report

    ngram = json.loads(Path(args.ngram).read_text()) if args.ngram else None
    training_report([Path(p) for p in args.summaries], Path(args.out_csv), Path(args.out_md), args.profile, ngram)


def cmd_pilot_report(args: argparse.Namespace) -> None:
    from .report import pilot_report

    ngram = json.loads(Path(args.ngram).read_text()) if args.ngram else None
    pilot_report([Path(p) for p in args.summaries], Path(args.out_csv), Path(args.out_md), args.profile, ngram)


def cmd_ngram(args: argparse.Namespace) -> None:
    from .ngram import fit_and_score

    res = fit_and_score(Path(args.data), args.orders, args.seq_len, args.eval_tokens, Path(args.out), args.profile,
                        args.blimp_limit)  # fmt: skip
    print(json.dumps({k: {n: v for n, v in m.items() if n.endswith("_train")} for k, m in res["models"].items()},
                     indent=2))  # fmt: skip


def cmd_check_resume(args: argparse.Namespace) -> None:
    from .checks import kill_and_resume

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


def cmd_plot(args: argparse.Namespace) -> None:
    from .plots import training_curves

    ngram = json.loads(Path(args.ngram).read_text()) if args.ngram else None
    training_curves([Path(p) for p in args.runs], Path(args.out), args.profile, ngram)


def cmd_eval(args: argparse.Namespace) -> None:
    """Evaluate one model with lm-evaluation-harness (and token perplexity) and write the results JSON."""
    import torch

    from .evaluate import run_eval, summary_rows

    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = [t for part in args.tasks for t in part.split(",") if t]
    limit = float(args.limit) if args.limit and "." in args.limit else (int(args.limit) if args.limit else None)
    results = run_eval(args.model, tasks, num_fewshot=args.num_fewshot, limit=limit, batch_size=args.batch_size,
                       batch_tokens=args.batch_tokens, max_length=args.max_length,
                       data_dir=args.data_dir, tokenizer=args.tokenizer, seed=args.seed, ppl_window=args.ppl_window,
                       ppl_max_tokens=args.ppl_max_tokens, include_path=args.include_path, out=Path(args.out),
                       kv_bits=args.kv_bits, profile=args.profile)  # fmt: skip
    for row in summary_rows(results):
        err = f" ± {row['stderr']:.4f}" if row["stderr"] is not None else ""
        print(f"{row['task']:40} {row['metric']:16} {row['value']:.4f}{err}  (n={row['n']})")
    print(f"throughput: {results['bitnet_repro']['throughput']}")


def cmd_eval_report(args: argparse.Namespace) -> None:
    from .report import eval_report, pretrained_report

    files = [Path(p) for p in args.results]
    if args.pretrained:
        pretrained_report(files, Path(args.out_csv), Path(args.out_md), args.profile)
    else:
        ngram = json.loads(Path(args.ngram).read_text()) if args.ngram else None
        eval_report(files, Path(args.out_csv), Path(args.out_md), Path(args.out_long) if args.out_long else None,
                    args.profile, ngram)  # fmt: skip


def cmd_table6(args: argparse.Namespace) -> None:
    from .report import table6_report

    table6_report([Path(p) for p in args.results], Path(args.out_csv), Path(args.out_md), args.profile,
                  Path(args.paper) if args.paper else None)  # fmt: skip


def cmd_bench_eval(args: argparse.Namespace) -> None:
    from .evaluate import bench_eval

    res = bench_eval(args.models, args.tasks, args.limit, Path(args.out), args.batch_tokens, args.threads, args.profile)
    for r in res["models"]:
        print(f"{r['model']}: {r['examples_per_second']} examples/s, {r['tokens_per_second']} tokens/s")


def cmd_tasks(args: argparse.Namespace) -> None:
    from .evaluate import task_inventory

    rows = task_inventory(Path(args.out_md), Path(args.out_json), args.data_dir)
    print(f"{len(rows)} tasks load offline with their canonical sizes")


def cmd_check_hf_parity(args: argparse.Namespace) -> None:
    from .evaluate import hf_parity

    res = hf_parity(Path(args.model), args.tasks, args.limit, args.num_fewshot, Path(args.out), Path(args.work))
    print(
        f"{len(res['rows'])} metrics compared; accuracies identical: {res['accuracies_identical']}; "
        f"max relative difference {res['max_rel_diff']:.2e}"
    )


def cmd_plot_eval(args: argparse.Namespace) -> None:
    from .plots import eval_scaling

    eval_scaling(Path(args.table), Path(args.out), args.profile)


def cmd_export_hf(args: argparse.Namespace) -> None:
    """Write an FP16 checkpoint as a Hugging Face LlamaForCausalLM directory (with its tokenizer)."""
    from .convert import export_hf_llama

    print(export_hf_llama(args.model, args.out, args.tokenizer))


def cmd_export_gguf(args: argparse.Namespace) -> None:
    """Write a checkpoint as a GGUF file for llama.cpp, and check llama.cpp's logits against ours."""
    from .gguf_export import export_checkpoint

    r = export_checkpoint(args.model, args.out, args.type, args.tokenizer, check=not args.no_check)
    print(f"{args.out}: {r['bytes']:,} bytes ({args.type})")
    if "agreement" in r:
        print("llama.cpp vs ours: " + ", ".join(f"{k} {v:.3g}" for k, v in r["agreement"].items()))


def cmd_cost_prepare(args: argparse.Namespace) -> None:
    """Write one size's FP16 and b1.58 models (random weights) for the cost measurements."""
    from .cost import prepare

    m = prepare(args.size, args.out, seed=args.seed, engines=tuple(args.engines))
    print(f"{args.out}: " + ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in m["files"].items()))


def cmd_cost_measure(args: argparse.Namespace) -> None:
    """Time per output token and memory of one engine and variant (Table 4's cost columns)."""
    from .cost import measure
    from .utils import atomic_write_text

    r = measure(args.prep, args.engine, args.variant, args.prompt, args.new_tokens, args.threads)
    atomic_write_text(Path(args.out), json.dumps(r, indent=2) + "\n")
    print(f"{r['size']} {args.engine} {args.variant}: {r['ms_per_token']:.1f} ms/token, "
          f"{r['resident_bytes'] / 1e9:.2f} GB, logit correlation {r['agreement']['correlation']:.4f}")  # fmt: skip


def cmd_cost_throughput(args: argparse.Namespace) -> None:
    """Table 7: FP16 at a batch (defines the budget), or b1.58's largest batch in FP16's budget."""
    from .cost import throughput
    from .utils import atomic_write_text

    budget = json.loads(Path(args.budget_from).read_text())["budget_bytes"] if args.budget_from else None
    if args.budget_gb:
        budget = args.budget_gb * 1e9
    r = throughput(args.prep, args.variant, batch=args.batch, budget_bytes=budget, context=args.context,
                   threads=args.threads)  # fmt: skip
    atomic_write_text(Path(args.out), json.dumps(r, indent=2) + "\n")
    print(f"{r['size']} {args.variant}: batch {r['max_batch']}, {r['tokens_per_s']:.1f} tokens/s, "
          f"{r['resident_bytes'] / 1e9:.2f} GB of {r['budget_bytes'] / 1e9:.2f} GB")  # fmt: skip


def cmd_cost_table(args: argparse.Namespace) -> None:
    """Table 4's cost columns from cost-measure files."""
    from .cost_report import table4

    paper, eval_csv = (Path(p) if p else None for p in (args.paper_dir, args.eval_csv))
    table4([Path(f) for f in args.files], Path(args.out_csv), Path(args.out_md), args.profile, paper, eval_csv)


def cmd_plot_cost(args: argparse.Namespace) -> None:
    """Figure 8 from cost-measure files."""
    from .cost_report import figure8

    paper = Path(args.paper_dir) if args.paper_dir else None
    figure8([Path(f) for f in args.files], Path(args.figure), args.profile, paper)


def cmd_table7(args: argparse.Namespace) -> None:
    """Table 7 from the two cost-throughput files."""
    from .cost_report import table7

    table7([Path(f) for f in args.files], Path(args.out_csv), Path(args.out_md), args.profile,
           Path(args.paper_dir) if args.paper_dir else None)  # fmt: skip


def cmd_energy(args: argparse.Namespace) -> None:
    """Tables 1 and 2: the energy model of Sec. 2.3 (Eq. 10-12)."""
    from .energy import figure3, write_tables

    if args.figure3:
        for r in figure3(Path(args.figure3)):
            print(f"{r['size']:>5}: FP16 / BitNet energy, MUL {r['mul_ratio']:.1f}x, ADD {r['add_ratio']:.1f}x")
    if args.out_dir:
        write_tables(Path(args.out_dir), args.paper_table2)
        print((Path(args.out_dir) / "table2.md").read_text())


def cmd_presets(args: argparse.Namespace) -> None:
    from .config import preset_model

    print(f"{'size':10} {'source':14} {'d_model':>7} {'layers':>6} {'heads':>5} {'d_ff':>6} {'non-emb params':>15}")
    for name, row in SIZES.items():
        m = preset_model(name, "fp16")
        print(
            f"{name:10} {row['source']:14} {m.d_model:7} {m.n_layers:6} {m.n_heads:5} {m.d_ff:6} "
            f"{m.n_params_nonembedding:15,}"
        )


def cmd_ptq(args: argparse.Namespace) -> None:
    """Quantize an FP16 model with one PTQ setting, check it, evaluate it, write the results JSON."""
    import torch

    from .evaluate import summary_rows
    from .ptq import run_ptq

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


def cmd_ptq_table(args: argparse.Namespace) -> None:
    from .ptq_report import ptq_table

    ptq_table([Path(p) for p in args.results], Path(args.out_csv), Path(args.out_md), args.profile,
              paper_csv=Path(args.paper) if args.paper else None, title=args.title)  # fmt: skip


def cmd_plot_ptq(args: argparse.Namespace) -> None:
    from .ptq_report import figure7

    figure7(Path(args.table), Path(args.out), args.profile)


def cmd_pack(args: argparse.Namespace) -> None:
    """Pack a BitNet checkpoint into a versioned inference artefact (packed weights, scales, config)."""
    from .kernels.artefact import pack_checkpoint

    m = pack_checkpoint(Path(args.model), Path(args.out))
    print(f"{m['variant']} -> {args.out}: {m['bytes']['total']:,} bytes ({m['packing']})")


def cmd_pack_table(args: argparse.Namespace) -> None:
    from .kernels.artefact import size_table

    size_table([Path(p).parent for p in args.manifests], Path(args.out_csv), Path(args.out_md), args.profile)


def cmd_baselines(args: argparse.Namespace) -> None:
    from baselines import discover

    for name, cls in discover().items():
        bits = f"W{list(cls.w_bits)} A{list(cls.a_bits)}"
        print(f"{name:12} {cls.title:12} {bits:28} Table 3: {', '.join(cls.table3) or '-'}   [{cls.implementation}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bitnet_repro", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def add(name: str, fn, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=fn)
        return p

    def run_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="resolved config.json of the run")
        p.add_argument("--profile", default="cpu", help="profile name or YAML path (with --run)")
        p.add_argument("--run", help="run name within the profile, e.g. cpu-m-bitnet_b158")

    p = add("runs", cmd_runs, "list a profile's training runs (and optionally write their configs)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--write", help="directory to write <run_id>/config.json into")
    p = add("config", cmd_config, "write the resolved config.json of one run")
    run_args(p)
    p.add_argument("--out", required=True)
    p = add("data", cmd_data, "verify the data, train the tokenizer, write token arrays")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--out", required=True, help="output directory for tokenizer.model and *.bin")
    p = add("train", cmd_train, "train (or resume) one model")
    run_args(p)
    p.add_argument("--data", required=True, help="directory written by `data`")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--threads", type=int, help="CPU threads (overrides train.threads)")
    p.add_argument("--device", help="cpu | cuda (overrides train.device)")
    p.add_argument("--no-progress", action="store_true")
    p = add("bench", cmd_bench, "time training steps of FP16 and BitNet side by side")
    p.add_argument("--size", default="cpu-l")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--variants", help="comma-separated subset of fp16,bitnet_b158,bitnet_b1,bitnet_b158_appendix_d")
    p.add_argument("--compile", action="store_true", help="torch.compile every model")
    p.add_argument("--out", required=True, help="JSON file")
    for name, fn, what in (("report", cmd_report, "collect training summaries into a table"),
                           ("pilot-report", cmd_pilot_report, "the learning-rate pilots as a table")):  # fmt: skip
        p = add(name, fn, what)
        p.add_argument("summaries", nargs="+")
        p.add_argument("--profile", required=True)
        p.add_argument("--ngram", help="ngram.json of the count-model baselines (rows of the table)")
        p.add_argument("--out-csv", required=True)
        p.add_argument("--out-md", required=True)
    p = add("ngram", cmd_ngram, "Kneser-Ney count-model baselines on a profile's training tokens")
    p.add_argument("--data", required=True, help="directory written by `data`")
    p.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--seq-len", type=int, required=True, help="validation window (the training sequence length)")
    p.add_argument("--eval-tokens", type=int, required=True, help="tokens per validation set (train.eval_tokens)")
    p.add_argument("--profile", default="custom")
    p.add_argument("--blimp-limit", type=int, help="also score BLiMP, this many pairs per paradigm")
    p.add_argument("--out", required=True)
    p = add("check-resume", cmd_check_resume, "SIGKILL a training run mid-way, resume it, compare with a clean run")
    run_args(p)
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True, help="scratch directory for the two runs")
    p.add_argument("--steps", type=int, help="shorten the run to this many steps (checkpoints every quarter)")
    p.add_argument("--out", required=True, help="JSON file")
    p = add("plot", cmd_plot, "training and validation curves of a profile's runs (PNG and PDF)")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--ngram", help="ngram.json: the Kneser-Ney trigram as a reference line")
    p.add_argument("--profile", required=True)
    p.add_argument("--out", required=True, help="output path without extension")
    p = add("eval", cmd_eval, "evaluate a checkpoint or pretrained model with lm-evaluation-harness, offline")
    p.add_argument("--model", required=True, help="checkpoint directory (ours or Hugging Face) or smollm2-135m")
    p.add_argument("--tasks", required=True, nargs="+",
                   help="task names, groups (table3, table5, table8, pretrained, blimp) or task YAML paths, "
                        "comma- or space-separated; token_ppl adds token-level perplexity")  # fmt: skip
    p.add_argument("--num-fewshot", type=int, default=0)
    p.add_argument("--limit", help="at most N examples per task (or a fraction, e.g. 0.1)")
    p.add_argument("--batch-size", type=int, default=32, help="rows per scoring batch")
    p.add_argument("--batch-tokens", type=int, help="token budget per scoring batch instead (rows = budget / length)")
    p.add_argument("--seed", type=int, default=1234, help="seed of the few-shot draws (and every other RNG)")
    p.add_argument("--tokenizer", help="SentencePiece model, if not found beside the checkpoint")
    p.add_argument("--data-dir", help="evaluation data directory (default: $BITNET_REPRO_DATA, ../shared/data)")
    p.add_argument("--include-path", nargs="*", help="extra directories or files of lm-eval task YAMLs")
    p.add_argument("--max-length", type=int, help="context length to score with (default: the model's own)")
    p.add_argument("--ppl-window", type=int, help="token_ppl window (default: min(context length, 2048))")
    p.add_argument("--ppl-max-tokens", type=int, help="token_ppl: score at most this many tokens per text")
    p.add_argument("--kv-bits", type=int, choices=[2, 3, 4, 8], help="quantize K and V per head (Table 6: 4)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--profile", default="custom", help="profile name recorded in the results")
    p.add_argument("--out", required=True, help="results JSON (lm-eval's full results, plus ours)")
    p = add("eval-report", cmd_eval_report, "collect evaluation results into tables")
    p.add_argument("results", nargs="+", help="results JSON files written by `eval`")
    p.add_argument("--profile", required=True)
    p.add_argument("--pretrained", action="store_true", help="the pretrained-model table (one row per task)")
    p.add_argument("--ngram", help="ngram.json of the count-model baselines (rows of the table)")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-long", help="long CSV of every (model, suite, task, metric)")
    p = add("table6", cmd_table6, "Table 6: b1.58 zero-shot with and without a 4-bit KV cache")
    p.add_argument("results", nargs="+", help="results JSON of `eval` with and without --kv-bits")
    p.add_argument("--profile", required=True)
    p.add_argument("--paper", help="the paper's Table 6 CSV, for the rows labelled as the paper's")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p = add("bench-eval", cmd_bench_eval, "scoring throughput of several models on the same items")
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--batch-tokens", type=int)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--profile", default="custom")
    p.add_argument("--out", required=True)
    p = add("tasks", cmd_tasks, "load every local task offline and write their sizes against the canonical ones")
    p.add_argument("--data-dir")
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-json", required=True)
    p = add("check-hf-parity", cmd_check_hf_parity, "score an FP16 checkpoint through our model type and lm-eval's hf")
    p.add_argument("--model", required=True)
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--num-fewshot", type=int, default=0)
    p.add_argument("--work", required=True, help="scratch directory for the exported Hugging Face model")
    p.add_argument("--out", required=True)
    p = add("plot-eval", cmd_plot_eval, "perplexity and BLiMP against size, from the evaluation table")
    p.add_argument("table", help="results/<profile>/tables/eval.csv")
    p.add_argument("--profile", required=True)
    p.add_argument("--out", required=True, help="output path without extension")
    p = add("export-hf", cmd_export_hf, "write an FP16 checkpoint as a Hugging Face LlamaForCausalLM directory")
    p.add_argument("--model", required=True, help="checkpoint directory (FP16, arch llama)")
    p.add_argument("--tokenizer", help="SentencePiece model, if not found beside the checkpoint")
    p.add_argument("--out", required=True, help="output directory")
    p = add("export-gguf", cmd_export_gguf, "write an FP16 or BitNet b1.58 checkpoint as GGUF for llama.cpp")
    p.add_argument("--model", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="output .gguf file")
    p.add_argument("--type", default="f16", choices=["f32", "f16", "tq2_0", "tq1_0"],
                   help="weight type: f32/f16 (FP16 models; f32 also BitNet codes), tq2_0/tq1_0 (BitNet b1.58)")
    p.add_argument("--tokenizer", help="SentencePiece model, if not found beside the checkpoint")
    p.add_argument("--no-check", action="store_true", help="skip the logit check through llama-cpp-python")
    p = add("cost-prepare", cmd_cost_prepare, "write one size's FP16 and b1.58 models (random weights) for cost")
    p.add_argument("--size", required=True, help="700M, 1.3B, 3B, 3.9B, 7B, 13B or 70B (paper shapes)")
    p.add_argument("--out", required=True, help="directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", nargs="+", default=["llama.cpp", "torch"], choices=["llama.cpp", "torch"],
                   help="which engines' files to write (large sizes: llama.cpp only)")
    p = add("cost-measure", cmd_cost_measure, "time per output token and memory of one engine/variant (Table 4)")
    p.add_argument("--prep", required=True, help="directory written by cost-prepare")
    p.add_argument("--engine", required=True, choices=["llama.cpp", "torch"])
    p.add_argument("--variant", required=True, choices=["fp16", "b158", "b158-tq1_0"])
    p.add_argument("--prompt", type=int, default=128, help="prompt tokens (prefill)")
    p.add_argument("--new-tokens", type=int, default=64, help="decoding steps timed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True, help="JSON file")
    p = add("cost-throughput", cmd_cost_throughput, "Table 7: largest batch under a memory budget, throughput")
    p.add_argument("--prep", required=True, help="directory written by cost-prepare")
    p.add_argument("--variant", required=True, choices=["fp16", "b158"])
    p.add_argument("--batch", type=int, help="run this batch (FP16: defines the budget)")
    p.add_argument("--budget-from", help="a cost-throughput JSON whose budget to fill (b1.58)")
    p.add_argument("--budget-gb", type=float, help="a memory budget to fill, in GB")
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True, help="JSON file")
    p = add("cost-table", cmd_cost_table, "Table 4's cost columns from cost-measure files")
    p.add_argument("files", nargs="+")
    p.add_argument("--profile", required=True)
    p.add_argument("--paper-dir", help="directory of the paper's tables (for the Paper columns)")
    p.add_argument("--eval-csv", help="tables/eval.csv of the profile (perplexity of its trained models)")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p = add("plot-cost", cmd_plot_cost, "Figure 8 from cost-measure files")
    p.add_argument("files", nargs="+")
    p.add_argument("--profile", required=True)
    p.add_argument("--paper-dir", help="directory of the paper's tables (for its ratios)")
    p.add_argument("--figure", required=True, help="figure path without suffix (.png, .pdf and .md are written)")
    p = add("table7", cmd_table7, "Table 7 from the FP16 and b1.58 cost-throughput files")
    p.add_argument("files", nargs=2)
    p.add_argument("--profile", required=True)
    p.add_argument("--paper-dir")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p = add("energy", cmd_energy, "Tables 1 and 2: arithmetic energy of FP32/FP16 Transformers and BitNet (Eq. 10-12)")
    p.add_argument("--out-dir", help="where Tables 1 and 2 go (CSV and Markdown)")
    p.add_argument("--figure3", help="Figure 3's output path without extension (CSV, PNG, PDF, caption)")
    p.add_argument("--paper-table2", help="CSV of the paper's Table 2, for the columns labelled as the paper's")
    p = add("ptq", cmd_ptq, "post-training-quantize an FP16 model (baselines/) and evaluate it in memory")
    p.add_argument("--model", required=True, help="FP16 checkpoint directory or smollm2-135m")
    p.add_argument("--method", required=True, help="method:W<bits>A<bits>, e.g. gptq:W4A16 (see `baselines`)")
    p.add_argument("--param", nargs="*", help="method parameters, e.g. alpha=0.8")
    p.add_argument("--calib-data", required=True, help="token directory of the training corpus (train.bin)")
    p.add_argument("--calib-samples", type=int, default=128)
    p.add_argument("--calib-seq-len", type=int, default=256)
    p.add_argument("--tasks", required=True, nargs="+")
    p.add_argument("--num-fewshot", type=int, default=0)
    p.add_argument("--limit", type=int)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batch-tokens", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--ppl-max-tokens", type=int)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", help="where the quantized model is evaluated: cpu | cuda")
    p.add_argument("--profile", default="custom")
    p.add_argument("--out", required=True)
    p = add("ptq-table", cmd_ptq_table, "Table 3: PTQ rows, FP16 and BitNet b1, beside the paper's numbers")
    p.add_argument("results", nargs="+", help="results JSON of `ptq` and of `eval` (FP16, BitNet b1)")
    p.add_argument("--profile", required=True)
    p.add_argument("--paper", help="the paper's Table 3 CSV, for the columns labelled as the paper's")
    p.add_argument("--title", default="Table 3")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p = add("plot-ptq", cmd_plot_ptq, "Figure 7: Table 3 accuracy against model size, zero- and few-shot")
    p.add_argument("table", help="long CSV written by ptq-table")
    p.add_argument("--profile", required=True)
    p.add_argument("--out", required=True, help="output path without extension")
    p = add("pack", cmd_pack, "pack a BitNet b1.58 / b1 checkpoint into an inference artefact (2 / 1 bit weights)")
    p.add_argument("--model", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="artefact directory")
    p = add("pack-table", cmd_pack_table, "bytes of packed artefacts against FP16")
    p.add_argument("manifests", nargs="+", help="manifest.json of each artefact")
    p.add_argument("--profile", required=True)
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    add("baselines", cmd_baselines, "list the registered PTQ baselines and what they support")
    add("presets", cmd_presets, "list the model presets (paper tables and CPU sizes)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    from .data import DataError
    from .train import CheckpointError

    errors: tuple[type[Exception], ...] = (ConfigError, DataError, CheckpointError)
    if args.command in ("pack", "pack-table"):
        from .kernels.artefact import ArtefactError

        errors += (ArtefactError,)
    if args.command.startswith("cost-") or args.command == "plot-cost":
        from .cost import CostError

        errors += (CostError,)
    if args.command == "export-gguf":
        from .gguf_export import GGUFExportError
        from .lm import ModelLoadError

        errors += (GGUFExportError, ModelLoadError)
    if args.command in ("eval", "export-hf", "bench-eval", "tasks", "check-hf-parity", "ptq", "ptq-table"):
        from baselines import BaselineError

        from .evaluate import EvalError
        from .lm import ModelLoadError
        from .ptq import PTQError

        errors += (EvalError, ModelLoadError, BaselineError, PTQError)
    try:
        args.fn(args)
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
