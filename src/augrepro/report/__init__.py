"""The reproduction report: view model (view, with its tables, claims and values), number formatting (format),
provenance, figures, the page's rendering (render) and its assembly from the workflow's files (build); the
augmentation previews (preview)."""

from augrepro.report.build import build_report, gallery
from augrepro.report.figures import hours_vs_published, learning_curves, ours_vs_published
from augrepro.report.tables import comparison_tables

__all__ = ["learning_curves", "ours_vs_published", "hours_vs_published", "build_report", "comparison_tables", "gallery"]
