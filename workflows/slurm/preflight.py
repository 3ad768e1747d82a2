"""Before the first job under Snakemake's SLURM executor: every account and partition of the workflow profile
checked with `sbatch --test-only`, so that one the cluster refuses stops with SLURM's own message (the Snakefile's
`onstart`)."""

from __future__ import annotations

import subprocess

from snakemake.exceptions import WorkflowError


def slurm_preflight(workflow) -> None:
    """Under the SLURM executor, stop before the first job with SLURM's own message when an account or partition
    of the workflow profile is refused (`sbatch --test-only`). snakemake-executor-plugin-slurm 2.x raises such
    errors in its submission thread, where Snakemake never sees them, and waits forever without a word."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm" or workflow.remote_exec:
        return
    defaults = workflow.resource_settings.default_resources or {}

    def value(resources, key):  # the value as the profile or command line wrote it; a rule's callable: None
        v = getattr(resources.get(key), "raw", None)
        return str(v).strip("'\"") or None if isinstance(v, (str, int)) else None

    pairs = set()
    for rule in workflow.rules:
        if rule.name in workflow._localrules:
            continue
        pairs.add(tuple(value(rule.resources, k) or value(defaults, k) for k in ("slurm_account", "slurm_partition")))
    for account, partition in sorted(pairs, key=str):
        cmd = ["sbatch", "--test-only", "--wrap", "true"]
        cmd += ["-A", str(account)] if account else []
        cmd += ["-p", str(partition)] if partition else []
        test = subprocess.run(cmd, capture_output=True, text=True)
        if test.returncode != 0:
            raise WorkflowError(f"SLURM refuses slurm_account={account!r} slurm_partition={partition!r} of the "
                                f"workflow profile ({' '.join(cmd)}):\n{test.stderr.strip()}")
