# bitnet-repro: one DAG for every scale. Pick a profile with `--config profile=<smoke|cpu|paper>`
# (default: cpu). Targets: smoke, train, bench, eval, pretrained, table1..table4, table6, table7, figure3,
# figure6, figure7, figure8, figure10, hparams, claims, pack, all, and report_all for the report (README "Report").
# See README.
from snakemake.utils import min_version

min_version("8.0")


# Snakemake's HTML report: `snakemake --report results/<profile>/report.html --config profile=<profile> --cores 1`
# (the default job's tables and figures) or `snakemake report_all --report ...` (every one on disk). README "Report".
report: "workflows/report/workflow.rst"


include: "workflows/common.smk"
include: "workflows/helpers/train.smk"
include: "workflows/helpers/eval.smk"
include: "workflows/helpers/ptq.smk"
include: "workflows/helpers/export.smk"
include: "workflows/helpers/cost.smk"
# `--config redraw=true`: only the rules that write tables and figures (workflows/paper.smk), so every other
# result is read from disk as it is (the committed results of a fresh clone) and nothing is trained or evaluated;
# with -F they are all redrawn, in seconds (README "Redrawing without retraining").
if not REDRAW:

    include: "workflows/train.smk"
    include: "workflows/eval.smk"
    include: "workflows/ptq.smk"
    include: "workflows/export.smk"
    include: "workflows/cost.smk"


include: "workflows/paper.smk"


onstart:
    # a SLURM account or partition the cluster refuses stops here, with SLURM's message (workflows/common.smk)
    slurm_preflight(workflow)


rule all:
    # The default job: the ladder, its count-model floor, training and evaluation tables, the checks and the
    # energy model. The PTQ tables (table3, figure7), Table 6 and the cost side (table4, figure8, table7) are
    # targets of their own (README "Targets and profiles": what they cost and why they are not in `all`).
    default_target: True
    input:
        f"results/{PROFILE}/baselines/ngram.json",
        f"results/{PROFILE}/tables/training.csv",
        f"results/{PROFILE}/figures/training_curves.png",
        f"results/{PROFILE}/bench/train_step.json",
        f"results/{PROFILE}/checks/resume.json",
        f"results/{PROFILE}/tables/eval.csv",
        f"results/{PROFILE}/figures/eval_scaling.png",
        f"results/{PROFILE}/bench/eval_throughput.json",
        f"results/{PROFILE}/tables/tasks.md",
        f"results/{PROFILE}/checks/hf_parity.json",
        f"results/{PROFILE}/tables/packed.md",
        f"results/{PROFILE}/tables/hparams.md",
        f"results/{PROFILE}/figures/figure10.png",
        "results/energy/table2.md",
        "results/energy/figure3.png",


rule paper_tables:
    # Everything `all` leaves to targets of their own: Table 3, Figure 7, Table 6, Table 4's cost columns,
    # Figure 8 and Table 7.
    input:
        f"results/{PROFILE}/tables/table3.md",
        f"results/{PROFILE}/figures/figure7.png",
        f"results/{PROFILE}/tables/table6.md",
        f"results/{PROFILE}/tables/table4_cost.md",
        f"results/{PROFILE}/figures/figure8.png",
        f"results/{PROFILE}/tables/table7.md",


rule report_all:
    # Every table and figure of the profile that is on disk (report_results in workflows/common.smk), as the
    # targets of the full report: snakemake report_all --report results/<profile>/report.html --config
    # profile=<profile> --cores 1. Files not made yet are left out, not built.
    input:
        report_results(PROFILE),


rule train:
    input:
        summaries(PROFILE),


rule smoke:
    input:
        "results/smoke/tables/training.csv",
        "results/smoke/figures/training_curves.png",
        "results/smoke/bench/train_step.json",
        "results/smoke/checks/resume.json",
        "results/smoke/tables/eval.csv",
        "results/smoke/figures/eval_scaling.png",
        "results/smoke/checks/hf_parity.json",
        "results/smoke/tables/table3.md",
        "results/smoke/tables/hparams.md",
        "results/smoke/figures/figure10.png",


rule claims:
    # The claims ledger (results/<profile>/tables/claims.{json,md}): the paper's headline claims checked on the
    # profile's results. It reads Table 3, Figure 7's table, Table 6 and the cost tables, so it builds them.
    input:
        f"results/{PROFILE}/tables/claims.md",


rule figure6:
    # Figure 6: the stability test, FP16 and BitNet b1 over a ladder of peak LRs (the `stability` section; not in
    # `all`)
    input:
        f"results/{PROFILE}/figures/figure6.png",


rule hparams:
    # Tables 10-13: the hyperparameters the DAG trains with, beside the paper's (in `all`)
    input:
        f"results/{PROFILE}/tables/hparams.md",


rule figure10:
    # Figure 10: the LR and weight-decay schedule drawn from a run's metrics (in `all`)
    input:
        f"results/{PROFILE}/figures/figure10.png",


rule pilots:
    # The learning-rate pilots that chose the ladder's LRs (not in `all`): results/<profile>/tables/pilots.md
    input:
        f"results/{PROFILE}/tables/pilots.md",


rule numerics:
    # bf16 + torch.compile against fp32 eager at one size, several seeds (the profile's `numerics` section; not in
    # `all`): results/<profile>/tables/numerics.md
    input:
        f"results/{PROFILE}/tables/numerics.md",


rule budget:
    # Ladder models with 2x / 4x the ladder's tokens (the profile's `budget` section; not in `all`)
    input:
        f"results/{PROFILE}/tables/budget.md",


rule bitdistill:
    # SmolLM2-135M to BitNet b1.58: BitDistill and ternary QAT without distillation, trained from the real
    # pretrained model (the profile's `bitdistill` section; not in `all`)
    input:
        f"results/{PROFILE}/tables/bitdistill.md",


rule bitdistill_sweep:
    # BitDistill's loss weights: the distilling arm's recipe at several weight pairs for a shorter training (the
    # `bitdistill` section's `sweep`; not in `all`)
    input:
        f"results/{PROFILE}/tables/bitdistill_sweep.md",


rule ngram:
    # Kneser-Ney count-model baselines on the profile's training tokens
    input:
        f"results/{PROFILE}/baselines/ngram.json",


rule bench:
    input:
        f"results/{PROFILE}/bench/train_step.json",


rule eval:
    input:
        f"results/{PROFILE}/tables/eval.csv",
        f"results/{PROFILE}/figures/eval_scaling.png",
        f"results/{PROFILE}/tables/tasks.md",
        f"results/{PROFILE}/checks/hf_parity.json",


rule pretrained:
    input:
        pretrained_tables(PROFILE),


rule table3:
    # Table 3 at the profile's Table 3 size (ptq.size); the SmolLM2 version is `table3_pretrained`.
    input:
        f"results/{PROFILE}/tables/table3.md",


rule table3_pretrained:
    input:
        ptq_pretrained_tables(PROFILE),


rule figure7:
    input:
        f"results/{PROFILE}/figures/figure7.png",


rule pack:
    # Every BitNet model of the profile as a packed artefact, and their sizes against FP16.
    input:
        f"results/{PROFILE}/tables/packed.md",


rule table6:
    # Table 6: every b1.58 model zero-shot with an FP and a 4-bit KV cache.
    input:
        f"results/{PROFILE}/tables/table6.md",


rule table4:
    # Table 4's cost columns (memory, latency; FP16 vs b1.58 at the paper's shapes on this machine) + Figure 8.
    input:
        f"results/{PROFILE}/tables/table4_cost.md",


rule figure8:
    input:
        f"results/{PROFILE}/figures/figure8.png",


rule table4_large:
    # Table 4 and Figure 8 with the profile's large sizes measured through llama.cpp (cpu: 7B)
    input:
        f"results/{PROFILE}/tables/table4_cost_large.md",


rule table7:
    input:
        f"results/{PROFILE}/tables/table7.md",


rule table1:
    input:
        "results/energy/table1.md",


rule table2:
    input:
        "results/energy/table2.md",


rule figure3:
    input:
        "results/energy/figure3.png",


# A target that names no rule and no file path (`snakemake tabel3`) stops with a did-you-mean, before the DAG
check_targets([r.name for r in workflow.rules])
