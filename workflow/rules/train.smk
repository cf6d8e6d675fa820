# One training job per (dataset, model, augmentation, seed).


rule train:
    input:
        data=ancient(get_prepared),
    output:
        metrics="results/runs/{dataset}/{model}/{augmentation}/seed{seed}/metrics.csv",
        checkpoint="results/runs/{dataset}/{model}/{augmentation}/seed{seed}/checkpoint.pt",
        timing="results/runs/{dataset}/{model}/{augmentation}/seed{seed}/timing.json",
        meta="results/runs/{dataset}/{model}/{augmentation}/seed{seed}/meta.json",
    params:
        run=get_run_config,
    threads: config["resources"]["train_threads"]
    resources:
        gpu=config["resources"]["train_gpus"],
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=get_train_runtime,
    conda:
        "../../environment.yml"
    log:
        "results/logs/train/{dataset}/{model}/{augmentation}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}/{augmentation}/seed{seed}.tsv"
    script:
        "../scripts/train.py"
