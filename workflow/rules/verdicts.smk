# The verdicts of each chosen study, written as data: its published cells and its claims against our runs
# (augrepro.results.verdicts). The report reads these files and computes nothing itself.


rule verdicts:
    input:
        runs="results/aggregate/runs.csv",
        summary="results/aggregate/summary.csv",
        published=get_published_tables(),
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
