# What every area shares: the profiles, validated here against the JSON Schema and then resolved once into typed
# objects (bitnet_repro.profile.Profile: runs, pilots, every section with its defaults) that the rules read; the
# profile's runs and data directory; the paper's own tables; the report's categories. Run ids are
# name-sha256(resolved config)[:10]. Each area's helpers sit in its own .smk.
import dataclasses
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)
from bitnet_repro.profile import Profile  # noqa: E402
from bitnet_repro.data import cache_key  # noqa: E402
from bitnet_repro.precision import cpu_bf16_native  # noqa: E402
from bitnet_repro.paper.writer import paper_dir  # noqa: E402
from bitnet_repro.utils import atomic_write_text  # noqa: E402
from workflows.slurm.preflight import slurm_preflight  # noqa: E402

PROFILE = config.get("profile", "cpu")
PROFILES, RUNS, PILOTS, DATA_KEYS, PROFILE_RAW = {}, {}, {}, {}, {}
_profile_files = sorted(Path(workflow.basedir, "workflows", "profiles").glob("*.yaml"))
if PROFILE.endswith((".yaml", ".yml")):  # `--config profile=path/to/my.yaml`: a profile kept outside the repository
    if not Path(PROFILE).is_file():
        raise ValueError(f"profile={PROFILE!r}: no such file")
    _profile_files.append(Path(PROFILE).resolve())  # last: it replaces a profile of the same name
for _path in _profile_files:
    _profile = yaml.safe_load(_path.read_text())
    validate(_profile, "schemas/profile.schema.yaml")
    _resolved = Profile.from_dict(_profile)
    if _path == _profile_files[-1] and PROFILE.endswith((".yaml", ".yml")):
        PROFILE = _resolved.name
    PROFILES[_resolved.name] = _resolved
    PROFILE_RAW[_resolved.name] = _profile
    RUNS[_resolved.name] = {r.run_id: r for r in _resolved.runs}
    PILOTS[_resolved.name] = {r.run_id: r for r in _resolved.pilots}
    DATA_KEYS[_resolved.name] = cache_key(_resolved.data)
if PROFILE not in PROFILES:
    raise ValueError(f"profile={PROFILE!r} is not one of {sorted(PROFILES)} (workflows/profiles/*.yaml)")

# A ladder that asks for `precision: auto` trains in fp32 on a CPU without bf16 matrix units (AMX, AVX512-BF16):
# correct, but its budget was set for bf16 (README "Precision")
_ladder_train = [PROFILE_RAW[PROFILE].get("train", {})] + [m.get("train", {}) for m in PROFILE_RAW[PROFILE]["models"]]
if not cpu_bf16_native() and any(t.get("precision") == "auto" and t.get("device", "cpu") == "cpu" for t in _ladder_train):
    logger.warning(f"Profile {PROFILE!r} trains its ladder at precision `auto`, which is fp32 on this CPU (no bf16 "
                   "matrix units: AMX, AVX512-BF16): slower than the profile was planned for (README \"Precision\").")

wildcard_constraints:
    profile="|".join(PROFILES),
    run_id=r"[A-Za-z0-9_.-]+-[0-9a-f]{10}",


# The paper's own tables (only for columns labelled as the paper's): $BITNET_REPRO_PAPER, else beside the data
# directory, else beside the checkout (bitnet_repro.paper.writer.paper_dir). Without them the tables are still
# made, their paper columns empty and saying why.
PAPER_DIR = str(paper_dir())
if not Path(PAPER_DIR).is_dir():
    logger.warning(f"The paper's tables are not at {PAPER_DIR}: the paper columns of Tables 2-4, 6 and 7 will be "
                   "empty. Set BITNET_REPRO_PAPER to the directory of the paper's CSV files.")
PAPER_TABLE2 = f"{PAPER_DIR}/table2_energy_by_size.csv"
PAPER_TABLE3 = f"{PAPER_DIR}/table3_ptq_zeroshot_6.7B.csv"
PAPER_TABLE6 = f"{PAPER_DIR}/table6_kv4bit.csv"

# Snakemake's report (`snakemake --report`, README "Report"): every table and figure is wrapped in report() with
# a caption from workflows/report/ and one category per section of the paper.
REPORT_CLAIMS = "Claims ledger"  # sorts first: the report opens with it
REPORT_TRAINING = "Training"
REPORT_PILOTS = "Pilots and count models"
REPORT_EVAL = "Evaluation"
REPORT_PTQ = "PTQ baselines (Table 3, Figure 7)"
REPORT_COST = "Inference cost (Table 4, Figure 8, Table 7)"
REPORT_ENERGY = "Energy (Tables 1 and 2, Figure 3)"


def data_dir(profile):
    return f"results/{profile}/data/{DATA_KEYS[profile]}"


def summaries(profile):
    return [f"results/{profile}/runs/{rid}/summary.json" for rid in RUNS[profile]]


def pilot_summaries(profile, prefix="pilot-"):
    """The summaries of the profile's learning-rate pilots (`pilot-`) or token-budget runs (`budget-`)."""
    return [f"results/{profile}/runs/{rid}/summary.json" for rid, r in PILOTS[profile].items() if r.name.startswith(prefix)]


def any_run(profile, run_id):
    """A run of the profile's ladder or of its LR pilots."""
    return RUNS[profile].get(run_id) or PILOTS[profile][run_id]


def write_run_config(run, path, log):
    """config.json of a run, as `python -m bitnet_repro config` writes it."""
    atomic_write_text(Path(path), json.dumps(run.to_dict(), indent=2))
    Path(log).write_text(f"{run.name} ({run.run_id}): {path}\n")


def whole_machine(profile):
    """Threads of a timing job: every core Snakemake was given (--cores); under a cluster executor, which has no
    --cores (workflow.cores raises), the cost section's `threads`, the cores the measurement itself uses."""
    try:
        return workflow.cores
    except WorkflowError:
        return PROFILES[profile].cost.threads


def report_results(profile):
    """Every file of the profile that is wrapped in report() and is on disk, as the inputs of `report_all` (the
    target of a report of everything made so far). A file that is not there is left out, never built."""
    t, f = f"results/{profile}/tables", f"results/{profile}/figures"
    files = [f"{t}/claims.md", f"results/{profile}/baselines/ngram.json", f"{t}/pilots.md", f"{t}/numerics.md",
             f"results/{profile}/figures/figure6.png", f"{t}/budget.md",
             f"{t}/training.md", f"{f}/training_curves.png", f"{t}/hparams.md", f"{f}/figure10.png",
             f"{t}/eval.md", f"{f}/eval_scaling.png", f"{t}/tasks.md", f"{t}/pretrained.md", f"{t}/table6.md",
             f"{t}/table3.md", *ptq_pretrained_tables(profile), f"{t}/bitdistill.md", f"{t}/bitdistill_sweep.md",
             f"{t}/ptq_sizes.md",
             f"{f}/figure7.png",
             f"{t}/table4_cost.md", f"{f}/figure8.png", f"{t}/table4_cost_large.md", f"{f}/figure8_large.png",
             f"{t}/table7.md", f"{t}/packed.md",
             "results/energy/table1.md", "results/energy/table2.md", "results/energy/figure3.png"]
    return [p for p in files if Path(p).exists()]


def hparams_profiles(profile):
    """The profile files Tables 10-13 are rendered from: the paper profile and, beside it, the profile's own."""
    return [f"workflows/profiles/{p}.yaml" for p in dict.fromkeys(["paper", profile])]


def figure10_run(profile):
    """The run Figure 10 draws: the profile's last-listed BitNet b1.58 run at a ladder size (not a widened one)."""
    return [rid for rid, r in RUNS[profile].items() if r.model.linear == "bitnet_b158" and not r.size.endswith("-2x")][-1]


def claims_inputs(profile):
    """The tables the claims ledger reads: the training table and count models always; Table 3, Figure 7's table, the
    LR pilots, the stability test (Figure 6), Table 6 and the cost tables where the profile makes them."""
    p, t = PROFILES[profile], f"results/{profile}/tables"
    files = {"training": f"{t}/training.csv", "ngram": f"results/{profile}/baselines/ngram.json"}
    if p.ptq.size:
        files["table3"] = f"{t}/table3.csv"
    if len(p.ptq.sizes) > 1:
        files["ptq_sizes"] = f"{t}/ptq_sizes.csv"
    if pilot_summaries(profile):
        files["pilots"] = f"{t}/pilots.csv"
    if pilot_summaries(profile, prefix="stability-"):
        files["stability"] = f"results/{profile}/figures/figure6.csv"
    if p.table6.tasks:
        files["table6"] = f"{t}/table6.csv"
    if p.cost.sizes:
        files["table4"] = f"{t}/table4_cost.csv"
        files["table7"] = f"{t}/table7.csv"
    if p.ptq.pretrained.models:
        files["table3_pretrained"] = [f"{t}/table3_{m}.csv" for m in p.ptq.pretrained.models]
    return files
