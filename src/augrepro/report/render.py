"""Render the report's view model (:class:`augrepro.report.view.Page`) as one self-contained HTML page.

The page makes no network request: CSS is inlined, figures and gallery images are PNG data URIs,
the favicon is an empty data URI, and there are no scripts. Jinja2 autoescaping is on, so names
taken from configs or metadata (a method named ``<script>``) are shown as text. Numbers are written by the
template's filters (:data:`augrepro.report.format.FILTERS`).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from augrepro.io import atomic_write_text
from augrepro.report.format import FILTERS
from augrepro.report.view import Page

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "report"
TEMPLATE_NAME = "report.html.j2"
CSS_NAME = "report.css"


def templates_base(templates_dir: str | Path | None = None) -> Path:
    """The folder with ``templates/report.html.j2`` and ``assets/report.css`` (default: ``report/`` at the
    repository root); a missing file is an error naming it."""
    base = Path(templates_dir) if templates_dir is not None else DEFAULT_TEMPLATES_DIR
    for needed in (base / "templates" / TEMPLATE_NAME, base / "assets" / CSS_NAME):
        if not needed.is_file():
            raise ValueError(f"{needed}: report template file not found (templates_dir={base})")
    return base


def render_html(page: Page, templates_dir: str | Path | None = None) -> str:
    """The page as HTML."""
    base = templates_base(templates_dir)
    env = Environment(
        loader=FileSystemLoader(str(base / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    css = (base / "assets" / CSS_NAME).read_text(encoding="utf-8")
    return env.get_template(TEMPLATE_NAME).render(page=page, css=Markup(css.replace("</", "<\\/")))


def write_report(page: Page, out_html: str | Path, templates_dir: str | Path | None = None) -> None:
    """Render the page and write it (atomically: nothing half-written)."""
    atomic_write_text(out_html, render_html(page, templates_dir))
