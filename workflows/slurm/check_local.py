"""The suite's SLURM path, run for real on the local cluster (workflows/slurm/local-cluster.sh start first).

    python workflows/slurm/check_local.py smoke    # the smoke DAG through SLURM, compared with a local run
    python workflows/slurm/check_local.py faults   # torchrun on 2 tasks, scancel, time limit, wrong account

Every Snakemake call is the suite's own (`snakemake -s Snakefile -d <work dir> --workflow-profile
workflows/slurm/local`), in a work directory under results/slurm/work/. What was measured goes to
results/slurm/{smoke,faults}.{json,md}; the process exits non-zero when a check fails.

smoke: README's SLURM commands (the block after `<!-- slurm-commands -->`), verbatim but for their `pip install`
line, in a copy of the repository (results/slurm/work/smoke/): `snakemake smoke` with every job a SLURM job; then
every table, JSON and CSV it made compared with those of a local run (`--cores 2`, in results/smoke/, made first
when missing or with --local), byte for byte.
faults (profile `slurmcheck`: one model, a checkpoint every 100 steps, as many steps as take 2 minutes at this
machine's measured step time, at least 1,200; `slurmcheck-ddp`: the same model for 3 steps):
  - slurmcheck-ddp as one SLURM job of one process, and as one job of 2 SLURM tasks launched by torchrun (gloo, 2
    processes): equal within the DDP test's tolerance (tests/test_train.py, which also compares 3 steps; over a
    long run the two summation orders drift apart until ternary weights flip);
  - scancel of the running training job after a checkpoint, then the target again: it resumes and ends
    bitwise equal to the reference;
  - a one-minute time limit: Snakemake reports the job failed with its log; the target again resumes, bitwise;
  - a wrong account and a wrong partition: Snakemake stops at once with SLURM's message.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "results" / "slurm"
WORK = OUT / "work"
PROFILE = str(REPO / "workflows" / "slurm" / "local")
TABLE_SUFFIXES = {".md", ".csv", ".json", ".tsv", ".jsonl"}
# what the checks cover: a change to any of these makes the committed results stale (`needed`; .ci/run)
COVERED = ["Snakefile", "workflows", "bitnet_repro/train.py", "bitnet_repro/checkpoint.py", "README.md"]


def repo_files(*paths):
    """The repository's files (tracked, or new and not ignored) under `paths`, sorted."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *paths], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return sorted({x for x in out.splitlines() if (REPO / x).is_file()})


def covered_hash():
    """sha256 over the covered files' paths and contents (README: its SLURM commands only)."""
    import hashlib

    h = hashlib.sha256()
    for rel in repo_files(*COVERED):
        if rel.startswith("results/"):
            continue
        data = readme_commands().encode() if rel == "README.md" else (REPO / rel).read_bytes()
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def readme_commands():
    """README's SLURM commands: the bash block after `<!-- slurm-commands -->`."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- slurm-commands -->\s*```bash\n(.*?)```", text, re.S)
    if not block:
        sys.exit("README.md has no `<!-- slurm-commands -->` block")
    return block.group(1)


def snakemake(workdir, *args, log, timeout=1800, background=False):
    """The suite's Snakemake through the local SLURM workflow profile; stdout and stderr to `log`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--workflow-profile", PROFILE, *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "w")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=workdir)
    if background:
        return proc
    start = time.monotonic()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # a Snakemake waiting on a lost submission ignores SIGTERM
        rc = "timeout"
    fh.close()
    return rc, round(time.monotonic() - start, 1), log.read_text(errors="replace")


def slurm_job_ids(text, rule=None):
    """SLURM job ids Snakemake reported as submitted (optionally of one rule, from the log path it names)."""
    ids = re.findall(r"submitted with SLURM jobid (\d+) \(log: ([^)]*)\)", text)
    return [int(i) for i, path in ids if rule is None or f"/rule_{rule}/" in path]


def sacct(job_ids, fields="JobID,JobName,State,ExitCode,Elapsed,NTasks,AllocCPUS,Account,Partition"):
    if not job_ids:
        return []
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", ",".join(map(str, job_ids)), "-o", fields],
                         capture_output=True, text=True, check=True).stdout
    keys = fields.split(",")
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line]


def unlock(workdir, profile):
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                    "--unlock", "--config", f"profile={profile}", "-q"], cwd=workdir, capture_output=True)


def write(name, result):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# SLURM {name} check (workflows/slurm/check_local.py {name})", ""]
    for key, value in result.items():
        lines.append(f"- **{key}**: `{json.dumps(value)}`" if not isinstance(value, dict) else f"- **{key}**:")
        if isinstance(value, dict):
            lines += [f"  - {k}: `{json.dumps(v)}`" for k, v in value.items()]
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
    print((OUT / f"{name}.md").read_text())


# smoke


def tables(root):
    """Every small result file of a smoke run, by path under results/smoke/ (models, data and logs left out)."""
    skip = ("data/", "logs/", "/model/", "/checkpoint", "resume-work/", "hf-parity-work/")
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in TABLE_SUFFIXES and not any(s in str(p.relative_to(root)) for s in skip)}


def elapsed(text):
    """Snakemake's own `Elapsed time: h:mm:ss` in seconds."""
    h, m, sec = re.search(r"Elapsed time: (\d+):(\d+):([\d.]+)", text).groups()
    return round(int(h) * 3600 + int(m) * 60 + float(sec), 1)


# fields that are measurements of time (or of where a timed kill landed), not results
TIMING = re.compile(r"wall|time|seconds|elapsed|per_s|tokens_s|_s$|\bs$|_ms|date|killed_after|ratio_to_fp16|tok/s")


def fields(path):
    """A result file as {field: value}: JSON and JSON lines flattened to dotted keys, CSV / TSV by row and column."""
    import csv

    def flat(x, prefix, out):
        if isinstance(x, dict):
            for k, v in x.items():
                flat(v, f"{prefix}.{k}" if prefix else str(k), out)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                flat(v, f"{prefix}[{i}]", out)
        else:  # a function's repr names its address, which differs between any two processes
            out[prefix] = re.sub(r" at 0x[0-9a-f]+", "", x) if isinstance(x, str) else x
        return out

    text = path.read_text(errors="replace")
    if path.suffix == ".json":
        return flat(json.loads(text), "", {})
    if path.suffix == ".jsonl":
        return flat([json.loads(x) for x in text.splitlines() if x.strip()], "", {})
    if path.suffix in (".csv", ".tsv"):
        rows = list(csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix == ".tsv" else ","))
        return {f"[{i}].{k}": v for i, r in enumerate(rows) for k, v in r.items()}
    out, header = {}, None  # markdown: table cells by column name, other lines by their words
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            header = cells
        elif line.startswith("|") and header and not set(line.replace("|", "").strip()) <= set("-: "):
            out.update({f"[{i}].{h}": c for h, c in zip(header, cells)})
        elif not line.startswith("|"):  # keyed by its words: a sentence whose numbers differ is one field
            out[re.sub(r"[\d.,]+", "#", line)[:80]] = line
    return out


def differing_fields(a, b):
    """The field names (row / list indices dropped) whose values differ between two result files."""
    fa, fb = fields(a), fields(b)
    return {re.sub(r"\[\d+\]\.?", "", k) or k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)}


def data_env():
    """The environment with the data and paper directories this checkout uses named explicitly: the copy of the
    repository sits elsewhere, so its `../shared` defaults would point at nothing."""
    sys.path.insert(0, str(REPO))
    from bitnet_repro.config import DataConfig
    from bitnet_repro.data import resolve_data_dir
    from bitnet_repro.paper.writer import paper_dir

    env = dict(os.environ)
    env.setdefault("BITNET_REPRO_DATA", str(resolve_data_dir(DataConfig())))
    env.setdefault("BITNET_REPRO_PAPER", str(paper_dir()))
    return env


def check_smoke(args):
    env_local = REPO / "results" / "smoke"
    result = {}
    local_log = OUT / "logs" / "smoke-local.log"
    local_log.parent.mkdir(parents=True, exist_ok=True)
    if args.local or not (env_local / "tables" / "table3.md").exists():
        shutil.rmtree(env_local, ignore_errors=True)
        with open(local_log, "w") as fh:
            subprocess.run([sys.executable, "-m", "snakemake", "smoke", "--cores", "2", "--config", "profile=smoke"],
                           cwd=REPO, check=True, stdout=fh, stderr=subprocess.STDOUT)
    if local_log.exists():  # the local run's wall time, as Snakemake reports it
        result["local_wall_s"] = elapsed(local_log.read_text(errors="replace"))
    work, log = WORK / "smoke", OUT / "logs" / "smoke.log"
    # README's commands as a user types them (but the install: this environment has the plugin already)
    commands = "\n".join(x for x in readme_commands().splitlines() if not x.startswith("pip "))
    if args.reuse:  # the SLURM run already made (its output in results/slurm/logs/smoke.log)
        text = log.read_text(errors="replace")
        rc = 0 if "(100%) done" in text else 1
    else:
        shutil.rmtree(work, ignore_errors=True)
        for rel in repo_files("."):  # a copy of the repository as it is (committed or not), results left out
            if not rel.startswith("results/"):
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, work / rel)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as fh:
            rc = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=work, stdout=fh,
                                stderr=subprocess.STDOUT, env=data_env()).returncode  # fmt: skip
        text = log.read_text(errors="replace")
    wall = elapsed(text)
    result["readme_commands_run"] = commands.splitlines()
    ids = slurm_job_ids(text)
    jobs = sacct(ids)
    local_rules = sorted(set(re.findall(r"localrule (\w+):", text)))
    a, b = tables(env_local), tables(work / "results" / "smoke")
    same = sorted(k for k in a if k in b and a[k].read_bytes() == b[k].read_bytes())
    timing, differ = {}, {}
    for k in sorted(k for k in a if k in b and k not in same):
        keys = differing_fields(a[k], b[k])
        if all(TIMING.search(f) for f in keys) or k.startswith("benchmarks/"):
            timing[k] = sorted(keys)[:6] if not k.startswith("benchmarks/") else "Snakemake benchmark (timings)"
        else:
            differ[k] = sorted(f for f in keys if not TIMING.search(f))[:8]
    result.update({
        "covered_hash": covered_hash(),
        "slurm_rc": rc, "slurm_wall_s": wall, "slurm_jobs": len(ids),
        "slurm_jobs_completed": sum(j["State"] == "COMPLETED" for j in jobs),
        "slurm_jobs_by_rule": {r: len(slurm_job_ids(text, r)) for r in sorted(set(re.findall(r"/rule_(\w+)/", text)))},
        "local_rules": local_rules,
        "files_compared": len(same) + len(timing) + len(differ), "byte_identical": len(same),
        "differ_only_in_timings": len(timing), "differ_in_values": differ,
        "byte_identical_files": same, "timing_only_files": timing,
        "only_local": sorted(set(a) - set(b)), "only_slurm": sorted(set(b) - set(a)),
        "final_checkpoints_byte_identical": {
            p.parent.parent.name: p.read_bytes() == (work / "results" / "smoke" / p.relative_to(env_local)).read_bytes()
            for p in sorted(env_local.glob("runs/*/model/model.safetensors"))},
    })
    write("smoke", result)
    return rc == 0 and len(jobs) == len(ids) == result["slurm_jobs_completed"]


# faults


def run_dir(work, profile="slurmcheck"):
    runs = list((work / "results" / profile / "runs").glob("*/config.json"))
    return runs[0].parent if runs else None


def compare(run, ref, bitwise):
    """Final weights and the losses of two runs: bitwise, or within the DDP test's tolerance."""
    import torch
    from safetensors.torch import load_file

    w1, w2 = load_file(str(ref / "model" / "model.safetensors")), load_file(str(run / "model" / "model.safetensors"))
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (ref, run))
    diff = max((w1[k].float() - w2[k].float()).abs().max().item() for k in w1) if sorted(w1) == sorted(w2) else None
    if bitwise:
        equal = sorted(w1) == sorted(w2) and all(torch.equal(w1[k], w2[k]) for k in w1)
    else:
        equal = sorted(w1) == sorted(w2) and all(torch.allclose(w1[k], w2[k], rtol=1e-4, atol=1e-5) for k in w1)
    losses = [(s1[k], s2.get(k)) for k in s1 if k.startswith("val_") and k.endswith("loss")]
    losses += list(zip(train_losses(ref), train_losses(run), strict=True))
    if bitwise:
        same_losses = all(a == b for a, b in losses)
    else:
        same_losses = all(abs(a - b) <= 1e-4 * abs(a) for a, b in losses)
    return {"bitwise" if bitwise else "allclose_rtol1e-4_atol1e-5": equal, "max_abs_weight_diff": diff,
            "losses_compared": len(losses), "losses_equal" if bitwise else "losses_rel_1e-4": same_losses,
            "val_c4_loss": [s1["val_c4_loss"], s2["val_c4_loss"]], "world_size": s2.get("world_size")}


def train_losses(run):
    """The training loss of every step (metrics.jsonl; validation entries carry a split)."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "split" not in r]


def wait_for_checkpoint(runs, proc, min_step, timeout=600):
    """Wait until the run has a checkpoint and has logged `min_step` steps (metrics.jsonl: one line a step)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout and proc.poll() is None:
        for run in runs.glob("*"):
            metrics = run / "metrics.jsonl"
            if (run / "checkpoint" / "train_state.pt").is_file() and metrics.is_file():
                if len(metrics.read_text().splitlines()) >= min_step:
                    return True
        time.sleep(1)
    return False


def checkpoint_step(run):
    """The step of the run's last checkpoint."""
    from bitnet_repro.checkpoint import load_train_state

    return load_train_state(run / "checkpoint" / "train_state.pt")["step"]


TIME_LIMIT_S = 60  # SLURM's smallest time limit: one minute


def sized_profile(path, seconds):
    """Write the `slurmcheck` profile to `path` with as many steps (whole checkpoint intervals, at least the
    profile's own) as take `seconds` at this machine's measured step time (forward, backward and AdamW on its
    micro-batches, one thread, the profile's precision); returns the measurement and the steps chosen."""
    import math

    import torch
    import yaml

    sys.path.insert(0, str(REPO))
    from bitnet_repro.cost.train_bench import _time_steps
    from bitnet_repro.model import Transformer
    from bitnet_repro.profile import Profile

    raw = yaml.safe_load((REPO / "workflows" / "profiles" / "slurmcheck.yaml").read_text())
    run = Profile.from_dict(raw).runs[0]
    torch.set_num_threads(run.train.threads or 1)
    torch.manual_seed(0)
    micro_s = _time_steps(Transformer(run.model), run.train, 40, run.model.vocab_size, torch.device("cpu"),
                          run.train.precision, warmup=5)  # fmt: skip
    step_s = micro_s * run.train.grad_accum
    every = run.train.ckpt_every
    steps = max(run.train.steps, math.ceil(seconds / step_s / every) * every)
    raw["train"] = {**raw["train"], "steps": steps, "eval_every": steps}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(raw, sort_keys=False))
    return {"step_ms_measured": round(step_s * 1e3, 3), "steps": steps, "expected_training_s": round(steps * step_s),
            "time_limit_s": TIME_LIMIT_S, "profile_file": str(path)}


def check_faults(args):
    work = WORK / "faults"
    if args.clean:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "results" / "slurmcheck" / "runs", ignore_errors=True)
    unlock(work, "slurmcheck")
    shutil.rmtree(work / "results" / "slurmcheck-ddp" / "runs", ignore_errors=True)
    unlock(work, "slurmcheck-ddp")
    logs = OUT / "logs"
    # the run's length sized from this machine's measured step time, so that it cannot end inside the one-minute
    # time limit below however fast the machine is (a profile file outside the repository: `--config profile=`)
    sizing = sized_profile(work / "slurmcheck.yaml", seconds=TIME_LIMIT_S * 2)
    cfg = ["--config", f"profile={work / 'slurmcheck.yaml'}"]
    result, ok = {"covered_hash": covered_hash(), "sizing": sizing}, True

    # A wrong account, a wrong partition: Snakemake stops with SLURM's message, no job is queued
    for what, res in (("account", "slurm_account=no_such_account slurm_partition=local"),
                      ("partition", "slurm_account=bitnet slurm_partition=no_such_partition")):
        rc, wall, text = snakemake(work, "train", *cfg, "--default-resources", *res.split(), "mem_mb=2000",
                                   "runtime=30", "--retries", "0", log=logs / f"wrong-{what}.log", timeout=300)
        msg = [x.strip() for x in text.splitlines() if re.search(r"sbatch: error|invalid|not valid|does not", x, re.I)]
        result[f"wrong_{what}"] = {"rc": rc, "wall_s": wall, "message": msg[:3], "queued": len(slurm_job_ids(text))}
        ok &= rc not in (0, "timeout") and bool(msg)

    # The reference: one process, uninterrupted
    rc, wall, text = snakemake(work, "train", *cfg, "--retries", "0", log=logs / "reference.log")
    run = run_dir(work)
    ok &= rc == 0
    ref = work / "reference"
    shutil.rmtree(ref, ignore_errors=True)
    run.rename(ref)
    (ref / "config.json").rename(ref / "config.json.ref")  # the next runs write their own
    result["reference"] = {"rc": rc, "wall_s": wall, "train_job": sacct(slurm_job_ids(text, "train_model"))}

    # scancel mid-way, then the target again: resumes from the last checkpoint
    proc = snakemake(work, "train", *cfg, "--retries", "0", log=logs / "scancel.log", background=True)
    reached = wait_for_checkpoint(work / "results" / "slurmcheck" / "runs", proc, min_step=300)
    ids = slurm_job_ids((logs / "scancel.log").read_text(), "train_model")
    subprocess.run(["scancel", *map(str, ids)], check=False)
    rc1 = proc.wait(timeout=300)
    step = checkpoint_step(run_dir(work)) if reached else None
    text1 = (logs / "scancel.log").read_text()
    rc2, wall2, text2 = snakemake(work, "train", *cfg, "--retries", "0", log=logs / "scancel-rerun.log")
    run = run_dir(work)
    train_log = (work / "results" / "slurmcheck" / "logs").glob("train-*.log")
    resumed = [x for log in train_log for x in log.read_text().splitlines() if "resuming" in x]
    cmp = compare(run, ref, bitwise=True)
    result["scancel"] = {"checkpoint_step_when_cancelled": step, "cancelled_jobs": sacct(ids), "first_rc": rc1,
                         "reported": [x for x in text1.splitlines() if "Error in rule" in x or "log:" in x][:3],
                         "rerun_rc": rc2, "rerun_wall_s": wall2, "resumed": resumed[-1:], **cmp}
    ok &= rc1 != 0 and rc2 == 0 and bool(resumed) and cmp["bitwise"] and cmp["losses_equal"]
    shutil.rmtree(run)

    # a one-minute time limit: failed with the log named; the target again resumes
    rc1, wall1, text1 = snakemake(work, "train", *cfg, "--retries", "0", "--set-resources", "train_model:runtime=1",
                                  log=logs / "timeout.log")
    ids = slurm_job_ids(text1, "train_model")
    rc2, wall2, text2 = snakemake(work, "train", *cfg, "--retries", "0", log=logs / "timeout-rerun.log")
    run = run_dir(work)
    train_log = (work / "results" / "slurmcheck" / "logs").glob("train-*.log")
    resumed = [x for log in train_log for x in log.read_text().splitlines() if "resuming" in x]
    cmp = compare(run, ref, bitwise=True)
    reported = [x.strip() for x in text1.splitlines() if re.search(r"TIMEOUT|Error in rule|log:", x)]
    result["time_limit"] = {"first_rc": rc1, "first_wall_s": wall1, "jobs": sacct(ids), "reported": reported[:6],
                            "rerun_rc": rc2, "rerun_wall_s": wall2, "resumed": resumed[-1:], **cmp}
    ok &= rc1 != 0 and any(j["State"] == "TIMEOUT" for j in result["time_limit"]["jobs"])
    ok &= rc2 == 0 and bool(resumed) and cmp["bitwise"] and cmp["losses_equal"]
    shutil.rmtree(run)

    # torchrun on a job of 2 SLURM tasks (gloo) against one process, a few steps: the DDP test's tolerance
    ddp = ["--config", "profile=slurmcheck-ddp"]
    rc0, wall0, text0 = snakemake(work, "train", *ddp, "--retries", "0", log=logs / "torchrun-reference.log")
    ref = work / "reference-ddp"
    shutil.rmtree(ref, ignore_errors=True)
    run_dir(work, "slurmcheck-ddp").rename(ref)
    (ref / "config.json").rename(ref / "config.json.ref")
    rc, wall, text = snakemake(work, "train", *ddp, "--retries", "0", "--set-resources", "train_model:tasks=2",
                               "train_model:mpi=torchrun", log=logs / "torchrun.log")  # README's command
    run = run_dir(work, "slurmcheck-ddp")
    ids = slurm_job_ids(text, "train_model")
    train_log = next((work / "results" / "slurmcheck-ddp" / "logs").glob("train-*.log")).read_text()
    cmp = compare(run, ref, bitwise=False) if rc == rc0 == 0 else {}
    result["torchrun_2_tasks"] = {"reference_rc": rc0, "rc": rc, "wall_s": wall, "jobs": sacct(ids),
                                  "reference_job": sacct(slurm_job_ids(text0, "train_model")),
                                  "launched_by_torchrun": "torchrun" in text or "torch.distributed" in train_log,
                                  **cmp}  # fmt: skip
    ok &= rc == rc0 == 0 and cmp.get("allclose_rtol1e-4_atol1e-5", False) and cmp.get("losses_rel_1e-4", False)
    ok &= cmp.get("world_size") == 2
    result["all_passed"] = bool(ok)
    write("faults", result)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("smoke")
    s.add_argument("--local", action="store_true", help="redo the local run (results/smoke) first")
    s.add_argument("--reuse", action="store_true", help="compare the SLURM run already in results/slurm/work/smoke")
    f = sub.add_parser("faults")
    f.add_argument("--clean", action="store_true", help="also remove the work directory's data")
    sub.add_parser("needed", help="exit 0 when the covered files changed since the committed results (else 1)")
    args = p.parse_args()
    if args.what == "needed":
        done = [json.loads(p.read_text()).get("covered_hash") for p in (OUT / "smoke.json", OUT / "faults.json")
                if p.exists()]  # fmt: skip
        stale = len(done) < 2 or any(h != covered_hash() for h in done)
        print("the SLURM checks are " + ("stale: run them" if stale else "current for these files"))
        sys.exit(0 if stale else 1)
    os.environ.setdefault("SLURM_CONF", "/var/lib/bitnet-repro-slurm/etc/slurm.conf")
    ok = check_smoke(args) if args.what == "smoke" else check_faults(args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
