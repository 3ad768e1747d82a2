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


def check_resume_flags(profile):
    """The resume check on a shortened run (`check_resume_steps`), else on the whole run; with several gloo
    processes (`check_resume_procs`, DDP on CPU), else with one."""
    p = PROFILES[profile]
    flags = [f"--steps {p.check_resume_steps}" if p.check_resume_steps else "",
             f"--procs {p.check_resume_procs}" if p.check_resume_procs > 1 else ""]
    return " ".join(f for f in flags if f)


def check_resume_config(profile):
    """config.json of the run the resume check shortens (`check_resume_run`, a run name of the ladder)."""
    name = PROFILES[profile].check_resume_run
    run_id = next(rid for rid, r in RUNS[profile].items() if r.name == name)
    return f"results/{profile}/runs/{run_id}/config.json"



def data_threads(profile):
    """Cores the data job reserves: for sharded data the profile's `data_workers` (a cluster job's CPUs; a local run
    gets at most --cores), else --cores; the job starts as many workers as it may use CPUs, at most `data_workers`
    (`data --workers`). One train.bin is written by one process beside SentencePiece's threads."""
    p = PROFILES[profile]
    if p.data.format != "shards":
        return 2
    if p.data_workers:
        return p.data_workers
    try:
        return max(1, workflow.cores)
    except WorkflowError:  # a cluster run without --cores: the machine's
        return os.cpu_count() or 1


class DataPlans:
    """The data job's plan in its message, `{DATA_PLANS:{wildcards.profile}/{threads}}`: formatted only when the job
    is shown, so it is neither a param nor part of the shell command. As a param, a new measurement or a finished
    data step would change it, and Snakemake would rerun the data job and retrain every model on it."""

    def __format__(self, spec):
        profile, threads = spec.rsplit("/", 1)
        return data_plan_message(profile, int(threads))


DATA_PLANS = DataPlans()


def data_plan_message(profile, threads):
    """The data job's plan, shown by dry runs: tokens, disk, tokenizing time at the measured rate, epochs per run."""
    p = PROFILES[profile]  # a finished data step knows its corpus's size
    text = plan_text(profile_plan(p, threads, Path(data_dir(profile))), f"data of profile {profile}")
    if p.data.format == "shards" and threads < p.data_workers:
        text += f"\n(workers capped at --cores={threads}; the profile's data_workers is {p.data_workers})"
    return text
