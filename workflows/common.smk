# Profiles are loaded and validated here (JSON Schema), then resolved into runs by bitnet_repro.config
# (dataclass validation). Run ids are name-sha256(resolved config)[:10].
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)
from bitnet_repro.config import profile_data, runs_from_profile  # noqa: E402
from bitnet_repro.data import cache_key  # noqa: E402

PROFILE = config.get("profile", "cpu")
PROFILES, RUNS, DATA_KEYS = {}, {}, {}
for _path in sorted(Path(workflow.basedir, "workflows", "profiles").glob("*.yaml")):
    _profile = yaml.safe_load(_path.read_text())
    validate(_profile, "schemas/profile.schema.yaml")
    PROFILES[_profile["name"]] = _profile
    RUNS[_profile["name"]] = {r.run_id: r for r in runs_from_profile(_profile)}
    DATA_KEYS[_profile["name"]] = cache_key(profile_data(_profile))
if PROFILE not in PROFILES:
    raise ValueError(f"profile={PROFILE!r} is not one of {sorted(PROFILES)} (workflows/profiles/*.yaml)")

wildcard_constraints:
    profile="|".join(PROFILES),
    run_id=r"[A-Za-z0-9_.-]+-[0-9a-f]{10}",


def data_dir(profile):
    return f"results/{profile}/data/{DATA_KEYS[profile]}"


def summaries(profile):
    return [f"results/{profile}/runs/{rid}/summary.json" for rid in RUNS[profile]]


def bench_setting(profile, key, default):
    return PROFILES[profile].get("bench", {}).get(key, default)


def gpus_per_run(profile, run_id):
    """GPUs a training job asks for: the profile's `gpus_per_run` on CUDA profiles, none on CPU ones."""
    if RUNS[profile][run_id].train.device != "cuda":
        return 0
    return PROFILES[profile].get("gpus_per_run", 1)


def launcher(profile, gpus):
    """`python -m bitnet_repro` for one process; torchrun (DDP / FSDP, one process per GPU) for several."""
    if gpus > 1:
        return f"torchrun --standalone --nproc-per-node {gpus} -m bitnet_repro"
    return "python -m bitnet_repro"


def check_resume_run(profile):
    """The run the resume check kills: the profile's `check_resume_run`, else its first run."""
    return PROFILES[profile].get("check_resume_run", next(iter(RUNS[profile].values())).name)


# The paper's own tables (only for columns labelled as the paper's), beside the data directory.
PAPER_TABLE2 = str(Path(workflow.basedir).parent / "shared" / "paper" / "table2_energy_by_size.csv")


# Evaluation (workflows/eval.smk)


def eval_suites(profile, section="eval"):
    return PROFILES[profile].get(section, {}).get("suites", {})


def eval_files(profile):
    return [f"results/{profile}/eval/{rid}/{suite}.json" for rid in RUNS[profile] for suite in eval_suites(profile)]


def pretrained_files(profile):
    section = PROFILES[profile].get("pretrained", {})
    return [f"results/{profile}/eval/pretrained/{name}/{suite}.json"
            for name in section.get("models", []) for suite in section.get("suites", {})]


def pretrained_tables(profile):
    return [f"results/{profile}/tables/pretrained.csv"] if pretrained_files(profile) else []


def eval_args(profile, section, suite):
    """Command-line flags of one suite of a profile."""
    s = eval_suites(profile, section)[suite]
    batching = PROFILES[profile].get(section, {})
    flags = [f"--tasks {' '.join(s['tasks'])}", f"--num-fewshot {s.get('num_fewshot', 0)}",
             f"--batch-size {batching.get('batch_size', 32)}"]
    if batching.get("batch_tokens"):
        flags.append(f"--batch-tokens {batching['batch_tokens']}")
    if s.get("limit"):
        flags.append(f"--limit {s['limit']}")
    if s.get("max_length"):
        flags.append(f"--max-length {s['max_length']}")
    if s.get("ppl_max_tokens"):
        flags.append(f"--ppl-max-tokens {s['ppl_max_tokens']}")
    return " ".join(flags)


def bench_eval_models(profile):
    """The largest size's FP16 and b1.58 models (bench.size) and the profile's pretrained models."""
    size = bench_setting(profile, "size", "cpu-l")
    runs = [r for r in RUNS[profile].values() if r.size == size and r.variant in ("fp16", "bitnet_b158")]
    return runs, PROFILES[profile].get("pretrained", {}).get("models", [])


def parity_run(profile):
    """The FP16 model of the bench size (the largest CPU model)."""
    size = bench_setting(profile, "size", "cpu-l")
    return next(r for r in RUNS[profile].values() if r.size == size and r.variant == "fp16")
