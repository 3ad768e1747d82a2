import os

# Data preparation, training, the training-cost benchmark and the training table.


rule data:
    output:
        f"results/{{profile}}/data/{{key}}/data.json",
    log:
        "results/{profile}/logs/data-{key}.log",
    benchmark:
        "results/{profile}/benchmarks/data-{key}.tsv"
    threads: 2
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro data --profile {wildcards.profile} "
        "--out $(dirname {output}) > {log} 2>&1"


rule run_config:
    output:
        "results/{profile}/runs/{run_id}/config.json",
    params:
        name=lambda wc: any_run(wc.profile, wc.run_id).name,
    log:
        "results/{profile}/logs/config-{run_id}.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro config --profile {wildcards.profile} --run {params.name} --out {output} > {log} 2>&1"


rule train_model:
    input:
        config="results/{profile}/runs/{run_id}/config.json",
        data=lambda wc: f"{data_dir(wc.profile)}/data.json",
    output:
        summary="results/{profile}/runs/{run_id}/summary.json",
        model=directory("results/{profile}/runs/{run_id}/model"),
    params:
        data=lambda wc: data_dir(wc.profile),
        out=lambda wc, output: os.path.dirname(output.summary),
        launch=lambda wc, resources: launcher(wc.profile, resources.gpu),
    log:
        "results/{profile}/logs/train-{run_id}.log",
    benchmark:
        "results/{profile}/benchmarks/train-{run_id}.tsv"
    threads: 1
    priority: lambda wc: train_priority(wc.profile, wc.run_id)
    resources:
        gpu=lambda wc: gpus_per_run(wc.profile, wc.run_id),
    conda:
        "../environment.yml"
    shell:
        "{params.launch} train --config {input.config} --data {params.data} --out {params.out} "
        "--threads {threads} > {log} 2>&1"


rule ngram_baselines:
    # Interpolated Kneser-Ney unigram, bigram and trigram on the profile's training tokens, scored with the
    # training run's validation protocol: the floor every model-quality table is read against.
    input:
        data=lambda wc: f"{data_dir(wc.profile)}/data.json",
    output:
        report("results/{profile}/baselines/ngram.json", caption="report/ngram.rst", category=REPORT_PILOTS),
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


rule training_table:
    input:
        summaries=lambda wc: summaries(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        csv="results/{profile}/tables/training.csv",
        md=report("results/{profile}/tables/training.md", caption="report/training.rst", category=REPORT_TRAINING),
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
        md=report("results/{profile}/tables/pilots.md", caption="report/pilots.rst", category=REPORT_PILOTS),
    log:
        "results/{profile}/logs/pilot_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro pilot-report {input.summaries} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule bench_train_step:
    # Asks for more threads than any machine has: Snakemake caps it at --cores, so the benchmark gets every
    # core and nothing runs beside the timing.
    output:
        "results/{profile}/bench/train_step.json",
    params:
        size=lambda wc: bench_setting(wc.profile, "size", "cpu-l"),
        steps=lambda wc: bench_setting(wc.profile, "steps", 10),
        repeats=lambda wc: bench_setting(wc.profile, "repeats", 5),
        # the ladder's own threads per model (train.threads), else every core
        threads=lambda wc, threads: PROFILES[wc.profile].get("train", {}).get("threads") or threads,
    log:
        "results/{profile}/logs/bench_train_step.log",
    benchmark:
        "results/{profile}/benchmarks/bench_train_step.tsv"
    threads: 256
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bench --profile {wildcards.profile} --size {params.size} --steps {params.steps} "
        "--repeats {params.repeats} --threads {params.threads} --out {output} > {log} 2>&1"


rule training_figure:
    input:
        summaries=lambda wc: summaries(wc.profile),
        ngram="results/{profile}/baselines/ngram.json",
    output:
        png=report("results/{profile}/figures/training_curves.png", caption="report/training_curves.rst",
                   category=REPORT_TRAINING),
        pdf="results/{profile}/figures/training_curves.pdf",
        caption="results/{profile}/figures/training_curves.md",
    params:
        runs=lambda wc, input: " ".join(os.path.dirname(p) for p in input.summaries),
    log:
        "results/{profile}/logs/training_figure.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro plot {params.runs} --ngram {input.ngram} --profile {wildcards.profile} "
        "--out results/{wildcards.profile}/figures/training_curves > {log} 2>&1"


rule check_resume:
    # SIGKILL one training run of the profile after its first checkpoint, resume, compare with a clean run.
    input:
        data=lambda wc: f"{data_dir(wc.profile)}/data.json",
    output:
        "results/{profile}/checks/resume.json",
    params:
        run=lambda wc: check_resume_run(wc.profile),
        data=lambda wc: data_dir(wc.profile),
        steps=lambda wc: f"--steps {PROFILES[wc.profile]['check_resume_steps']}"
        if "check_resume_steps" in PROFILES[wc.profile] else "",
    log:
        "results/{profile}/logs/check_resume.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro check-resume --profile {wildcards.profile} --run {params.run} --data {params.data} "
        "--work results/{wildcards.profile}/checks/resume-work {params.steps} --out {output} > {log} 2>&1"


rule bench_train_step_cuda:
    # The training-cost benchmark at a paper shape on one GPU (bf16 autocast), eager or torch.compile'd:
    #   snakemake results/gpu/bench_train_step_b158-700M_cuda.json --cores 1
    output:
        "results/gpu/bench_train_step_{size}_cuda{mode,|_compile}.json",
    params:
        compile=lambda wc: "--compile" if wc.mode else "",
        variants=lambda wc: "--variants fp16,bitnet_b158,bitnet_b1" if wc.mode else "",
    log:
        "results/gpu/logs/bench_train_step_{size}_cuda{mode}.log",
    benchmark:
        "results/gpu/benchmarks/bench_train_step_{size}_cuda{mode}.tsv"
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bench --profile paper --size {wildcards.size} --device cuda --steps 5 --repeats 3 "
        "{params.compile} {params.variants} --out {output} > {log} 2>&1"


rule pack_model:
    # The pack step: a BitNet checkpoint -> packed inference artefact (bitnet_repro/kernels/artefact.py).
    input:
        "results/{profile}/runs/{run_id}/summary.json",
    output:
        "results/{profile}/packed/{run_id}/manifest.json",
    log:
        "results/{profile}/logs/pack-{run_id}.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro pack --model results/{wildcards.profile}/runs/{wildcards.run_id}/model "
        "--out results/{wildcards.profile}/packed/{wildcards.run_id} > {log} 2>&1"


rule pack_table:
    input:
        lambda wc: packed_manifests(wc.profile),
    output:
        csv="results/{profile}/tables/packed.csv",
        md=report("results/{profile}/tables/packed.md", caption="report/packed.rst", category=REPORT_COST),
    log:
        "results/{profile}/logs/pack_table.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro pack-table {input} --profile {wildcards.profile} --out-csv {output.csv} "
        "--out-md {output.md} > {log} 2>&1"
