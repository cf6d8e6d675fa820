"""Render the reproduction report (figures and a self-contained HTML page)."""

from augrepro.report.figures import hours_vs_published, learning_curves, ours_vs_published
from augrepro.report.render import build_report, comparison_tables, gallery

__all__ = ["learning_curves", "ours_vs_published", "hours_vs_published", "build_report", "comparison_tables", "gallery"]
