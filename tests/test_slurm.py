"""The SLURM workflow profiles' training launch (the cluster checks themselves: workflows/slurm/check_local.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _plan(*extra):
    cmd = [sys.executable, "-m", "snakemake", "-n", "train", "--config", "profile=slurmcheck", "--forceall", "-p"]
    plan = subprocess.run([*cmd, *extra], cwd=REPO, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    return plan.stdout


@pytest.mark.parametrize(
    "extra, launch",
    [
        ((), "python -m bitnet_repro train"),
        (("--set-resources", "train_model:tasks=2"), "torchrun --standalone --nproc-per-node 2 -m bitnet_repro train"),
    ],
)
def test_a_cpu_training_job_runs_one_process_per_task(extra, launch):
    assert launch in _plan(*extra)


def test_the_cluster_profiles_name_the_resources_the_executor_reads():
    import yaml

    paper = yaml.safe_load((REPO / "workflows/slurm/config.yaml").read_text())
    train = paper["set-resources"]["train_model"]
    # a GPU job's `tasks` becomes --ntasks-per-gpu: one task per GPU times cpus_per_task would ask for 8 x 96 CPUs
    assert "tasks" not in train and train["tasks_per_gpu"] == 0
    local = yaml.safe_load((REPO / "workflows/slurm/local/config.yaml").read_text())
    assert local["default-resources"]["slurm_partition"] == "local" and local["executor"] == "slurm"
    # a job cancelled with scancel is "CANCELLED by <uid>" in sacct, which the plugin does not read as failed
    assert paper["slurm-status-command"] == local["slurm-status-command"] == "squeue"


def test_the_faults_check_sizes_its_run_past_the_time_limit(tmp_path):
    """The time-limit case needs a job that cannot end inside one minute, on a machine of any speed: the run is
    sized from the measured step time, and the profile file it writes plans the same model with those steps."""
    sys.path.insert(0, str(REPO / "workflows" / "slurm"))
    import check_local
    import yaml

    sizing = check_local.sized_profile(tmp_path / "slurmcheck.yaml", seconds=180)
    assert sizing["steps"] >= 1200 and sizing["steps"] % 100 == 0
    assert sizing["expected_training_s"] >= 180 > check_local.TIME_LIMIT_S
    written = yaml.safe_load((tmp_path / "slurmcheck.yaml").read_text())
    assert written["name"] == "slurmcheck" and written["train"]["steps"] == sizing["steps"]
    plan = subprocess.run([sys.executable, "-m", "snakemake", "-n", "train", "--config",
                           f"profile={tmp_path / 'slurmcheck.yaml'}", "--forceall", "-p"],
                          cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert "results/slurmcheck/runs/tiny-2-bitnet_b158-" in plan.stdout
