"""Collect per-run outputs into tables, compare them with published numbers, and write the verdicts."""

from augrepro.results.aggregate import (
    collect_runs,
    run_status,
    scan_grid,
    summarize,
    write_aggregate,
    write_partial_aggregate,
)
from augrepro.results.cells import unmatched
from augrepro.results.compare import compare
from augrepro.results.published import load_published
from augrepro.results.verdicts import VERDICT_RULE, read_verdicts, study_verdicts, write_verdicts

__all__ = [
    "collect_runs",
    "run_status",
    "scan_grid",
    "summarize",
    "write_aggregate",
    "write_partial_aggregate",
    "load_published",
    "compare",
    "unmatched",
    "VERDICT_RULE",
    "read_verdicts",
    "study_verdicts",
    "write_verdicts",
]
