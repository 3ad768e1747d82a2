# Paper outputs: rules that turn computed results into a table or figure of bitnet_repro/paper/ (one module
# each, written through bitnet_repro/paper/writer.py). README "Adding a paper table": a new output is its module,
# one rule here and one target in the Snakefile.


rule training_table:
    input:
        summaries=lambda wc: summaries(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/training.csv",
        md="results/{profile}/tables/training.md",
        html=report("results/{profile}/tables/training.html", caption="report/training.rst", category=REPORT_TRAINING,
                    labels=report_title(REPORT_TRAINING, 1, "Validation loss of every model (Table 4, Figure 4)")),
    log:
        "results/{profile}/logs/training_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro report {input.summaries} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule pilot_table:
    # The learning-rate pilots of the profile (its `pilots` section): `snakemake pilots`.
    input:
        summaries=lambda wc: pilot_summaries(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/pilots.csv",
        md="results/{profile}/tables/pilots.md",
        html=report("results/{profile}/tables/pilots.html", caption="report/pilots.rst", category=REPORT_PILOTS,
                    labels=report_title(REPORT_PILOTS, 2, "Learning-rate pilots")),
    log:
        "results/{profile}/logs/pilot_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro pilot-report {input.summaries} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule numerics_table:
    # The precision check (the profile's `numerics` section): `snakemake numerics`.
    input:
        summaries=lambda wc: pilot_summaries(wc.profile, "numerics-"),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/numerics.csv",
        md="results/{profile}/tables/numerics.md",
        html=report("results/{profile}/tables/numerics.html", caption="report/numerics.rst", category=REPORT_PILOTS,
                    labels=report_title(REPORT_PILOTS, 5, "Precision check: bf16 against fp32")),
    log:
        "results/{profile}/logs/numerics_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro numerics-report {input.summaries} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule training_figure:
    input:
        summaries=lambda wc: summaries(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        png=report("results/{profile}/figures/training_curves.png", caption="report/training_curves.rst",
                   category=REPORT_TRAINING,
                   labels=report_title(REPORT_TRAINING, 2, "Training curves (Figures 9 and 4)")),
        pdf="results/{profile}/figures/training_curves.pdf",
        caption="results/{profile}/figures/training_curves.md",
    params:
        out=lambda wc, output: output.png.removesuffix(".png"),
        runs=lambda wc, input: " ".join(os.path.dirname(p) for p in input.summaries),
    log:
        "results/{profile}/logs/training_figure.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot {params.runs} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out {params.out} > {log} 2>&1"


rule eval_table:
    input:
        results=lambda wc: eval_files(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/eval.csv",
        md="results/{profile}/tables/eval.md",
        html=report("results/{profile}/tables/eval.html", caption="report/eval.rst", category=REPORT_EVAL,
                    labels=report_title(REPORT_EVAL, 1, "Zero- and few-shot scores of every model (Figure 5)")),
        long="results/{profile}/tables/eval_long.csv",
    log:
        "results/{profile}/logs/eval_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval-report {input.results} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out-csv {output.csv} --out-md {output.md} --out-long {output.long} > {log} 2>&1"


rule pretrained_table:
    input:
        lambda wc: pretrained_files(wc.profile),
    output:
        csv="results/{profile}/tables/pretrained.csv",
        md="results/{profile}/tables/pretrained.md",
        html=report("results/{profile}/tables/pretrained.html", caption="report/pretrained.rst", category=REPORT_EVAL,
                    labels=report_title(REPORT_EVAL, 4, "SmolLM2-135M through the same evaluation")),
    log:
        "results/{profile}/logs/pretrained_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval-report {input} --profile {wildcards.profile} --pretrained "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule eval_figure:
    input:
        "results/{profile}/tables/eval.csv",
    output:
        png=report("results/{profile}/figures/eval_scaling.png", caption="report/eval_scaling.rst",
                   category=REPORT_EVAL, labels=report_title(REPORT_EVAL, 2, "Evaluation against size")),
        pdf="results/{profile}/figures/eval_scaling.pdf",
        caption="results/{profile}/figures/eval_scaling.md",
    params:
        out=lambda wc, output: output.png.removesuffix(".png"),
    log:
        "results/{profile}/logs/eval_figure.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot-eval {input} --profile {wildcards.profile} "
        "--out {params.out} > {log} 2>&1"


rule table6_report:
    input:
        lambda wc: table6_files(wc.profile),
    output:
        csv="results/{profile}/tables/table6.csv",
        md="results/{profile}/tables/table6.md",
        html=report("results/{profile}/tables/table6.html", caption="report/table6.rst", category=REPORT_EVAL,
                    labels=report_title(REPORT_EVAL, 3, "Table 6: 4-bit KV cache")),
    params:
        paper=PAPER_TABLE6,
    log:
        "results/{profile}/logs/table6.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro table6 {input} --profile {wildcards.profile} --paper {params.paper} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule table3_report:
    input:
        results=lambda wc: table3_files(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/table3.csv",
        md="results/{profile}/tables/table3.md",
        html=report("results/{profile}/tables/table3.html", caption="report/table3.rst", category=REPORT_PTQ,
                    labels=report_title(REPORT_PTQ, 1, "Table 3: PTQ baselines against BitNet b1 (zero-shot)")),
    params:
        paper=PAPER_TABLE3,
    log:
        "results/{profile}/logs/table3.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro ptq-table {input.results} --ngram {input.ngram} --profile {wildcards.profile} "
        "--paper {params.paper} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule table3_pretrained_report:
    input:
        results=lambda wc: ptq_pretrained_files(wc.profile, wc.model),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/table3_{model}.csv",
        md="results/{profile}/tables/table3_{model}.md",
        html=report("results/{profile}/tables/table3_{model}.html", caption="report/table3_pretrained.rst",
                    category=REPORT_PTQ, labels=report_title(REPORT_PTQ, 2, "Table 3 on the pretrained {model}")),
    params:
        paper=PAPER_TABLE3,
    log:
        "results/{profile}/logs/table3_{model}.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro ptq-table {input.results} --ngram {input.ngram} --profile {wildcards.profile} "
        "--paper {params.paper} --title 'Table 3 on {wildcards.model}' --out-csv {output.csv} --out-md {output.md} "
        "> {log} 2>&1"


rule figure7_table:
    input:
        results=lambda wc: figure7_files(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/ptq_sizes.csv",
        md="results/{profile}/tables/ptq_sizes.md",
        html=report("results/{profile}/tables/ptq_sizes.html", caption="report/ptq_sizes.rst", category=REPORT_PTQ,
                    labels=report_title(REPORT_PTQ, 4, "Figure 7's numbers: PTQ at every size")),
    params:
        paper=PAPER_TABLE3,
    log:
        "results/{profile}/logs/figure7_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro ptq-table {input.results} --ngram {input.ngram} --profile {wildcards.profile} "
        "--paper {params.paper} --title 'PTQ across sizes' --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule figure7_plot:
    input:
        table="results/{profile}/tables/ptq_sizes.csv",
        ngram="results/{profile}/baselines/ngram.json",
    output:
        png=report("results/{profile}/figures/figure7.png", caption="report/figure7.rst", category=REPORT_PTQ,
                   labels=report_title(REPORT_PTQ, 3, "Figure 7: PTQ and BitNet b1 across sizes")),
        pdf="results/{profile}/figures/figure7.pdf",
        caption="results/{profile}/figures/figure7.md",
    params:
        out=lambda wc, output: output.png.removesuffix(".png"),
    log:
        "results/{profile}/logs/figure7.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot-ptq {input.table} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out {params.out} > {log} 2>&1"


rule cost_table:
    # Table 4: the cost columns, and the perplexity of the profile's trained models from the evaluation rules.
    input:
        cost=lambda wc: cost_files(wc.profile),
        eval="results/{profile}/tables/eval.csv",
    output:
        csv="results/{profile}/tables/table4_cost.csv",
        md="results/{profile}/tables/table4_cost.md",
        html=report("results/{profile}/tables/table4_cost.html", caption="report/table4_cost.rst", category=REPORT_COST,
                    labels=report_title(REPORT_COST, 1, "Table 4: memory and latency against FP16")),
    params:
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/cost_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-table {input.cost} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--eval-csv {input.eval} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule figure8_plot:
    input:
        lambda wc: cost_files(wc.profile),
    output:
        png=report("results/{profile}/figures/figure8.png", caption="report/figure8.rst", category=REPORT_COST,
                   labels=report_title(REPORT_COST, 2, "Figure 8: latency and memory against size")),
        pdf="results/{profile}/figures/figure8.pdf",
        md="results/{profile}/figures/figure8.md",
    params:
        out=lambda wc, output: output.png.removesuffix(".png"),
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/figure8.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot-cost {input} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--figure {params.out} > {log} 2>&1"


rule cost_table_large:
    # Table 4 and Figure 8 with the profile's large sizes too (llama.cpp only); not in `all` (cpu: 7B, ~15 min).
    input:
        cost=lambda wc: cost_files(wc.profile, large=True),
        eval="results/{profile}/tables/eval.csv",
    output:
        csv="results/{profile}/tables/table4_cost_large.csv",
        md="results/{profile}/tables/table4_cost_large.md",
        html=report("results/{profile}/tables/table4_cost_large.html", caption="report/table4_cost_large.rst",
                    category=REPORT_COST, labels=report_title(REPORT_COST, 3, "Table 4 with the large sizes")),
        png=report("results/{profile}/figures/figure8_large.png", caption="report/figure8_large.rst",
                   category=REPORT_COST, labels=report_title(REPORT_COST, 4, "Figure 8 with the large sizes")),
    params:
        out=lambda wc, output: output.png.removesuffix(".png"),
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/cost_table_large.log",
    conda:
        "../environment.yml"
    shell:
        "(python -m bitnet_repro cost-table {input.cost} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--eval-csv {input.eval} --out-csv {output.csv} --out-md {output.md} && "
        "python -m bitnet_repro plot-cost {input.cost} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--figure {params.out}) > {log} 2>&1"


rule table7_report:
    input:
        lambda wc: table7_files(wc.profile),
    output:
        csv="results/{profile}/tables/table7.csv",
        md="results/{profile}/tables/table7.md",
        html=report("results/{profile}/tables/table7.html", caption="report/table7.rst", category=REPORT_COST,
                    labels=report_title(REPORT_COST, 5, "Table 7: batch and throughput in a memory budget")),
    params:
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/table7.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro table7 {input} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule pack_table:
    input:
        lambda wc: packed_manifests(wc.profile),
    output:
        csv="results/{profile}/tables/packed.csv",
        md="results/{profile}/tables/packed.md",
        html=report("results/{profile}/tables/packed.html", caption="report/packed.rst", category=REPORT_COST,
                    labels=report_title(REPORT_COST, 6, "Packed artefacts: bytes against FP16")),
    log:
        "results/{profile}/logs/pack_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro pack-table {input} --profile {wildcards.profile} --out-csv {output.csv} "
        "--out-md {output.md} > {log} 2>&1"


rule energy_tables:
    # Tables 1 and 2 (Sec. 2.3): the arithmetic-energy model; the paper's printed cells beside ours.
    output:
        table1_csv="results/energy/table1.csv",
        table1_md="results/energy/table1.md",
        table1_html=report("results/energy/table1.html", caption="report/table1.rst", category=REPORT_ENERGY,
                           labels=report_title(REPORT_ENERGY, 1, "Table 1: energy per operation")),
        table2_csv="results/energy/table2.csv",
        table2_md="results/energy/table2.md",
        table2_html=report("results/energy/table2.html", caption="report/table2.rst", category=REPORT_ENERGY,
                           labels=report_title(REPORT_ENERGY, 2, "Table 2: energy of the matrix multiplications")),
    params:
        paper=PAPER_TABLE2,
        out=lambda wc, output: os.path.dirname(output.table1_csv),
    log:
        "results/energy/logs/energy_tables.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro energy --out-dir {params.out} --paper-table2 {params.paper} > {log} 2>&1"


rule energy_figure3:
    # Figure 3: matmul energy at 7nm across the sizes of Table 10, FP16 Transformer vs BitNet.
    output:
        csv="results/energy/figure3.csv",
        png=report("results/energy/figure3.png", caption="report/figure3.rst", category=REPORT_ENERGY,
                   labels=report_title(REPORT_ENERGY, 3, "Figure 3: matmul energy across sizes")),
        pdf="results/energy/figure3.pdf",
        caption="results/energy/figure3.md",
    params:
        out=lambda wc, output: output.png.removesuffix(".png"),
    log:
        "results/energy/logs/energy_figure3.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro energy --figure3 {params.out} > {log} 2>&1"


rule budget_table:
    # Ladder models with more tokens than the ladder (the profile's `budget` section): `snakemake budget`.
    input:
        summaries=lambda wc: pilot_summaries(wc.profile, prefix="budget-"),
        ladder=lambda wc: summaries(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/budget.csv",
        md="results/{profile}/tables/budget.md",
        html=report("results/{profile}/tables/budget.html", caption="report/budget.rst", category=REPORT_PILOTS,
                    labels=report_title(REPORT_PILOTS, 4, "Token budget: more tokens than the ladder")),
    log:
        "results/{profile}/logs/budget_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro budget-table {input.summaries} --ladder {input.ladder} --ngram {input.ngram} "
        "--profile {wildcards.profile} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule bitdistill_table:
    # SmolLM2-135M's BitNet b1.58 students (the profile's `bitdistill` section): `snakemake bitdistill`.
    input:
        summaries=lambda wc: pilot_summaries(wc.profile, prefix="bitdistill-"),
        configs=lambda wc: [s.replace("summary.json", "config.json") for s in pilot_summaries(wc.profile, "bitdistill-")],
        ngram="results/{profile}/baselines/ngram.json",
        exports=lambda wc: real_exports(wc.profile),
        cost=lambda wc: ["results/{wc.profile}/export/cost.json".format(wc=wc)] if real_exports(wc.profile) else [],
    output:
        csv="results/{profile}/tables/bitdistill.csv",
        md="results/{profile}/tables/bitdistill.md",
        html=report("results/{profile}/tables/bitdistill.html", caption="report/bitdistill.rst",
                    category=REPORT_BITDISTILL,
                    labels=report_title(REPORT_BITDISTILL, 1, "BitDistill against ternary QAT")),
    log:
        "results/{profile}/logs/bitdistill_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bitdistill-table {input.summaries} --configs {input.configs} --ngram {input.ngram} "
        "--exports {input.exports} --cost {input.cost} --profile {wildcards.profile} --out-csv {output.csv} "
        "--out-md {output.md} > {log} 2>&1"


rule bitdistill_sweep_table:
    # BitDistill's loss weights chosen by a short sweep (the `bitdistill` section's `sweep`): `snakemake bitdistill_sweep`.
    input:
        summaries=lambda wc: pilot_summaries(wc.profile, prefix="distill-sweep-"),
        configs=lambda wc: [s.replace("summary.json", "config.json") for s in pilot_summaries(wc.profile, "distill-sweep-")],
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/bitdistill_sweep.csv",
        md="results/{profile}/tables/bitdistill_sweep.md",
        html=report("results/{profile}/tables/bitdistill_sweep.html", caption="report/bitdistill_sweep.rst",
                    category=REPORT_BITDISTILL,
                    labels=report_title(REPORT_BITDISTILL, 2, "BitDistill's loss-weight sweep")),
    params:
        chosen=lambda wc: distill_weights(wc.profile),
    log:
        "results/{profile}/logs/bitdistill_sweep_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bitdistill-sweep-table {input.summaries} --configs {input.configs} "
        "--chosen {params.chosen} --ngram {input.ngram} --profile {wildcards.profile} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule hparams_table:
    # Tables 10-13: the hyperparameters the DAG trains with (the presets and the profiles, resolved), beside the
    # paper's printed values; a changed preset or profile changes the table.
    input:
        profiles=lambda wc: hparams_profiles(wc.profile),
        presets="bitnet_repro/presets.py",
    output:
        csv="results/{profile}/tables/hparams.csv",
        md="results/{profile}/tables/hparams.md",
        html=report("results/{profile}/tables/hparams.html", caption="report/hparams.rst", category=REPORT_TRAINING,
                    labels=report_title(REPORT_TRAINING, 4, "Tables 10-13: hyperparameters")),
    params:
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/hparams_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro hparams-table --profiles {input.profiles} --paper-dir {params.paper} "
        "--profile {wildcards.profile} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule figure10_plot:
    # Figure 10: the LR and weight-decay schedule of the profile's largest b1.58 run, from its metrics.jsonl (every
    # step checked against the recipe), beside the paper profile's 700M recipe computed
    input:
        summary=lambda wc: f"results/{wc.profile}/runs/{figure10_run(wc.profile)}/summary.json",
        paper_profile="workflows/profiles/paper.yaml",
    output:
        png=report("results/{profile}/figures/figure10.png", caption="report/figure10.rst", category=REPORT_TRAINING,
                   labels=report_title(REPORT_TRAINING, 3, "Figure 10: LR and weight-decay schedule")),
        pdf="results/{profile}/figures/figure10.pdf",
        caption="results/{profile}/figures/figure10.md",
    params:
        run=lambda wc, input: os.path.dirname(input.summary),
        out=lambda wc, output: output.png.removesuffix(".png"),
    log:
        "results/{profile}/logs/figure10.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro figure10 {params.run} --paper-profile {input.paper_profile} "
        "--profile {wildcards.profile} --out {params.out} > {log} 2>&1"


rule claims_ledger:
    # The claims ledger: each headline claim of the paper checked on the profile's results, computed from the
    # tables named here (`snakemake claims`; it builds what it reads, Table 3 and the cost tables included).
    input:
        unpack(lambda wc: claims_inputs(wc.profile)),
    output:
        json="results/{profile}/tables/claims.json",
        md="results/{profile}/tables/claims.md",
        html=report("results/{profile}/tables/claims.html", caption="report/claims.rst", category=REPORT_CLAIMS,
                    labels=report_title(REPORT_CLAIMS, 1, "Claims ledger: each headline claim checked here")),
    params:
        optional=lambda wc, input: " ".join(f"--{k.replace('_', '-')} {v}" for k, v in input.items()
                                            if k not in ("training", "ngram", "table3_pretrained")),
        pretrained=lambda wc, input: " ".join(input.get("table3_pretrained", [])),
    log:
        "results/{profile}/logs/claims_ledger.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro claims-ledger --training {input.training} --ngram {input.ngram} {params.optional} "
        "--table3-pretrained {params.pretrained} --profile {wildcards.profile} --out-json {output.json} "
        "--out-md {output.md} > {log} 2>&1"


rule figure6_plot:
    # Figure 6: the stability test (the profile's `stability` section): FP16 and BitNet b1 over a ladder of peak LRs.
    # A diverged run is a recorded outcome of its training job, drawn and tabled here (`snakemake figure6`).
    input:
        summaries=lambda wc: pilot_summaries(wc.profile, prefix="stability-"),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        png=report("results/{profile}/figures/figure6.png", caption="report/figure6.rst", category=REPORT_PILOTS,
                   labels=report_title(REPORT_PILOTS, 3, "Figure 6: the stability test")),
        pdf="results/{profile}/figures/figure6.pdf",
        caption="results/{profile}/figures/figure6.md",
        csv="results/{profile}/figures/figure6.csv",
    params:
        runs=lambda wc, input: " ".join(os.path.dirname(p) for p in input.summaries),
        out=lambda wc, output: output.png.removesuffix(".png"),
    log:
        "results/{profile}/logs/figure6.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro figure6 {params.runs} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out {params.out} > {log} 2>&1"
