# bitnet-repro: one DAG for every scale. Pick a profile with `--config profile=<smoke|cpu|paper>`
# (default: cpu). Targets: smoke, train, bench, all. See README.
from snakemake.utils import min_version

min_version("8.0")


include: "workflows/common.smk"
include: "workflows/train.smk"


rule all:
    default_target: True
    input:
        f"results/{PROFILE}/tables/training.csv",
        f"results/{PROFILE}/figures/training_curves.png",
        f"results/{PROFILE}/bench/train_step.json",
        f"results/{PROFILE}/checks/resume.json",


rule train:
    input:
        summaries(PROFILE),


rule smoke:
    input:
        "results/smoke/tables/training.csv",
        "results/smoke/figures/training_curves.png",
        "results/smoke/bench/train_step.json",
        "results/smoke/checks/resume.json",


rule bench:
    input:
        f"results/{PROFILE}/bench/train_step.json",
