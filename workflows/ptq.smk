# Post-training quantization baselines (bitnet_repro/ptq/baselines/, one file per method) on the FP16 models,
# evaluated in memory on the same suites as the trained models: Table 3 (one size, the paper's 6.7B), the same
# table for the real pretrained SmolLM2-135M, and Figure 7 (every size, zero- and few-shot).


wildcard_constraints:
    method="[a-z0-9_]+",
    label="W[0-9]+A[0-9]+",


rule ptq_eval:
    input:
        lambda wc: ptq_inputs(wc.profile, wc.model),
    output:
        "results/{profile}/ptq/{model}/{method}/{label}/{suite}.json",
    params:
        model=lambda wc: ptq_model(wc.profile, wc.model)[0],
        samples=lambda wc: ptq_model(wc.profile, wc.model)[1],
        seq_len=lambda wc: ptq_model(wc.profile, wc.model)[2],
        data=lambda wc: data_dir(wc.profile),
        args=lambda wc: ptq_args(wc.profile, wc.model, wc.suite),
        device=lambda wc: ptq_device(wc.profile, wc.model),
    log:
        "results/{profile}/logs/ptq-{model}-{method}-{label}-{suite}.log",
    benchmark:
        "results/{profile}/benchmarks/ptq-{model}-{method}-{label}-{suite}.tsv"
    threads: 1
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro ptq --model {params.model} --method {wildcards.method}:{wildcards.label} "
        "--calib-data {params.data} --calib-samples {params.samples} --calib-seq-len {params.seq_len} "
        "{params.args} --threads {threads} --device {params.device} --profile {wildcards.profile} --out {output} "
        "> {log} 2>&1"


rule ptq_pretrained_fp16:
    # The unquantized pretrained model on the PTQ suite: the FP16 row of its table.
    output:
        "results/{profile}/ptq/{model}/fp16/{suite}.json",
    params:
        args=lambda wc: ptq_args(wc.profile, wc.model, wc.suite),
    log:
        "results/{profile}/logs/ptq-{model}-fp16-{suite}.log",
    threads: 1
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval --model {wildcards.model} {params.args} --threads {threads} "
        "--profile {wildcards.profile} --out {output} > {log} 2>&1"


rule ptq_pretrained_student:
    # A low-bit model trained from the pretrained one (`snakemake bitdistill`'s arms) on the same suite, with its
    # teacher's tokenizer and windows: its Table 3 rows beside the PTQ rows.
    input:
        "results/{profile}/runs/{run_id}/summary.json",
    output:
        "results/{profile}/ptq/{model}/trained/{run_id}/{suite}.json",
    params:
        model=lambda wc: f"results/{wc.profile}/runs/{wc.run_id}/model",
        args=lambda wc: ptq_args(wc.profile, wc.model, wc.suite),
        max_length=STUDENT_MAX_LENGTH,
    log:
        "results/{profile}/logs/ptq-{model}-trained-{run_id}-{suite}.log",
    benchmark:
        "results/{profile}/benchmarks/ptq-{model}-trained-{run_id}-{suite}.tsv"
    threads: 1
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro eval --model {params.model} {params.args} --max-length {params.max_length} "
        "--threads {threads} --profile {wildcards.profile} --out {output} > {log} 2>&1"
