# Cost. Inference (bitnet_repro/cost/measure.py): the paper's shapes with random weights, measured on the machine
# at hand through llama.cpp and this suite's PyTorch path. Each measurement takes the whole machine (threads:
# whole_machine) so that no other job shares its cores; the models of a size are written once and removed
# when every measurement of that size is done. Training (bitnet_repro/cost/train_bench.py): FP16 and BitNet
# training steps timed side by side.


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
        variant="fp16|bitnet_b158|bitnet_b158-tq1_0",
    params:
        c=lambda wc: PROFILES[wc.profile].cost,
    log:
        "results/{profile}/logs/cost_measure-{size}-{engine}-{variant}.log",
    threads: lambda wc: whole_machine(wc.profile)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-measure --prep {input} --engine {wildcards.engine} --variant {wildcards.variant} "
        "--prompt {params.c.prompt} --new-tokens {params.c.new_tokens} --threads {params.c.threads} "
        "--out {output} > {log} 2>&1"


rule cost_throughput_fp16:
    # Table 7: FP16 at the paper's batch (16 sequences of 512 tokens) sets the memory budget ...
    input:
        lambda wc: f"results/{wc.profile}/cost/models/{PROFILES[wc.profile].cost.table7.size}",
    output:
        "results/{profile}/cost/table7/fp16.json",
    params:
        c=lambda wc: PROFILES[wc.profile].cost,
    log:
        "results/{profile}/logs/cost_throughput-fp16.log",
    threads: lambda wc: whole_machine(wc.profile)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-throughput --prep {input} --variant fp16 --batch {params.c.table7.fp16_batch} "
        "--context {params.c.table7.context} --threads {params.c.threads} --out {output} > {log} 2>&1"


rule cost_throughput_bitnet_b158:
    # ... and b1.58 gets the largest batch that fits it.
    input:
        models=lambda wc: f"results/{wc.profile}/cost/models/{PROFILES[wc.profile].cost.table7.size}",
        fp16="results/{profile}/cost/table7/fp16.json",
    output:
        "results/{profile}/cost/table7/bitnet_b158.json",
    params:
        c=lambda wc: PROFILES[wc.profile].cost,
    log:
        "results/{profile}/logs/cost_throughput-bitnet_b158.log",
    threads: lambda wc: whole_machine(wc.profile)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro cost-throughput --prep {input.models} --variant bitnet_b158 --budget-from {input.fp16} "
        "--context {params.c.table7.context} --threads {params.c.threads} --out {output} > {log} 2>&1"


rule bench_train_step:
    # Asks for every core Snakemake was given (whole_machine), so that nothing runs beside the timing.
    output:
        "results/{profile}/bench/train_step.json",
    params:
        b=lambda wc: PROFILES[wc.profile].bench,
        # the ladder's own threads per model (train.threads), else every core
        threads=lambda wc, threads: PROFILES[wc.profile].runs[0].train.threads or threads,
        modes=lambda wc: f"--modes {','.join(m)}" if (m := PROFILES[wc.profile].bench.modes) else "",
    log:
        "results/{profile}/logs/bench_train_step.log",
    benchmark:
        "results/{profile}/benchmarks/bench_train_step.tsv"
    threads: lambda wc: whole_machine(wc.profile)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro bench --profile {wildcards.profile} --size {params.b.size} --steps {params.b.steps} "
        "--repeats {params.b.repeats} --threads {params.threads} {params.modes} --out {output} > {log} 2>&1"


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


rule shards_bench:
    # Sharded data (bitnet_repro/cost/data_bench.py): tokenizing into shards per core on this machine, 100B tokens
    # on a node of N cores, and the shard loader against the GPU step's token rate of results/gpu (README
    # "Sharded data"):  snakemake shards_bench --cores 2
    input:
        gpu=ancient(expand("results/gpu/bench_train_step_b158-700M_cuda{mode}.json", mode=["", "_compile"])),
    output:
        json="results/shards/bench.json",
        md="results/shards/bench.md",
    log:
        "results/shards/logs/bench.log",
    threads: os.cpu_count() or 1  # it times 1 worker, then one per core (not workflow.cores: unset on a cluster)
    conda:
        "../environment.yml"
    shell:
        "python -m bitnet_repro shards-bench --out {output.json} > {log} 2>&1"
