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
