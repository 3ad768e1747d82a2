# Helpers of workflows/export.smk: the profile-dependent inputs and parameters of its rules.


def packed_manifests(profile):
    """Every BitNet (b1.58, b1) run of the profile, packed."""
    return [f"results/{profile}/packed/{rid}/manifest.json" for rid, r in RUNS[profile].items()
            if r.variant in ("bitnet_b158", "bitnet_b1") and r.model.quant_groups == 1]


def real_exports(profile):
    """export-real's outputs for the BitDistill table: the teacher (FP16) first, then its students."""
    teachers = sorted({r.distill.teacher for r in PILOTS[profile].values() if r.distill is not None})
    return [f"results/{profile}/export/{m}/exports.json" for t in teachers for m in [t, *students(profile, t)]]


def real_export_model(profile, model):
    """export-real's --model: a pretrained name as it is, a run id as its checkpoint directory."""
    return model if model not in PILOTS[profile] else f"results/{profile}/runs/{model}/model"
