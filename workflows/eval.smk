# Evaluation with lm-evaluation-harness on local data: every trained model of the profile on the profile's
# suites (eval.suites), the real pretrained models (pretrained.models), and the tables that collect them.


rule eval_model:
    input:
        "results/{profile}/runs/{run_id}/summary.json",
    output:
        "results/{profile}/eval/{run_id}/{suite}.json",
    params:
        model=lambda wc: f"results/{wc.profile}/runs/{wc.run_id}/model",
        args=lambda wc: eval_args(wc.profile, "eval", wc.suite),
    log:
        "results/{profile}/logs/eval-{run_id}-{suite}.log",
    benchmark:
        "results/{profile}/benchmarks/eval-{run_id}-{suite}.tsv"
    threads: 1
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval --model {params.model} {params.args} --threads {threads} "
        "--profile {wildcards.profile} --out {output} > {log} 2>&1"


rule eval_pretrained:
    output:
        "results/{profile}/eval/pretrained/{name}/{suite}.json",
    params:
        args=lambda wc: eval_args(wc.profile, "pretrained", wc.suite),
    log:
        "results/{profile}/logs/eval-pretrained-{name}-{suite}.log",
    benchmark:
        "results/{profile}/benchmarks/eval-pretrained-{name}-{suite}.tsv"
    threads: 2
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval --model {wildcards.name} {params.args} --threads {threads} "
        "--profile {wildcards.profile} --out {output} > {log} 2>&1"


rule eval_table:
    input:
        results=lambda wc: eval_files(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/eval.csv",
        md=report("results/{profile}/tables/eval.md", caption="report/eval.rst", category=REPORT_EVAL),
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
        md=report("results/{profile}/tables/pretrained.md", caption="report/pretrained.rst", category=REPORT_EVAL),
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
                   category=REPORT_EVAL),
        pdf="results/{profile}/figures/eval_scaling.pdf",
        caption="results/{profile}/figures/eval_scaling.md",
    log:
        "results/{profile}/logs/eval_figure.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot-eval {input} --profile {wildcards.profile} "
        "--out results/{wildcards.profile}/figures/eval_scaling > {log} 2>&1"


rule bench_eval:
    # Scoring throughput on CPU, every core (threads capped at --cores), nothing beside it.
    input:
        lambda wc: [f"results/{wc.profile}/runs/{r.run_id}/summary.json" for r in bench_eval_models(wc.profile)[0]],
    output:
        "results/{profile}/bench/eval_throughput.json",
    params:
        models=lambda wc: " ".join([f"results/{wc.profile}/runs/{r.run_id}/model" for r in bench_eval_models(wc.profile)[0]]
                                   + bench_eval_models(wc.profile)[1]),
        tasks=lambda wc: " ".join(bench_setting(wc.profile, "eval_tasks", ["hellaswag", "arc_easy"])),
        limit=lambda wc: bench_setting(wc.profile, "eval_limit", 100),
        batch_tokens=lambda wc: PROFILES[wc.profile].get("eval", {}).get("batch_tokens", 8192),
    log:
        "results/{profile}/logs/bench_eval.log",
    benchmark:
        "results/{profile}/benchmarks/bench_eval.tsv"
    threads: 256
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bench-eval --models {params.models} --tasks {params.tasks} --limit {params.limit} "
        "--batch-tokens {params.batch_tokens} --threads {threads} --profile {wildcards.profile} --out {output} "
        "> {log} 2>&1"


rule task_table:
    # Every local task loads offline, with its item count against the canonical split size.
    output:
        md=report("results/{profile}/tables/tasks.md", caption="report/tasks.rst", category=REPORT_EVAL),
        json="results/{profile}/tables/tasks.json",
    log:
        "results/{profile}/logs/task_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro tasks --out-md {output.md} --out-json {output.json} > {log} 2>&1"


rule check_hf_parity:
    # Our model type against lm-eval's stock `hf` type on the same FP16 checkpoint. Tasks with short answers:
    # the stock type refuses a continuation longer than the context (64 tokens in the smoke profile).
    input:
        lambda wc: f"results/{wc.profile}/runs/{parity_run(wc.profile).run_id}/summary.json",
    output:
        "results/{profile}/checks/hf_parity.json",
    params:
        model=lambda wc: f"results/{wc.profile}/runs/{parity_run(wc.profile).run_id}/model",
        work=lambda wc: f"results/{wc.profile}/checks/hf-parity-work",
    log:
        "results/{profile}/logs/check_hf_parity.log",
    threads: 1
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro check-hf-parity --model {params.model} --num-fewshot 1 --limit 50 "
        "--tasks winogrande wsc273 arc_easy blimp_adjunct_island lambada_openai wikitext "
        "--work {params.work} --out {output} > {log} 2>&1"


rule energy_tables:
    # Tables 1 and 2 (Sec. 2.3): the arithmetic-energy model; the paper's printed cells beside ours.
    output:
        table1_csv="results/energy/table1.csv",
        table1_md=report("results/energy/table1.md", caption="report/table1.rst", category=REPORT_ENERGY),
        table2_csv="results/energy/table2.csv",
        table2_md=report("results/energy/table2.md", caption="report/table2.rst", category=REPORT_ENERGY),
    params:
        paper=PAPER_TABLE2,
    log:
        "results/energy/logs/energy_tables.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro energy --out-dir results/energy --paper-table2 {params.paper} > {log} 2>&1"


rule energy_figure3:
    # Figure 3: matmul energy at 7nm across the sizes of Table 10, FP16 Transformer vs BitNet.
    output:
        csv="results/energy/figure3.csv",
        png=report("results/energy/figure3.png", caption="report/figure3.rst", category=REPORT_ENERGY),
        pdf="results/energy/figure3.pdf",
        caption="results/energy/figure3.md",
    log:
        "results/energy/logs/energy_figure3.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro energy --figure3 results/energy/figure3 > {log} 2>&1"


rule eval_kv:
    # Table 6: a b1.58 model on the Table 5 tasks with an FP KV cache (kv16) and a quantized one (kv4).
    input:
        "results/{profile}/runs/{run_id}/summary.json",
    output:
        "results/{profile}/table6/{run_id}/kv{bits}.json",
    params:
        model=lambda wc: f"results/{wc.profile}/runs/{wc.run_id}/model",
        args=lambda wc: table6_args(wc.profile, wc.bits),
    log:
        "results/{profile}/logs/eval_kv-{run_id}-{bits}.log",
    benchmark:
        "results/{profile}/benchmarks/eval_kv-{run_id}-{bits}.tsv"
    threads: 1
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval --model {params.model} {params.args} --threads {threads} "
        "--profile {wildcards.profile} --out {output} > {log} 2>&1"


rule table6_report:
    input:
        lambda wc: table6_files(wc.profile),
    output:
        csv="results/{profile}/tables/table6.csv",
        md=report("results/{profile}/tables/table6.md", caption="report/table6.rst", category=REPORT_EVAL),
    params:
        paper=PAPER_TABLE6,
    log:
        "results/{profile}/logs/table6.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro table6 {input} --profile {wildcards.profile} --paper {params.paper} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"
