"""Collect per-run outputs into tables and compare them with published numbers."""

from augrepro.results.aggregate import (
    collect_runs,
    run_status,
    scan_grid,
    summarize,
    write_aggregate,
    write_partial_aggregate,
)
from augrepro.results.compare import VERDICT_RULE, compare, load_published, unmatched

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
]
