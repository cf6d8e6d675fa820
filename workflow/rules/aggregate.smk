# All runs of the chosen studies (with their FGSM and detection results) -> one row per run, one per-epoch long
# table, and mean±std per cell.


rule aggregate:
    input:
        metrics=get_run_outputs("metrics"),
        timing=get_run_outputs("timing"),
        meta=get_run_outputs("meta"),
        fgsm=get_evaluation_outputs("fgsm"),
        detection=get_evaluation_outputs("detection"),
    output:
        runs="results/aggregate/runs.csv",
        summary="results/aggregate/summary.csv",
        curves="results/aggregate/curves.csv",
    log:
        "results/logs/aggregate.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/aggregate.py"
