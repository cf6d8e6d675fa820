# The reproduction report: our numbers beside the published ones, one self-contained HTML file.


rule report:
    input:
        runs="results/aggregate/runs.csv",
        summary="results/aggregate/summary.csv",
        curves="results/aggregate/curves.csv",
        published=get_published_tables(),
    output:
        report(
            "results/report/report.html",
            caption="../../report/caption.rst",
            category="Reproduction report",
        ),
    conda:
        "../../environment.yml"
    log:
        "results/logs/report.log",
    script:
        "../scripts/report.py"
