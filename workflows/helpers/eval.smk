# Helpers of workflows/eval.smk: the profile-dependent inputs and parameters of its rules.


def eval_files(profile):
    suites = PROFILES[profile].eval.suites
    return [f"results/{profile}/eval/{rid}/{suite}.json" for rid in RUNS[profile] for suite in suites]


def pretrained_files(profile):
    section = PROFILES[profile].pretrained
    return [f"results/{profile}/eval/pretrained/{name}/{suite}.json"
            for name in section.models for suite in section.suites]


def pretrained_tables(profile):
    return [f"results/{profile}/tables/pretrained.csv"] if pretrained_files(profile) else []


def eval_args(profile, section, suite):
    """Command-line flags of one suite of a profile's section (eval, pretrained)."""
    return getattr(PROFILES[profile], section).flags(suite)


def bench_eval_models(profile):
    """The largest size's FP16 and b1.58 models (bench.size) and the profile's pretrained models."""
    size = PROFILES[profile].bench.size
    runs = [r for r in RUNS[profile].values() if r.size == size and r.variant in ("fp16", "bitnet_b158")]
    return runs, list(PROFILES[profile].pretrained.models)


def parity_run(profile):
    """The FP16 model of the bench size (the largest CPU model)."""
    size = PROFILES[profile].bench.size
    return next(r for r in RUNS[profile].values() if r.size == size and r.variant == "fp16")


def ngram_blimp_flag(profile):
    """BLiMP for the count models, with the profile's BLiMP limit, when the profile evaluates BLiMP."""
    for suite in PROFILES[profile].eval.suites.values():
        if "blimp" in suite.tasks:
            return f"--blimp-limit {suite.limit or 1000}"
    return ""


def table6_files(profile):
    runs = [rid for rid, r in RUNS[profile].items() if r.variant == "bitnet_b158"]
    bits = (16, PROFILES[profile].table6.kv_bits)
    return [f"results/{profile}/table6/{rid}/kv{b}.json" for rid in runs for b in bits]


def table6_args(profile, bits):
    p = PROFILES[profile]
    flags = [f"--tasks {' '.join(p.table6.tasks)}", "--num-fewshot 0", f"--batch-tokens {p.eval.batch_tokens}"]
    if p.table6.limit:
        flags.append(f"--limit {p.table6.limit}")
    if int(bits) != 16:
        flags.append(f"--kv-bits {bits}")
    return " ".join(flags)
