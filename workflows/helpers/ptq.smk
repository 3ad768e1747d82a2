# Helpers of workflows/ptq.smk: the profile-dependent inputs and parameters of its rules.
from bitnet_repro.ptq.baselines import setting as ptq_setting, table3_settings  # noqa: E402


def ptq_specs(profile):
    """`method:WxAy` of every row: the profile's `ptq.methods`, else every registered baseline's Table 3 settings."""
    specs = PROFILES[profile].ptq.methods or [s.spec for s in table3_settings()]
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
    p = PROFILES[profile].ptq
    return ptq_files(profile, p.size, p.suites[0])


def figure7_files(profile):
    p = PROFILES[profile].ptq
    return [f for size in p.sizes or (p.size,) for suite in p.suites for f in ptq_files(profile, size, suite)]


def ptq_pretrained_files(profile, name):
    """A pretrained model's Table 3 rows: FP16, every PTQ setting, and the low-bit models trained from it."""
    suites = PROFILES[profile].ptq.pretrained.suites
    specs = ["fp16"] + [s.replace(":", "/") for s in ptq_specs(profile)]
    specs += [f"trained/{rid}" for rid in students(profile, name)]
    return [f"results/{profile}/ptq/{name}/{spec}/{suite}.json" for suite in suites for spec in specs]


def ptq_pretrained_tables(profile):
    return [f"results/{profile}/tables/table3_{name}.md" for name in PROFILES[profile].ptq.pretrained.models]


def ptq_model(profile, model):
    """(model argument, calibration sequences, their length, whether it is a pretrained model)."""
    p = PROFILES[profile].ptq
    if model in p.pretrained.models:
        return model, p.pretrained.calib_samples or p.calib_samples, p.pretrained.calib_seq_len, True
    return f"results/{profile}/runs/{model}/model", p.calib_samples, p.calib_seq_len, False


def ptq_args(profile, model, suite):
    """Evaluation flags of a PTQ run: the profile's eval suite (trained models) or ptq.pretrained's, batched by
    the eval section's token budget unless ptq.pretrained sets its own."""
    if not ptq_model(profile, model)[3]:
        return eval_args(profile, "eval", suite)
    p = PROFILES[profile]
    section = p.ptq.pretrained
    return dataclasses.replace(section, batch_tokens=section.batch_tokens or p.eval.batch_tokens).flags(suite)


def ptq_device(profile, model):
    """Where a PTQ model is evaluated: its FP16 run's training device (cuda on the paper profile), else cpu."""
    return RUNS[profile][model].train.device if model in RUNS[profile] else "cpu"


def ptq_inputs(profile, model):
    files = [f"{data_dir(profile)}/data.json"]
    if model in RUNS[profile]:
        files.append(f"results/{profile}/runs/{model}/summary.json")
    return files


# The window of the pretrained rows' token perplexity (bitnet_repro.eval.harness.PPL_WINDOW; their context is the
# model's 8192): a student trained on shorter sequences is scored at the same windows, its rotary tables extended.
STUDENT_MAX_LENGTH = 2048


def students(profile, teacher):
    """Run ids of the profile's low-bit models trained from `teacher` (the `bitdistill` section's arms)."""
    return [rid for rid, r in PILOTS[profile].items()
            if r.distill is not None and r.distill.teacher == teacher and rid.startswith("bitdistill-")]


def distill_weights(profile):
    """The (logits, relations) weights of the profile's distilling `bitdistill` arm, as `--chosen`'s two values."""
    arm = next(r for rid, r in PILOTS[profile].items() if rid.startswith("bitdistill-")
               and r.distill is not None and (r.distill.logit_weight or r.distill.relation_weight))
    return f"{arm.distill.logit_weight:g} {arm.distill.relation_weight:g}"
