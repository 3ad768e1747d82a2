"""README's generated blocks: the findings summary (from the claims ledger), the map of every paper table and
figure to its target, output and status, and the measured numbers README quotes (jobs, core-minutes, the SLURM
run), all read from the committed results. Each block sits between `<!-- generated:NAME -->` and
`<!-- /generated:NAME -->`; `python -m bitnet_repro readme` rewrites them, `--check` fails when one is stale
(tests/test_readme.py runs it, so README's numbers cannot drift from the results)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from bitnet_repro.errors import ReproError

COMMAND, HELP = "readme", "rewrite README's generated blocks (findings, paper artefacts, measured numbers)"

ROOT = Path(__file__).resolve().parent.parent.parent

# (artefact, what it shows, Snakemake target, outputs of the `cpu` profile, status, note). Status: built (made by
# the DAG at the profile's scale), partly (some of its panels or columns), not built. `tests/test_readme.py`
# checks that every output of a built or partly built artefact is committed.
ARTEFACTS = [
    ("Table 1", "energy per arithmetic operation (45nm, 7nm)", "table1", ["results/energy/table1.md"], "built", ""),
    ("Table 2", "matmul energy by model size, FP16 vs BitNet", "table2", ["results/energy/table2.md"], "built", ""),
    ("Table 3", "PTQ baselines against BitNet b1, zero-shot", "table3",
     ["results/cpu/tables/table3.md", "results/cpu/tables/table3_smollm2-135m.md"], "built",
     "at `cpu-l` and on SmolLM2-135M (`table3_pretrained`)"),
    ("Table 4", "perplexity, memory and latency, b1.58 vs FP16", "table4",
     ["results/cpu/tables/training.md", "results/cpu/tables/table4_cost.md"], "partly",
     "perplexity at the ladder's sizes (`training.md`), cost at the paper's shapes with random weights"),
    ("Table 5", "zero-shot accuracy, b1.58 vs LLaMA", "eval", ["results/cpu/tables/eval.md"], "partly",
     "every model on the Table 5 tasks in `eval.md`, not in Table 5's layout"),
    ("Table 6", "4-bit KV cache", "table6", ["results/cpu/tables/table6.md"], "built", ""),
    ("Table 7", "largest batch and throughput", "table7", ["results/cpu/tables/table7.md"], "built",
     "at 700M, not 70B"),
    ("Table 8", "b1.58 vs StableLM-3B", "-", [], "not built", "needs a 3B model trained on 2T tokens"),
    ("Table 9", "ablations: Elastic, Pre-LN, BMT", "-", [], "not built", ""),
    ("Tables 10-13", "hyperparameters, beside the paper's", "hparams", ["results/cpu/tables/hparams.md"], "built",
     ""),
    ("Figure 1", "BitLinear and the BitNet block", "-", [], "n/a",
     "a diagram; the code it draws is `bitnet_repro/bitlinear.py`"),
    ("Figure 2", "S-shaped loss; the schedule ablation", "-", [], "not built", ""),
    ("Figure 3", "matmul energy at 7nm by model size", "figure3", ["results/energy/figure3.png"], "built", ""),
    ("Figure 4", "scaling law: loss against parameters", "all", ["results/cpu/figures/training_curves.png"],
     "partly", "the right-hand panel of `training_curves.png`; no fit, no energy axis"),
    ("Figure 5", "accuracy against model size", "eval", ["results/cpu/figures/eval_scaling.png"], "partly",
     "`eval_scaling.png` against parameters, not energy"),
    ("Figure 6", "stability over peak learning rates", "figure6", ["results/cpu/figures/figure6.png"], "built",
     ""),
    ("Figure 7", "PTQ baselines across sizes", "figure7", ["results/cpu/figures/figure7.png"], "built", ""),
    ("Figure 8", "latency and memory by model size", "figure8",
     ["results/cpu/figures/figure8.png", "results/cpu/figures/figure8_large.png"], "built",
     "700M-1.3B, and 7B with `table4_large`"),
    ("Figure 9", "training loss curves across sizes", "all", ["results/cpu/figures/training_curves.png"], "built",
     "the per-size panels of `training_curves.png`"),
    ("Figure 10", "LR and weight-decay schedule", "figure10", ["results/cpu/figures/figure10.png"], "built", ""),
]


def findings(profile: str = "cpu") -> str:
    """A short summary of the claims ledger: one line per claim with its verdict."""
    path = ROOT / f"results/{profile}/tables/claims.json"
    if not path.exists():
        raise ReproError(f"{path} is missing: `snakemake claims --config profile={profile}` builds it")
    ledger = json.loads(path.read_text())
    meta, claims = ledger["meta"], ledger["claims"]
    verdict = {True: "**holds**", False: "**does not hold**", None: "untested"}
    counts = {v: sum(c["holds"] is k for c in claims) for k, v in verdict.items()}
    beat = len(meta["models_beating_floor"])
    lines = [f"The claims ledger of profile `{profile}` (`results/{profile}/tables/claims.md`): "
             f"{counts['**holds**']} of the paper's {len(claims)} headline claims hold here, "
             f"{counts['**does not hold**']} does not, {counts['untested']} cannot be tested yet. "
             f"{beat} of the {meta['models']} trained models beat the Kneser-Ney trigram fitted on the same tokens "
             "on every validation set, so no model-quality claim is tested on them: at this scale a comparison "
             "between models measures noise (see \"Scales\").", ""]
    for c in sorted(claims, key=lambda c: {True: 0, False: 1, None: 2}[c["holds"]]):
        why = re.split(r"[;(]", c["reason"], maxsplit=1)[0].strip().rstrip(":,") if c["holds"] is None else ""
        lines.append(f"- {verdict[c['holds']]}: {c['claim']} ({c['paper']})" + (f": {why}" if why else ""))
    return "\n".join(lines)


def artefact_map() -> str:
    rows = ["| paper | what | target | output (`cpu`) | status |", "|---|---|---|---|---|"]
    for name, what, target, outputs, status, note in ARTEFACTS:
        out = ", ".join(f"`{o}`" for o in outputs) or "-"
        tgt = f"`{target}`" if target != "-" else "-"
        rows.append(f"| {name} | {what} | {tgt} | {out} | {status}{': ' + note if note else ''} |")
    return "\n".join(rows)


def _bench_seconds(pattern: str, profile: str = "cpu") -> float:
    total = 0.0
    for p in sorted((ROOT / f"results/{profile}/benchmarks").glob(pattern)):
        with open(p) as f:
            total += float(next(csv.DictReader(f, delimiter="\t"))["s"])
    return total


def dag_jobs(target: str, profile: str = "cpu") -> int:
    """Jobs of `target` planned from nothing (`snakemake -F -n`): independent of what is on disk."""
    out = subprocess.run([sys.executable, "-m", "snakemake", target, "-F", "-n", "--config", f"profile={profile}"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout  # fmt: skip
    m = re.search(r"^total\s+(\d+)", out, re.M)
    if not m:
        raise ReproError(f"snakemake {target} -F -n printed no job count")
    return int(m.group(1))


def numbers(profile: str = "cpu") -> str:
    from bitnet_repro.profile import Profile

    prof = Profile.load(profile)
    ids = [r.run_id for r in prof.runs]
    train = sum(_bench_seconds(f"train-{rid}.tsv", profile) for rid in ids) / 60
    evals = sum(_bench_seconds(f"eval-{rid}-*.tsv", profile) for rid in ids) / 60
    bench = (_bench_seconds("bench_*.tsv", profile) + _bench_seconds("ngram_baselines.tsv", profile)) / 60
    slurm = json.loads((ROOT / "results/slurm/smoke.json").read_text())
    faults = json.loads((ROOT / "results/slurm/faults.json").read_text())
    import torch

    from bitnet_repro.model import Transformer

    with torch.device("meta"):  # as the tables count them: every parameter but the embeddings and head
        params = ", ".join(f"`{r.size}` {Transformer(r.model).count_params():,}" for r in prof.runs
                           if r.model.linear == "fp16")  # fmt: skip
    rows = ["| what | measured | from |", "|---|---|---|",
            f"| jobs of `snakemake all` from nothing (`cpu`) | {dag_jobs('all', profile)} | `snakemake all -F -n` |",
            f"| the ladder's training jobs (`cpu`, {len(ids)} models) | {train:.0f} core-minutes | "
            f"`results/{profile}/benchmarks/train-*.tsv` |",
            f"| their evaluation jobs | {evals:.0f} core-minutes | `results/{profile}/benchmarks/eval-*.tsv` |",
            f"| benchmarks and count models | {bench:.0f} core-minutes | `results/{profile}/benchmarks/` |",
            f"| non-embedding parameters of the ladder (norms included) | {params} | `bitnet_repro presets` |",
            f"| smoke through SLURM (single-node cluster) | {slurm['slurm_jobs']} jobs, "
            f"{slurm['slurm_jobs_completed']} COMPLETED, {slurm['slurm_wall_s']:.0f} s against "
            f"{slurm['local_wall_s']:.0f} s locally | `results/slurm/smoke.json` |",
            f"| SLURM faults (`check_local.py faults`) | all passed: {faults['all_passed']}; run sized to "
            f"{faults['sizing']['steps']:,} steps at {faults['sizing']['step_ms_measured']:.0f} ms; time limit and "
            f"rerun bitwise: {faults['time_limit']['bitwise']}; scancel at step "
            f"{faults['scancel']['checkpoint_step_when_cancelled']} and rerun bitwise: {faults['scancel']['bitwise']}; "
            f"torchrun 2 tasks, largest weight difference {faults['torchrun_2_tasks']['max_abs_weight_diff']:.2g} | "
            "`results/slurm/faults.json` |"]
    return "\n".join(rows)


def shards() -> str:
    """Sharded data: the measured rates (`snakemake shards_bench`), the paper profile's plan from them, and the
    2-process resume check from shards (`shardcheck` profile)."""
    from bitnet_repro.data import profile_plan
    from bitnet_repro.profile import Profile

    b = json.loads((ROOT / "results/shards/bench.json").read_text())
    check = json.loads((ROOT / "results/shardcheck/checks/resume.json").read_text())
    tok, runs = b["tokenize"], {r["workers"]: r for r in b["tokenize"]["runs"]}
    load = {(r["rows"], r["cold"]): r for r in b["load"] if r["madv_random"]}
    readahead = next(r for r in b["load"] if not r["madv_random"])
    perm = b["paper_permutation"]
    paper = Profile.load("paper")
    plan = profile_plan(paper, paper.data_workers)
    need = max(b["gpu_need"].values(), key=lambda v: v["tokens_per_s_per_gpu"])
    o, d, s = b["overlap"], check["data"], check["shards"]
    many = max(runs)
    rows = ["| what | measured | from |", "|---|---|---|",
            f"| tokenizing into shards, 1 worker ({tok['cpu']}, vocabulary {tok['vocab_size']:,}) | "
            f"{runs[1]['tokens_per_s_per_core']:,} tokens/s per core "
            f"({runs[1]['mb_text_per_s_per_core']} MB of text/s, "
            f"{runs[1]['chars_per_token']} characters per token) | `results/shards/bench.json` |",
            f"| the same, {many} workers on {tok['cores']} cores | {runs[many]['tokens_per_s']:,} tokens/s "
            f"({runs[many]['tokens_per_s_per_core']:,} per core) | `results/shards/bench.json` |",
            "| 100B tokens on a node of N cores, at the 1-worker rate | "
            + ", ".join(f"{n} cores {h} h" for n, h in b["paper_hours_on_node"].items())
            + f"; {b['paper_disk_gb']:.0f} GB of uint16 shards | `results/shards/bench.json` |",
            f"| the `paper` profile's data step (`data --plan`, {paper.data_workers} workers) | "
            f"{plan['corpus_tokens']:,} tokens, >= {plan['shards_at_least']:,} shards, "
            f"{plan['disk_bytes'] / 1e9:.0f} GB, "
            f"{plan['core_hours']} core-hours, {plan['hours']} h; the longest run makes {plan['max_epochs']} epochs | "
            "`snakemake train --config profile=paper -n` |",
            f"| the loader, 512 x 2048 (a global batch) | warm {load[(512, False)]['ms_median']} ms, cold "
            f"{load[(512, True)]['ms_median']} ms | `results/shards/bench.json` |",
            f"| the loader, 64 x 2048 (a rank's share on 8 GPUs) | warm {load[(64, False)]['ms_median']} ms, cold "
            f"{load[(64, True)]['ms_median']} ms: {load[(64, True)]['tokens_per_s']:,} tokens/s; "
            "cold with the kernel's "
            f"read-ahead (no `MADV_RANDOM`) {readahead['ms_median']} ms | `results/shards/bench.json` |",
            f"| one epoch's order at the paper's scale ({perm['windows']:,} windows) | {perm['seconds']} s, "
            f"{perm['mb']:,} MB per rank | `results/shards/bench.json` |",
            f"| one GPU's need: b1.58-700M, 8 x 2048 per step, {need['device']}, compiled | {need['step_ms']} ms per "
            f"step: {need['tokens_per_s_per_gpu']:,} tokens/s, {b['loader_over_gpu_need']}x below the cold loader | "
            f"`{need['source']}` |",
            f"| a rank's loop from a cold cache, {o['step_alone_ms_per_step']} ms stand-in step | reading in the loop "
            f"{o['read_in_loop_overhead_ms']:+} ms per step, read ahead {o['read_ahead_overhead_ms']:+} ms | "
            "`results/shards/bench.json` |",
            f"| `shardcheck`: the local corpus as shards | {s['tokens']:,} tokens, {s['documents']:,} documents, "
            f"{s['shards']} shards from {s['parts']} parts, verified against the manifest | "
            "`results/shardcheck/checks/resume.json` |",
            f"| `shardcheck`: {check['world_size']} gloo processes, killed at step {check['killed_after_step']}, "
            f"resumed from {check['resumed_from_step']} | "
            f"weights bitwise equal: {check['final_weights_bitwise_equal']}; "
            f"same windows after the resume: {check['resumed_run_read_the_same_windows']}; ranks disjoint at every "
            f"step: {d['ranks_disjoint_every_step']}; {d['windows_read']:,} windows read, "
            f"{d['windows_read_more_than_once']} twice; {check['epochs']} epochs recorded | "
            "`results/shardcheck/checks/resume.json` |"]
    return "\n".join(rows)


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def toc(text: str) -> str:
    """The table of contents: every `##` heading, with its `###` headings beneath."""
    lines, in_code = [], False
    for line in text.splitlines():
        in_code ^= line.startswith("```")
        m = re.match(r"^(##|###) (.+)$", line)
        if in_code or not m or m.group(2) == "Contents":
            continue
        indent = "  " if m.group(1) == "###" else ""
        lines.append(f"{indent}- [{m.group(2)}](#{_anchor(m.group(2))})")
    return "\n".join(lines)


BLOCKS = {"findings": findings, "toc": toc, "artefacts": artefact_map, "numbers": numbers, "shards": shards}


def render(text: str) -> str:
    """README with every generated block rewritten."""
    for name, fn in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.S)
        if not pattern.search(text):
            raise ReproError(f"README has no block <!-- generated:{name} --> ... <!-- /generated:{name} -->")
        body = fn(text) if fn is toc else fn()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def arguments(p) -> None:
    p.add_argument("--readme", default=str(ROOT / "README.md"), help="the README to rewrite (default: the checkout's)")
    p.add_argument("--check", action="store_true", help="rewrite nothing; exit with an error when a block is stale")


def run(readme: str, check: bool) -> None:
    path = Path(readme)
    old = path.read_text()
    new = render(old)
    if check:
        if new != old:
            def block(text: str, name: str) -> str:
                return text.split(f"<!-- generated:{name} -->")[1].split(f"<!-- /generated:{name} -->")[0]

            stale = [n for n in BLOCKS if block(old, n) != block(new, n)]
            raise ReproError(f"README's generated blocks are stale ({', '.join(stale)}): python -m bitnet_repro readme")
        print(f"{path}: generated blocks up to date")
        return
    path.write_text(new)
    print(f"{path}: generated blocks rewritten")
