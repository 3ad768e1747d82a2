# Evaluation with lm-evaluation-harness on local data: every trained model of the profile on the profile's
# suites (eval.suites), the real pretrained models (pretrained.models), Table 6's runs with a quantized KV cache,
# the count models, and the evaluation checks (task inventory, parity with lm-eval's hf type, throughput).


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


rule ngram_baselines:
    # Interpolated Kneser-Ney unigram, bigram and trigram on the profile's training tokens, scored with the
    # training run's validation protocol: the floor every model-quality table is read against.
    input:
        data=lambda wc: f"{data_dir(wc.profile)}/data.json",
    output:
        report("results/{profile}/baselines/ngram.json", caption="report/ngram.rst", category=REPORT_PILOTS,
               labels=report_title(REPORT_PILOTS, 1, "Count models: the Kneser-Ney floor")),
    params:
        data=lambda wc: data_dir(wc.profile),
        seq_len=lambda wc: next(iter(RUNS[wc.profile].values())).train.seq_len,
        eval_tokens=lambda wc: next(iter(RUNS[wc.profile].values())).train.eval_tokens,
        blimp=lambda wc: ngram_blimp_flag(wc.profile),
    log:
        "results/{profile}/logs/ngram_baselines.log",
    benchmark:
        "results/{profile}/benchmarks/ngram_baselines.tsv"
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro ngram --data {params.data} --seq-len {params.seq_len} "
        "--eval-tokens {params.eval_tokens} {params.blimp} --profile {wildcards.profile} --out {output} > {log} 2>&1"


rule task_table:
    # Every local task loads offline, with its item count against the canonical split size.
    output:
        md="results/{profile}/tables/tasks.md",
        html=report("results/{profile}/tables/tasks.html", caption="report/tasks.rst", category=REPORT_EVAL,
                    labels=report_title(REPORT_EVAL, 5, "Task inventory")),
        json="results/{profile}/tables/tasks.json",
    log:
        "results/{profile}/logs/task_table.log",
    conda:
        "../environment.yml"
    shell:
        "(python -m bitnet_repro tasks --out-md {output.md} --out-json {output.json} && "
        "python -m bitnet_repro.paper.writer {output.md} --out {output.html}) > {log} 2>&1"


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


rule bench_eval:
    # Scoring throughput on CPU, every core Snakemake was given (whole_machine), nothing beside it.
    input:
        lambda wc: [f"results/{wc.profile}/runs/{r.run_id}/summary.json" for r in bench_eval_models(wc.profile)[0]],
    output:
        "results/{profile}/bench/eval_throughput.json",
    params:
        models=lambda wc: " ".join([f"results/{wc.profile}/runs/{r.run_id}/model" for r in bench_eval_models(wc.profile)[0]]
                                   + bench_eval_models(wc.profile)[1]),
        tasks=lambda wc: " ".join(PROFILES[wc.profile].bench.eval_tasks),
        limit=lambda wc: PROFILES[wc.profile].bench.eval_limit,
        batch_tokens=lambda wc: PROFILES[wc.profile].eval.batch_tokens,
    log:
        "results/{profile}/logs/bench_eval.log",
    benchmark:
        "results/{profile}/benchmarks/bench_eval.tsv"
    threads: lambda wc: whole_machine(wc.profile)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bench-eval --models {params.models} --tasks {params.tasks} --limit {params.limit} "
        "--batch-tokens {params.batch_tokens} --threads {threads} --profile {wildcards.profile} --out {output} "
        "> {log} 2>&1"
