# Helpers of workflows/cost.smk: the profile-dependent inputs and parameters of its rules.


def cost_files(profile, large=False):
    """Every measurement of the profile's cost sizes; with `large`, also llama.cpp at its large sizes."""
    c = PROFILES[profile].cost
    files = [f"results/{profile}/cost/{size}/{engine}-{variant}.json"
             for size in c.sizes for engine, variants in c.engines.items() for variant in variants]
    if large:
        files += [f"results/{profile}/cost/{size}/llama.cpp-{variant}.json"
                  for size in c.large_sizes for variant in c.engines.get("llama.cpp", ())]
    return files


def cost_engines(profile, size):
    """Large sizes are measured through llama.cpp only (our float32 model and its copies would not fit)."""
    return "llama.cpp" if size in PROFILES[profile].cost.large_sizes else "llama.cpp torch"


def table7_files(profile):
    return [f"results/{profile}/cost/table7/{v}.json" for v in ("fp16", "bitnet_b158")]
