# Helpers of workflows/train.smk: the profile-dependent inputs and parameters of its rules.


def train_priority(profile, run_id):
    """Longest training jobs first (their step cost grows with the weights of blocks and head, BitNet ~10% more),
    so that two cores finish the ladder together instead of waiting on one large model at the end."""
    m = any_run(profile, run_id).model
    cost = (m.n_params_nonembedding + m.d_model * m.vocab_size) * (1.1 if m.is_bitnet else 1.0)
    return int(cost // 1000)


def gpus_per_run(profile, run_id):
    """GPUs a training job asks for: the profile's `gpus_per_run` on CUDA profiles, none on CPU ones."""
    if any_run(profile, run_id).train.device != "cuda":
        return 0
    return PROFILES[profile].gpus_per_run


def launcher(gpus, tasks=None):
    """`python -m bitnet_repro` for one process; torchrun (DDP / FSDP) for several: one process per GPU on CUDA
    profiles, else one per task of the job (the `tasks` resource: gloo processes on CPU, e.g. a SLURM job of
    several tasks, `--set-resources train_model:tasks=2 train_model:mpi=torchrun`, README "SLURM")."""
    procs = gpus or tasks or 1
    if procs > 1:
        return f"torchrun --standalone --nproc-per-node {procs} -m bitnet_repro"
    return "python -m bitnet_repro"


def run_data_dir(profile, run_id):
    """The token arrays a run trains on: the profile's, or (BitDistill) the same documents tokenized with the
    teacher's tokenizer, in results/<profile>/data-<tokenizer>/<cache key>."""
    data = any_run(profile, run_id).data
    if data == PROFILES[profile].data:
        return data_dir(profile)
    return f"results/{profile}/data-{data.tokenizer}/{cache_key(data)}"


def tokenized_run_config(profile, tokenizer, key):
    """config.json of a run whose data is `tokenizer`'s at cache key `key` (the data rule reads its data section)."""
    for run_id, run in PILOTS[profile].items():
        if run.data.tokenizer == tokenizer and cache_key(run.data) == key:
            return f"results/{profile}/runs/{run_id}/config.json"
    raise ValueError(f"no run of profile {profile} uses {tokenizer} data with cache key {key}")


def check_resume_steps_flag(profile):
    """The resume check on a shortened run (`check_resume_steps`), else on the whole run."""
    steps = PROFILES[profile].check_resume_steps
    return f"--steps {steps}" if steps else ""


def check_resume_config(profile):
    """config.json of the run the resume check shortens (`check_resume_run`, a run name of the ladder)."""
    name = PROFILES[profile].check_resume_run
    run_id = next(rid for rid, r in RUNS[profile].items() if r.name == name)
    return f"results/{profile}/runs/{run_id}/config.json"
