# Data preparation, training (one process, or torchrun for several GPUs) and the kill-and-resume check.


rule data:
    output:
        f"results/{{profile}}/data/{{key}}/data.json",
    log:
        "results/{profile}/logs/data-{key}.log",
    benchmark:
        "results/{profile}/benchmarks/data-{key}.tsv"
    threads: lambda wc: data_threads(wc.profile)  # sharded data: `data` starts that many workers (its --workers)
    message:
        "rule data: {output}\n{DATA_PLANS:{wildcards.profile}/{threads}}"
    conda:
        "../environment.yml"
    # unchanged since the data of the trained runs was written: Snakemake reruns a job whose command changed
    shell:
        "python -m bitnet_repro data --profile {wildcards.profile} "
        "--out $(dirname {output}) > {log} 2>&1"


localrules:
    run_config,


rule tokenized_data:
    # A run's documents tokenized with a pretrained model's own tokenizer (BitDistill's student and teacher).
    input:
        # any run with this data: only its data section is read (the key is its hash), so its mtime is not a reason
        ancient(lambda wc: tokenized_run_config(wc.profile, wc.tokenizer, wc.key)),
    output:
        "results/{profile}/data-{tokenizer}/{key}/data.json",
    log:
        "results/{profile}/logs/data-{tokenizer}-{key}.log",
    threads: 2
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro data --config {input} --out $(dirname {output}) > {log} 2>&1"


rule run_config:
    # The run's resolved config, written from the same object the DAG was built from (the profile is
    # expanded once, in common.smk); `python -m bitnet_repro config` writes the same file outside Snakemake.
    output:
        "results/{profile}/runs/{run_id}/config.json",
    log:
        "results/{profile}/logs/config-{run_id}.log",
    run:
        write_run_config(any_run(wildcards.profile, wildcards.run_id), output[0], log[0])


rule train_model:
    input:
        config="results/{profile}/runs/{run_id}/config.json",
        data=lambda wc: f"{run_data_dir(wc.profile, wc.run_id)}/data.json",
    output:
        summary="results/{profile}/runs/{run_id}/summary.json",
        model=directory("results/{profile}/runs/{run_id}/model"),
    params:
        data=lambda wc: run_data_dir(wc.profile, wc.run_id),
        out=lambda wc, output: os.path.dirname(output.summary),
        launch=lambda wc, resources: launcher(resources.gpu, resources.get("tasks")),
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


rule check_resume:
    # SIGKILL one training run of the profile after its first checkpoint, resume, compare with a clean run.
    input:
        config=lambda wc: check_resume_config(wc.profile),
        data=lambda wc: f"{data_dir(wc.profile)}/data.json",
    output:
        "results/{profile}/checks/resume.json",
    params:
        data=lambda wc: data_dir(wc.profile),
        # its flags (shortened run, gloo processes); named `steps`, as before there were two, so that the command
        # and the values of the checks already made stay the same (Snakemake reruns a job when either changes)
        steps=lambda wc: check_resume_flags(wc.profile),
        work=lambda wc: f"results/{wc.profile}/checks/resume-work",
    log:
        "results/{profile}/logs/check_resume.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro check-resume --config {input.config} --data {params.data} "
        "--work {params.work} {params.steps} --out {output} > {log} 2>&1"
