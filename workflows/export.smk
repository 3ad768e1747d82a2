# Exports: the pack step, a BitNet checkpoint -> packed inference artefact (bitnet_repro/export/packed.py).


rule pack_model:
    # The pack step: a BitNet checkpoint -> packed inference artefact (bitnet_repro/export/packed.py).
    input:
        summary="results/{profile}/runs/{run_id}/summary.json",
    output:
        "results/{profile}/packed/{run_id}/manifest.json",
    params:
        model=lambda wc, input: os.path.join(os.path.dirname(input.summary), "model"),
        out=lambda wc, output: os.path.dirname(output[0]),
    log:
        "results/{profile}/logs/pack-{run_id}.log",
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro pack --model {params.model} --out {params.out} > {log} 2>&1"


rule export_real:
    # A real model's exports, each checked by its logits: BitDistill's students as transformers BitNet and GGUF
    # TQ2_0 (bitnet_repro/export/real.py), their pretrained teacher as GGUF F16.
    input:
        lambda wc: [f"results/{wc.profile}/runs/{wc.model}/summary.json"] if wc.model in PILOTS[wc.profile] else [],
    output:
        "results/{profile}/export/{model}/exports.json",
    params:
        model=lambda wc: real_export_model(wc.profile, wc.model),
        out=lambda wc, output: os.path.dirname(output[0]),
    log:
        "results/{profile}/logs/export_real-{model}.log",
    threads: 2
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro export-real --model {params.model} --out {params.out} > {log} 2>&1"


rule cost_gguf:
    # Time per output token and memory of the teacher's and the students' GGUF files in llama.cpp, interleaved
    # over rounds in one job with the whole machine (bitnet_repro/cost/real.py).
    input:
        lambda wc: real_exports(wc.profile),
    output:
        "results/{profile}/export/cost.json",
    params:
        c=lambda wc: PROFILES[wc.profile].cost,
        models=lambda wc, input: " ".join(
            f"{os.path.dirname(p)}:{'fp16.gguf' if i == 0 else 'bitnet_b158-tq2_0.gguf'}" for i, p in enumerate(input)
        ),
    log:
        "results/{profile}/logs/cost_gguf.log",
    threads: lambda wc: whole_machine(wc.profile)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-gguf {params.models} --rounds 5 --prompt {params.c.prompt} "
        "--new-tokens {params.c.new_tokens} --threads {params.c.threads} --out {output} > {log} 2>&1"
