# The verdicts of each chosen study, written as data: its published cells and its claims against our runs
# (augrepro.results.verdicts). The report reads these files and computes nothing itself.


# Adaptive seeds: look k of a study compares its cells with the seeds they have so far, decides who stops, and asks
# for the next look's seeds of the undecided cells (augrepro.results.adaptive). A checkpoint: the DAG grows by what
# each look asks for, until every cell has stopped.
checkpoint look:
    input:
        metrics=get_look_runs("metrics"),
        timing=get_look_runs("timing"),
        meta=get_look_runs("meta"),
        published=get_published_tables(),
    output:
        "results/verdicts/{study}/look{look}.json",
    log:
        "results/logs/verdicts/{study}/look{look}.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        study=get_study_description,
        published_dir=get_published_dir,
    script:
        "../scripts/look.py"


rule verdicts:
    input:
        runs="results/aggregate/runs.csv",
        summary="results/aggregate/summary.csv",
        published=get_published_tables(),
        look=get_verdict_look,
    output:
        cells="results/verdicts/{study}.csv",
        claims="results/verdicts/{study}.claims.csv",
        claim_cells="results/verdicts/{study}.claim_cells.csv",
    log:
        "results/logs/verdicts/{study}.log",
    conda:
        "../../environment.yml"
    params:
        study=get_study_description,
        published_dir=get_published_dir,
    script:
        "../scripts/verdicts.py"
