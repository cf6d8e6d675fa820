# The pilot (--config pilot=true): one short job per shape of the chosen studies' runs (protocol, dataset key, model,
# GPUs per node, nodes), with that shape's resources and launch (torchrun for several GPUs), measuring images per
# second, peak memory and the device, or recording its failure (augrepro.train.pilot); then a summary that names
# every failed shape and prints the plan on the measured prices. With pilot=true the final target is the summary
# alone: no training job is scheduled.


rule pilot:
    input:
        data=ancient(get_prepared),
        weights=ancient(get_pilot_pretrained),
    output:
        result="results/pilot/{protocol}/{dataset}/{model}/gpus{gpus}_nodes{nodes}/pilot.json",
    log:
        "results/logs/pilot/{protocol}/{dataset}/{model}/gpus{gpus}_nodes{nodes}.log",
    conda:
        "../../environment.yml"
    threads: get_pilot_resource("threads")
    resources:
        # the shape's GPUs and nodes, as its training jobs ask for them (rules/train.smk)
        gpu=get_pilot_slurm("gpu"),
        gres=get_pilot_slurm("gres"),
        nodes=get_pilot_slurm("nodes"),
        mem_mb=get_pilot_resource("mem_mb"),
        runtime=get_pilot_runtime,
    params:
        run=get_pilot_run,
        settings=get_pilot_settings(),
    script:
        "../scripts/pilot.py"


rule pilot_summary:
    input:
        get_pilot_results(),
    output:
        "results/pilot/summary.csv",
    log:
        "results/logs/pilot/summary.log",
    conda:
        "../../environment.yml"
    params:
        shapes=get_pilot_keys(),
    script:
        "../scripts/pilot_summary.py"
