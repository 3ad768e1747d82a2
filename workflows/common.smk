# What every area shares: the profiles, validated here against the JSON Schema and then resolved once into typed
# objects (bitnet_repro.profile.Profile: runs, pilots, every section with its defaults) that the rules read; the
# profile's runs and data directory; the paper's own tables; the report's categories. Run ids are
# name-sha256(resolved config)[:10]. Each area's helpers sit in its own .smk.
import dataclasses
import difflib
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

sys.path.insert(0, workflow.basedir)
from bitnet_repro.config import ConfigError  # noqa: E402
from bitnet_repro.profile import Profile  # noqa: E402
from bitnet_repro.data import cache_key, plan_text, profile_plan  # noqa: E402
from bitnet_repro.precision import cpu_bf16_native  # noqa: E402
from bitnet_repro.paper.writer import paper_dir  # noqa: E402
from bitnet_repro.utils import atomic_write_text  # noqa: E402
from workflows.slurm.preflight import slurm_preflight  # noqa: E402

# --config keys this workflow reads: a misspelt one (`profil=smoke`) stops here instead of being ignored
CONFIG_KEYS = {
    "profile": "smoke | cpu | cpu-bf16 | paper, or a path to a profile YAML (default: cpu)",
    "redraw": "true: rebuild tables and figures from the results on disk, never train or evaluate (README "
              "\"Redrawing without retraining\")",
}
for _key in config:
    if _key not in CONFIG_KEYS:
        _hint = difflib.get_close_matches(_key, CONFIG_KEYS, n=1)
        raise WorkflowError(f"unknown --config key {_key!r}" + (f"; did you mean {_hint[0]!r}?" if _hint else "")
                            + "\nKnown keys: " + "; ".join(f"{k}: {v}" for k, v in CONFIG_KEYS.items()))
REDRAW = str(config.get("redraw", "false")).lower() in ("1", "true", "yes")
if REDRAW:
    logger.info("redraw=true: only the rules that write tables and figures; every other result is read from disk. A "
                "MissingInputException names a result not made yet: the same target without redraw=true makes it.")

PROFILE = str(config.get("profile", "cpu"))
PROFILES, RUNS, PILOTS, DATA_KEYS, PROFILE_RAW = {}, {}, {}, {}, {}
_profile_files = sorted(Path(workflow.basedir, "workflows", "profiles").glob("*.yaml"))
_chosen = Path(PROFILE).resolve() if PROFILE.endswith((".yaml", ".yml")) else None
if _chosen is not None:  # `--config profile=path/to/my.yaml`: a profile kept outside the repository
    if not _chosen.is_file():
        raise WorkflowError(f"profile={PROFILE!r}: no such file")
    _profile_files.append(_chosen)  # last: it replaces a profile of the same name
for _path in _profile_files:
    # A broken profile breaks only itself: another profile's mistake is a warning, the chosen one's an error
    # naming the file, the key and what it should be (bitnet_repro.profile.check_profile)
    try:
        _resolved = Profile.load(_path)
    except ConfigError as e:
        if _path == _chosen or _path.stem == PROFILE:
            raise WorkflowError(str(e)) from None
        logger.warning(f"Skipping the broken profile {_path.name} (choose it to see the error in full): {e}")
        continue
    if _path == _chosen:
        PROFILE = _resolved.name
    PROFILES[_resolved.name] = _resolved
    PROFILE_RAW[_resolved.name] = yaml.safe_load(_path.read_text())
    RUNS[_resolved.name] = {r.run_id: r for r in _resolved.runs}
    PILOTS[_resolved.name] = {r.run_id: r for r in _resolved.pilots}
    DATA_KEYS[_resolved.name] = cache_key(_resolved.data)
if PROFILE not in PROFILES:
    _hint = difflib.get_close_matches(PROFILE, PROFILES, n=1)
    raise WorkflowError(f"profile={PROFILE!r} is not one of {sorted(PROFILES)} (workflows/profiles/*.yaml)"
                        + (f"; did you mean {_hint[0]!r}?" if _hint else ""))

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

# Snakemake's report (`snakemake --report`, README "Report"): every table (its HTML page) and figure is wrapped in
# report() with a caption from workflows/report/, one category per section of the paper and a title. The report
# sorts categories by name and a category's results by title, so both are numbered in the order they are read:
# the claims ledger, then the paper's order, then what this suite adds (at most 9 of each: "10." sorts before "2.").
REPORT_CLAIMS = "1. Claims ledger"
REPORT_TRAINING = "2. Training (Figures 9 and 10, Tables 10-13)"
REPORT_EVAL = "3. Evaluation (Figure 5, Tables 5 and 6)"
REPORT_PTQ = "4. PTQ baselines (Table 3, Figure 7)"
REPORT_COST = "5. Inference cost (Table 4, Figure 8, Table 7)"
REPORT_ENERGY = "6. Energy (Tables 1 and 2, Figure 3)"
REPORT_PILOTS = "7. Pilots, count models and stability (Figure 6)"
REPORT_BITDISTILL = "8. BitDistill (SmolLM2-135M students)"


def report_title(category, n, title):
    """The labels of a result in the report: its title, numbered within its category ("4.1 Table 3: ...")."""
    return {"Result": f"{category.split('.', 1)[0]}.{n} {title}"}


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
    files = [f"{t}/claims.html",
             f"{t}/training.html", f"{f}/training_curves.png", f"{f}/figure10.png", f"{t}/hparams.html",
             f"{t}/eval.html", f"{f}/eval_scaling.png", f"{t}/table6.html", f"{t}/pretrained.html", f"{t}/tasks.html",
             f"{t}/table3.html", *(p.removesuffix(".md") + ".html" for p in ptq_pretrained_tables(profile)),
             f"{f}/figure7.png", f"{t}/ptq_sizes.html",
             f"{t}/table4_cost.html", f"{f}/figure8.png", f"{t}/table4_cost_large.html", f"{f}/figure8_large.png",
             f"{t}/table7.html", f"{t}/packed.html",
             "results/energy/table1.html", "results/energy/table2.html", "results/energy/figure3.png",
             f"results/{profile}/baselines/ngram.json", f"{t}/pilots.html", f"{f}/figure6.png", f"{t}/budget.html",
             f"{t}/numerics.html",
             f"{t}/bitdistill.html", f"{t}/bitdistill_sweep.html"]
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


def check_targets(rule_names):
    """Stop on a command-line target that is neither a rule nor a file path, naming the closest rules. Targets are
    read from Snakemake's own argument parser; under the API or a cluster job step nothing is checked."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "snakemake" and argv0.parent.name != "snakemake":  # `snakemake`, `python -m snakemake`
        return
    from snakemake.cli import get_argument_parser

    try:
        targets = get_argument_parser().parse_known_args(sys.argv[1:])[0].targets or []
    except SystemExit:
        return
    # rules defined after this call (a target appended to the Snakefile) count too
    import re

    for path in [Path(workflow.basedir, "Snakefile"), *Path(workflow.basedir, "workflows").glob("*.smk")]:
        rule_names = [*rule_names, *re.findall(r"^rule\s+(\w+):", path.read_text(), re.M)]
    for target in targets:
        if target in rule_names or os.sep in target or "." in target or Path(target).exists():
            continue
        close = difflib.get_close_matches(target, sorted(set(rule_names)), n=3, cutoff=0.6)
        raise WorkflowError(f"no target {target!r}" + (f"; did you mean {' or '.join(map(repr, close))}?" if close else "")
                            + " `snakemake --list-target-rules` lists the targets (README \"Targets and profiles\").")
