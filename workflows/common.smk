# Profiles are loaded and validated here (JSON Schema), then resolved into runs by bitnet_repro.config
# (dataclass validation). Run ids are name-sha256(resolved config)[:10].
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)
from bitnet_repro.config import pilot_runs, profile_data, runs_from_profile  # noqa: E402
from bitnet_repro.data import cache_key  # noqa: E402

PROFILE = config.get("profile", "cpu")
PROFILES, RUNS, PILOTS, DATA_KEYS = {}, {}, {}, {}
for _path in sorted(Path(workflow.basedir, "workflows", "profiles").glob("*.yaml")):
    _profile = yaml.safe_load(_path.read_text())
    validate(_profile, "schemas/profile.schema.yaml")
    PROFILES[_profile["name"]] = _profile
    RUNS[_profile["name"]] = {r.run_id: r for r in runs_from_profile(_profile)}
    PILOTS[_profile["name"]] = {r.run_id: r for r in pilot_runs(_profile)}
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


def train_priority(profile, run_id):
    """Longest training jobs first (their step cost grows with the weights of blocks and head, BitNet ~10% more),
    so that two cores finish the ladder together instead of waiting on one large model at the end."""
    m = any_run(profile, run_id).model
    cost = (m.n_params_nonembedding + m.d_model * m.vocab_size) * (1.1 if m.is_bitnet else 1.0)
    return int(cost // 1000)


def ngram_blimp_flag(profile):
    """BLiMP for the count models, with the profile's BLiMP limit, when the profile evaluates BLiMP."""
    for suite in eval_suites(profile).values():
        if "blimp" in suite.get("tasks", []):
            return f"--blimp-limit {suite.get('limit', 1000)}"
    return ""


def pilot_summaries(profile):
    return [f"results/{profile}/runs/{rid}/summary.json" for rid in PILOTS[profile]]


def any_run(profile, run_id):
    """A run of the profile's ladder or of its LR pilots."""
    return RUNS[profile].get(run_id) or PILOTS[profile][run_id]


def bench_setting(profile, key, default):
    return PROFILES[profile].get("bench", {}).get(key, default)


def gpus_per_run(profile, run_id):
    """GPUs a training job asks for: the profile's `gpus_per_run` on CUDA profiles, none on CPU ones."""
    if any_run(profile, run_id).train.device != "cuda":
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
PAPER_DIR = str(Path(workflow.basedir).parent / "shared" / "paper")
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
    """Command-line flags of one suite of a profile's section (eval, pretrained)."""
    return suite_args(PROFILES[profile].get(section, {}), suite)


def suite_args(section, suite):
    """Command-line flags of one suite of a section: {suites: {name: {...}}, batch_size, batch_tokens}."""
    s = section.get("suites", {})[suite]
    flags = [f"--tasks {' '.join(s['tasks'])}", f"--num-fewshot {s.get('num_fewshot', 0)}",
             f"--batch-size {section.get('batch_size', 32)}"]
    if section.get("batch_tokens"):
        flags.append(f"--batch-tokens {section['batch_tokens']}")
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


# PTQ baselines (workflows/ptq.smk): baselines/ registers the methods; each contributes its Table 3 settings.
from baselines import setting as ptq_setting, table3_settings  # noqa: E402

PAPER_TABLE3 = str(Path(workflow.basedir).parent / "shared" / "paper" / "table3_ptq_zeroshot_6.7B.csv")


def ptq_section(profile):
    return PROFILES[profile].get("ptq", {})


def ptq_specs(profile):
    """`method:WxAy` of every row: the profile's `ptq.methods`, else every registered baseline's Table 3 settings."""
    specs = ptq_section(profile).get("methods") or [s.spec for s in table3_settings()]
    return [ptq_setting(s).spec for s in specs]  # unknown methods and impossible settings fail here, at once


def ptq_run(profile, size, variant):
    run = next((r for r in RUNS[profile].values() if r.size == size and r.variant == variant), None)
    if run is None:
        raise ValueError(f"ptq: profile {profile!r} trains no {variant} model of size {size!r} (its `models`)")
    return run


def ptq_files(profile, size, suite):
    """The PTQ results of one size and suite, and the evaluations of its FP16 and BitNet b1 runs."""
    fp16, b1 = ptq_run(profile, size, "fp16"), ptq_run(profile, size, "bitnet_b1")
    files = [f"results/{profile}/eval/{r.run_id}/{suite}.json" for r in (fp16, b1)]
    return files + [f"results/{profile}/ptq/{fp16.run_id}/{s.replace(':', '/')}/{suite}.json"
                    for s in ptq_specs(profile)]


def table3_files(profile):
    p = ptq_section(profile)
    return ptq_files(profile, p["size"], p["suites"][0])


def figure7_files(profile):
    p = ptq_section(profile)
    return [f for size in p.get("sizes", [p["size"]]) for suite in p["suites"] for f in ptq_files(profile, size, suite)]


def ptq_pretrained_files(profile, name):
    suites = ptq_section(profile).get("pretrained", {}).get("suites", {})
    return [f"results/{profile}/ptq/{name}/{spec}/{suite}.json"
            for suite in suites for spec in ["fp16"] + [s.replace(":", "/") for s in ptq_specs(profile)]]


def ptq_pretrained_tables(profile):
    return [f"results/{profile}/tables/table3_{name}.md"
            for name in ptq_section(profile).get("pretrained", {}).get("models", [])]


def ptq_model(profile, model):
    """(model argument, calibration sequences, their length, whether it is a pretrained model)."""
    p = ptq_section(profile)
    if model in p.get("pretrained", {}).get("models", []):
        pre = p["pretrained"]
        return model, pre.get("calib_samples", p.get("calib_samples", 128)), pre.get("calib_seq_len", 512), True
    return f"results/{profile}/runs/{model}/model", p.get("calib_samples", 128), p.get("calib_seq_len", 256), False


def ptq_args(profile, model, suite):
    """Evaluation flags of a PTQ run: the profile's eval suite (trained models) or ptq.pretrained's."""
    if not ptq_model(profile, model)[3]:
        return eval_args(profile, "eval", suite)
    batching = {"batch_tokens": PROFILES[profile].get("eval", {}).get("batch_tokens")}
    return suite_args({**batching, **ptq_section(profile)["pretrained"]}, suite)


def ptq_device(profile, model):
    """Where a PTQ model is evaluated: its FP16 run's training device (cuda on the paper profile), else cpu."""
    return RUNS[profile][model].train.device if model in RUNS[profile] else "cpu"


def ptq_inputs(profile, model):
    files = [f"{data_dir(profile)}/data.json"]
    if model in RUNS[profile]:
        files.append(f"results/{profile}/runs/{model}/summary.json")
    return files


def packed_manifests(profile):
    """Every BitNet (b1.58, b1) run of the profile, packed."""
    return [f"results/{profile}/packed/{rid}/manifest.json" for rid, r in RUNS[profile].items()
            if r.variant in ("bitnet_b158", "bitnet_b1") and r.model.quant_groups == 1]


# Table 6 (workflows/eval.smk): b1.58 models with and without a quantized KV cache.
PAPER_TABLE6 = str(Path(workflow.basedir).parent / "shared" / "paper" / "table6_kv4bit.csv")


def table6_section(profile):
    return PROFILES[profile].get("table6", {})


def table6_files(profile):
    t = table6_section(profile)
    runs = [rid for rid, r in RUNS[profile].items() if r.variant == "bitnet_b158"]
    return [f"results/{profile}/table6/{rid}/kv{b}.json" for rid in runs for b in (16, t.get("kv_bits", 4))]


def table6_args(profile, bits):
    t = table6_section(profile)
    flags = [f"--tasks {' '.join(t.get('tasks', ['table5']))}", "--num-fewshot 0",
             f"--batch-tokens {PROFILES[profile].get('eval', {}).get('batch_tokens', 8192)}"]
    if t.get("limit"):
        flags.append(f"--limit {t['limit']}")
    if int(bits) != 16:
        flags.append(f"--kv-bits {bits}")
    return " ".join(flags)


# Inference cost (workflows/cost.smk): Table 4's cost columns, Figure 8, Table 7.
def cost_section(profile):
    return PROFILES[profile].get("cost", {})


def cost_files(profile, large=False):
    """Every measurement of the profile's cost sizes; with `large`, also llama.cpp at its large sizes."""
    c = cost_section(profile)
    engines = c.get("engines", {"llama.cpp": ["fp16", "b158"], "torch": ["fp16", "b158"]})
    files = [f"results/{profile}/cost/{size}/{engine}-{variant}.json"
             for size in c.get("sizes", []) for engine, variants in engines.items() for variant in variants]
    if large:
        files += [f"results/{profile}/cost/{size}/llama.cpp-{variant}.json"
                  for size in c.get("large_sizes", []) for variant in engines.get("llama.cpp", [])]
    return files


def cost_engines(profile, size):
    """Large sizes are measured through llama.cpp only (our float32 model and its copies would not fit)."""
    return "llama.cpp" if size in cost_section(profile).get("large_sizes", []) else "llama.cpp torch"


def table7_files(profile):
    return [f"results/{profile}/cost/table7/{v}.json" for v in ("fp16", "b158")]


def table7_size(profile):
    return cost_section(profile).get("table7", {}).get("size", "700M")


# Snakemake's report (`snakemake --report`, README "Report"): every table and figure is wrapped in report() with
# a caption from workflows/report/ and one category per section of the paper.
REPORT_TRAINING = "Training"
REPORT_PILOTS = "Pilots and count models"
REPORT_EVAL = "Evaluation"
REPORT_PTQ = "PTQ baselines (Table 3, Figure 7)"
REPORT_COST = "Inference cost (Table 4, Figure 8, Table 7)"
REPORT_ENERGY = "Energy (Tables 1 and 2, Figure 3)"


def report_results(profile):
    """Every file of the profile that is wrapped in report() and is on disk, as the inputs of `report_all` (the
    target of a report of everything made so far). A file that is not there is left out, never built."""
    t, f = f"results/{profile}/tables", f"results/{profile}/figures"
    files = [f"results/{profile}/baselines/ngram.json", f"{t}/pilots.md",
             f"{t}/training.md", f"{f}/training_curves.png",
             f"{t}/eval.md", f"{f}/eval_scaling.png", f"{t}/tasks.md", f"{t}/pretrained.md", f"{t}/table6.md",
             f"{t}/table3.md", *ptq_pretrained_tables(profile), f"{t}/ptq_sizes.md", f"{f}/figure7.png",
             f"{t}/table4_cost.md", f"{f}/figure8.png", f"{t}/table4_cost_large.md", f"{f}/figure8_large.png",
             f"{t}/table7.md", f"{t}/packed.md",
             "results/energy/table1.md", "results/energy/table2.md", "results/energy/figure3.png"]
    return [p for p in files if Path(p).exists()]
