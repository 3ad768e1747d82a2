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
