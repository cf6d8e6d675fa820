"""Render the reproduction report (figures and a self-contained HTML page)."""

from augrepro.report.figures import learning_curves
from augrepro.report.render import build_report

__all__ = ["learning_curves", "build_report"]
