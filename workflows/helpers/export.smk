# Helpers of workflows/export.smk: the profile-dependent inputs and parameters of its rules.


def packed_manifests(profile):
    """Every BitNet (b1.58, b1) run of the profile, packed."""
    return [f"results/{profile}/packed/{rid}/manifest.json" for rid, r in RUNS[profile].items()
            if r.variant in ("bitnet_b158", "bitnet_b1") and r.model.quant_groups == 1]
