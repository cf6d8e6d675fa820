# One training job per run: (protocol, dataset key, model, augmentation, seed), the union of the chosen studies.


rule train:
    input:
        data=ancient(get_prepared),
        weights=ancient(get_pretrained),
    output:
        metrics="results/runs/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/metrics.csv",
        checkpoint="results/runs/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/checkpoint.pt",
        best="results/runs/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/best.pt",
        timing="results/runs/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/timing.json",
        meta="results/runs/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/meta.json",
    log:
        "results/logs/train/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: get_train_resource("threads")
    resources:
        # GPUs per job; a job of several GPUs trains as one torchrun process per GPU (scripts/train.py)
        gpu=get_train_slurm("gpu"),
        gres=get_train_slurm("gres"),
        nodes=get_train_slurm("nodes"),
        mem_mb=get_train_resource("mem_mb"),
        runtime=get_train_runtime,
    params:
        run=get_run_config,
    script:
        "../scripts/train.py"
