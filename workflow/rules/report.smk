# The reproduction report: our numbers beside the published ones, one self-contained HTML file.


# The complete report: needs every run of the chosen studies (through rule aggregate) and each study's verdict files
# (rule verdicts); one section per study.
rule report:
    input:
        verdicts=get_verdict_files(),
        runs="results/aggregate/runs.csv",
        summary="results/aggregate/summary.csv",
        curves="results/aggregate/curves.csv",
        published=get_published_tables(),
        previews=get_preview_paths(),
    output:
        report(
            "results/report/report.html",
            caption="../../report/caption.rst",
            category="Reproduction report",
        ),
    log:
        "results/logs/report.log",
    conda:
        "../../environment.yml"
    params:
        studies=get_report_studies(),
        published_dir=get_published_dir,
    script:
        "../scripts/report.py"


# The partial report: no input on the runs, so failed or unfinished training jobs cannot block
# it. It reads whatever run folders of the grid exist (failed: log but no metrics.csv; missing:
# neither) and writes their verdict files next to its aggregation, then the page. `state` fingerprints the run folders, so the rule reruns whenever a run finishes or
# fails, and only then. Run it after training: `snakemake --keep-going; snakemake report_partial`.
rule report_partial:
    input:
        published=get_published_tables(),
    output:
        runs="results/aggregate/partial/runs.csv",
        summary="results/aggregate/partial/summary.csv",
        curves="results/aggregate/partial/curves.csv",
        status="results/aggregate/partial/status.csv",
        verdicts=directory("results/aggregate/partial/verdicts"),
        html=report(
            "results/report/partial.html",
            caption="../../report/caption.rst",
            category="Reproduction report (partial)",
        ),
    log:
        "results/logs/report_partial.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        grid=get_grid_runs,
        evaluations=get_evaluation_paths,
        state=get_grid_state,
        previews=get_preview_paths(),
        studies=get_report_studies(),
        published_dir=get_published_dir,
    script:
        "../scripts/report_partial.py"
