"""Build the report from the workflow's files: read the verdict files (``results/verdicts/``), the aggregated CSVs,
the published tables and the previews, build the view model (:mod:`augrepro.report.view`) and provenance
(:mod:`augrepro.report.provenance`), render and write the page (:mod:`augrepro.report.render`). No statistic is
computed here: the verdicts are :mod:`augrepro.results.verdicts`'s."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from augrepro.report.provenance import provenance_rows
from augrepro.report.render import templates_base, write_report
from augrepro.report.view import GalleryItem, Page, failed_runs, other_studies, study_sections
from augrepro.results.compare import VERDICTS
from augrepro.results.curves import load_published_curves
from augrepro.results.published import load_published, to_bool
from augrepro.results.verdicts import VERDICT_DETAILS, VERDICT_RULE, read_table, read_verdicts, verdict_paths

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def gallery(previews) -> list[GalleryItem]:
    """The augmentation previews that exist, as data URIs; a file that is not a PNG is an error."""
    items = []
    for path in previews or ():
        path = Path(path)
        if not path.is_file():
            continue
        payload = path.read_bytes()
        not_png = f"{path}: augmentation preview is not a PNG file; rerun `augrepro preview` or delete it"
        if not payload.startswith(PNG_SIGNATURE):
            raise ValueError(not_png)
        from PIL import Image, PngImagePlugin

        with Image.open(path) as image:
            if not isinstance(image, PngImagePlugin.PngImageFile):  # a PNG signature, but PIL read it as another format
                raise ValueError(not_png)
            summary = image.text.get("Description", "")  # written by augrepro.report.preview
        items.append(
            GalleryItem(
                f"{path.parent.name} / {path.stem}" + (f": {summary}" if summary else ""),
                "data:image/png;base64," + base64.b64encode(payload).decode("ascii"),
            )
        )
    return items


def _normalize_summary(summary: pd.DataFrame) -> pd.DataFrame:
    if summary.empty:
        return pd.DataFrame(
            columns=["dataset", "traditional", "model", "augmentation", "method", "variant", "n", "epochs"]
        )
    summary = summary.copy()
    summary["traditional"] = [to_bool(v) for v in summary["traditional"]]
    summary["variant"] = summary["variant"].astype(object).where(summary["variant"].notna(), None)
    return summary


def build_report(
    summary_csv: str | Path,
    runs_csv: str | Path,
    curves_csv: str | Path,
    published_dir: str | Path,
    out_html: str | Path,
    studies: dict,
    verdicts_dir: str | Path = "results/verdicts",
    provenance: dict | None = None,
    templates_dir: str | Path | None = None,
    status_csv: str | Path | None = None,
    previews=(),
    title: str = "Reproduction report: saliency-guided mixing augmentations",
) -> pd.DataFrame:
    """Write a self-contained HTML report: one section per chosen study (its verdict files: its published cells
    beside its own runs, its claims), the studies skipped or not chosen folded away with why, the gallery, failed
    runs and provenance.

    ``studies`` is ``augrepro.studies.Selection.describe()``; ``verdicts_dir`` holds each chosen study's verdict
    files (:func:`augrepro.results.verdicts.verdict_paths`). ``templates_dir`` holds ``templates/report.html.j2``
    and ``assets/report.css`` (default: ``report/`` at the repository root). ``status_csv`` (from partial
    aggregation) lists the failed runs; ``previews`` are PNG paths of the augmentation gallery, shown when they
    exist. Returns the verdict rows of every chosen study (one frame).
    """
    templates_base(templates_dir)  # before any work: a missing template is an error
    published = load_published(published_dir)
    summary = _normalize_summary(read_table(summary_csv))
    runs = read_table(runs_csv)
    curves = read_table(curves_csv)
    status = read_table(status_csv) if status_csv is not None else None
    chosen = [s["name"] for s in studies.get("studies", []) if s["status"] == "chosen"]
    verdicts = {name: read_verdicts(verdict_paths(name, verdicts_dir)) for name in chosen}
    images = gallery(previews)
    sections = study_sections(studies, verdicts, published, summary, runs, curves, load_published_curves(published_dir))
    page = Page(
        title=title,
        verdict_rule=VERDICT_RULE,
        verdict_details=VERDICT_DETAILS,
        verdicts=VERDICTS,
        sections=tuple(sections),
        others=tuple(other_studies(studies)),
        failed_runs=tuple(failed_runs(status)),
        gallery=tuple(images),
        provenance=tuple(provenance_rows(provenance, runs, summary, status)),
    )
    write_report(page, out_html, templates_dir)
    frames = [v.cells for v in verdicts.values() if len(v.cells)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
