"""Collect per-run outputs into tables and compare them with published numbers."""

from augrepro.results.aggregate import collect_runs, summarize, write_aggregate
from augrepro.results.compare import compare, load_published, unmatched

__all__ = ["collect_runs", "summarize", "write_aggregate", "load_published", "compare", "unmatched"]
