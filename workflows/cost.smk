# Inference cost (bitnet_repro/cost.py): the paper's shapes with random weights, measured on the machine at hand
# through llama.cpp and this suite's PyTorch path. Each measurement takes the whole machine (threads:
# workflow.cores) so that no other job shares its cores; the models of a size are written once and removed
# when every measurement of that size is done.


rule cost_prepare:
    output:
        temp(directory("results/{profile}/cost/models/{size}")),
    params:
        engines=lambda wc: cost_engines(wc.profile, wc.size),
    log:
        "results/{profile}/logs/cost_prepare-{size}.log",
    benchmark:
        "results/{profile}/benchmarks/cost_prepare-{size}.tsv"
    threads: 2
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-prepare --size {wildcards.size} --engines {params.engines} --out {output} "
        "> {log} 2>&1"


rule cost_measure:
    input:
        "results/{profile}/cost/models/{size}",
    output:
        "results/{profile}/cost/{size}/{engine}-{variant}.json",
    wildcard_constraints:
        engine="llama\\.cpp|torch",
        variant="fp16|b158|b158-tq1_0",
    params:
        c=lambda wc: cost_section(wc.profile),
    log:
        "results/{profile}/logs/cost_measure-{size}-{engine}-{variant}.log",
    threads: workflow.cores
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-measure --prep {input} --engine {wildcards.engine} --variant {wildcards.variant} "
        "--prompt {params.c[prompt]} --new-tokens {params.c[new_tokens]} --threads {params.c[threads]} "
        "--out {output} > {log} 2>&1"


rule cost_table:
    # Table 4: the cost columns, and the perplexity of the profile's trained models from the evaluation rules.
    input:
        cost=lambda wc: cost_files(wc.profile),
        eval="results/{profile}/tables/eval.csv",
    output:
        csv="results/{profile}/tables/table4_cost.csv",
        md=report("results/{profile}/tables/table4_cost.md", caption="report/table4_cost.rst", category=REPORT_COST),
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
        png=report("results/{profile}/figures/figure8.png", caption="report/figure8.rst", category=REPORT_COST),
        pdf="results/{profile}/figures/figure8.pdf",
        md="results/{profile}/figures/figure8.md",
    params:
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/figure8.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot-cost {input} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--figure results/{wildcards.profile}/figures/figure8 > {log} 2>&1"


rule cost_throughput_fp16:
    # Table 7: FP16 at the paper's batch (16 sequences of 512 tokens) sets the memory budget ...
    input:
        lambda wc: f"results/{wc.profile}/cost/models/{table7_size(wc.profile)}",
    output:
        "results/{profile}/cost/table7/fp16.json",
    params:
        c=lambda wc: {"context": 512, "fp16_batch": 16, **cost_section(wc.profile).get("table7", {})},
        threads=lambda wc: cost_section(wc.profile).get("threads", 2),
    log:
        "results/{profile}/logs/cost_throughput-fp16.log",
    threads: workflow.cores
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-throughput --prep {input} --variant fp16 --batch {params.c[fp16_batch]} "
        "--context {params.c[context]} --threads {params.threads} --out {output} > {log} 2>&1"


rule cost_throughput_b158:
    # ... and b1.58 gets the largest batch that fits it.
    input:
        models=lambda wc: f"results/{wc.profile}/cost/models/{table7_size(wc.profile)}",
        fp16="results/{profile}/cost/table7/fp16.json",
    output:
        "results/{profile}/cost/table7/b158.json",
    params:
        c=lambda wc: {"context": 512, **cost_section(wc.profile).get("table7", {})},
        threads=lambda wc: cost_section(wc.profile).get("threads", 2),
    log:
        "results/{profile}/logs/cost_throughput-b158.log",
    threads: workflow.cores
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-throughput --prep {input.models} --variant b158 --budget-from {input.fp16} "
        "--context {params.c[context]} --threads {params.threads} --out {output} > {log} 2>&1"


rule table7_report:
    input:
        lambda wc: table7_files(wc.profile),
    output:
        csv="results/{profile}/tables/table7.csv",
        md=report("results/{profile}/tables/table7.md", caption="report/table7.rst", category=REPORT_COST),
    params:
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/table7.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro table7 {input} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule cost_table_large:
    # Table 4 and Figure 8 with the profile's large sizes too (llama.cpp only); not in `all` (cpu: 7B, ~15 min).
    input:
        cost=lambda wc: cost_files(wc.profile, large=True),
        eval="results/{profile}/tables/eval.csv",
    output:
        csv="results/{profile}/tables/table4_cost_large.csv",
        md=report("results/{profile}/tables/table4_cost_large.md", caption="report/table4_cost_large.rst",
                  category=REPORT_COST),
        png=report("results/{profile}/figures/figure8_large.png", caption="report/figure8_large.rst",
                   category=REPORT_COST),
    params:
        paper=PAPER_DIR,
    log:
        "results/{profile}/logs/cost_table_large.log",
    conda:
        "../environment.yml"
    shell:
        "(python -m bitnet_repro cost-table {input.cost} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--eval-csv {input.eval} --out-csv {output.csv} --out-md {output.md} && "
        "python -m bitnet_repro plot-cost {input.cost} --profile {wildcards.profile} --paper-dir {params.paper} "
        "--figure results/{wildcards.profile}/figures/figure8_large) > {log} 2>&1"
