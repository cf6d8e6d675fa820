"""Render one self-contained HTML report: comparison with the paper, figures, provenance.

The page makes no external requests: CSS is inlined, figures are PNG data URIs, and there
are no scripts. Jinja2 autoescaping is on, so names taken from configs or metadata are
shown as text.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from augrepro.report.figures import learning_curves
from augrepro.results.compare import (
    VERDICT_RULE,
    compare,
    dataset_label,
    load_published,
    to_bool,
    unmatched,
)

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "report"
TEMPLATE_NAME = "report.html.j2"
CSS_NAME = "report.css"

MODEL_LABELS = {
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
    "wrn28_10": "WideResNet-28-10",
}


def _isnan(value) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def fmt_mean_std(mean, std=None, digits: int = 2) -> str:
    """'7.59 ± 0.22', or just '7.59' when the std is missing; '–' when the mean is."""
    if _isnan(mean):
        return "–"
    text = f"{float(mean):.{digits}f}"
    if not _isnan(std):
        text += f" ± {float(std):.{digits}f}"
    return text


def _fmt_value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _comparison_tables(comparison: pd.DataFrame) -> list[dict]:
    """Paper-shaped grids: rows model x augmentation, columns dataset (+ = traditional)."""
    tables = []
    for source in dict.fromkeys(comparison["source"]):
        part = comparison[comparison["source"] == source]
        columns = list(dict.fromkeys(zip(part["dataset"], part["traditional"])))
        row_keys = list(dict.fromkeys(zip(part["model"], part["augmentation"])))
        rows = []
        for model, aug in row_keys:
            cells = []
            for dataset, trad in columns:
                sel = part[
                    (part["model"] == model)
                    & (part["augmentation"] == aug)
                    & (part["dataset"] == dataset)
                    & (part["traditional"] == trad)
                ]
                if sel.empty:
                    cells.append(None)
                    continue
                first = sel.iloc[0]
                published = fmt_mean_std(first["published_mean"], first["published_std"])
                entries = []
                for _, r in sel.iterrows():
                    if r["verdict"] == "missing":
                        entries.append({"verdict": "missing", "text": f"published {published}, not run"})
                        continue
                    ours = f"{fmt_mean_std(r['ours_mean'], r['ours_std'])} (n={int(r['n'])})"
                    diff = f"{float(r['diff']):+.2f}" if not _isnan(r["diff"]) else "–"
                    detail = (
                        f"final {fmt_mean_std(r['ours_final_mean'])}, "
                        f"median of last 10 {fmt_mean_std(r['ours_median10_mean'])}"
                    )
                    epochs_note = ""
                    if not _isnan(r["ours_epochs"]) and not _isnan(r["published_epochs"]):
                        if int(r["ours_epochs"]) != int(r["published_epochs"]):
                            epochs_note = f"{int(r['ours_epochs'])} epochs (paper {int(r['published_epochs'])})"
                    entries.append(
                        {
                            "verdict": r["verdict"],
                            "ours": ours,
                            "published": published,
                            "diff": diff,
                            "detail": detail,
                            "epochs_note": epochs_note,
                            "variant": r["variant"] if isinstance(r["variant"], str) else "",
                            "our_augmentation": r["our_augmentation"]
                            if r["our_augmentation"] != aug
                            else "",
                        }
                    )
                verdicts = {e["verdict"] for e in entries}
                cells.append(
                    {
                        "css": verdicts.pop() if len(verdicts) == 1 else "mixed",
                        "entries": entries,
                    }
                )
            rows.append({"model": MODEL_LABELS.get(model, model), "augmentation": aug, "cells": cells})
        tables.append(
            {
                "source": source,
                "columns": [dataset_label(d, t) for d, t in columns],
                "rows": rows,
            }
        )
    return tables


def _unmatched_rows(extra: pd.DataFrame) -> list[dict]:
    rows = []
    for _, r in extra.iterrows():
        variant = r.get("variant")
        rows.append(
            {
                "dataset": dataset_label(r["dataset"], r["traditional"]),
                "model": r["model"],
                "augmentation": r["augmentation"],
                "method": r.get("method", r["augmentation"]),
                "variant": variant if isinstance(variant, str) else "",
                "n": int(r["n"]),
                "best": fmt_mean_std(r.get("best_top1_error_mean"), r.get("best_top1_error_std")),
                "final": fmt_mean_std(r.get("final_top1_error_mean"), r.get("final_top1_error_std")),
                "median10": fmt_mean_std(
                    r.get("median_last10_top1_error_mean"), r.get("median_last10_top1_error_std")
                ),
                "hours": fmt_mean_std(r.get("hours_mean"), digits=3),
            }
        )
    return rows


def _computed_provenance(runs: pd.DataFrame, summary: pd.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {"number of runs": str(len(runs))}
    if "device_name" in runs.columns:
        names = sorted({str(v) for v in runs["device_name"].dropna()})
        out["device names"] = ", ".join(names) if names else "unknown"
    if "hours" in runs.columns and len(runs):
        hours = pd.to_numeric(runs["hours"], errors="coerce")
        if "device" in runs.columns:
            gpu = runs["device"].astype(str).str.lower().eq("cuda")
        else:
            gpu = ~runs.get("device_name", pd.Series("", index=runs.index)).astype(str).str.lower().str.contains("cpu")
        out["total GPU hours"] = f"{hours[gpu].sum():.3f}"
        out["total CPU hours"] = f"{hours[~gpu].sum():.3f}"
    if "method" in summary.columns and len(summary):
        parts = []
        for method, group in summary.groupby("method", sort=True):
            variants = sorted({str(v) for v in group["variant"] if isinstance(v, str) and v})
            parts.append(f"{method}: {', '.join(variants) if variants else '(none)'}")
        out["variant per method"] = "; ".join(parts)
    return out


def _atomic_write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_csv(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def build_report(
    summary_csv: str | Path,
    runs_csv: str | Path,
    curves_csv: str | Path,
    published_dir: str | Path,
    out_html: str | Path,
    provenance: dict | None = None,
    templates_dir: str | Path | None = None,
) -> None:
    """Write a self-contained HTML report comparing our summary with published cells.

    ``templates_dir`` is the folder holding ``templates/report.html.j2`` and
    ``assets/report.css`` (default: ``report/`` at the repository root).
    """
    base = Path(templates_dir) if templates_dir is not None else DEFAULT_TEMPLATES_DIR
    summary = _read_csv(summary_csv)
    runs = _read_csv(runs_csv)
    curves = _read_csv(curves_csv)
    if not summary.empty:
        summary["traditional"] = [to_bool(v) for v in summary["traditional"]]
        summary["variant"] = summary["variant"].astype(object).where(summary["variant"].notna(), None)
    published = load_published(published_dir)

    if summary.empty:
        summary = pd.DataFrame(
            columns=["dataset", "traditional", "model", "augmentation", "method", "variant", "n"]
        )
    comparison = compare(summary, published)
    extra = unmatched(summary, published)
    figures = learning_curves(curves) if not curves.empty else []

    counts = comparison["verdict"].value_counts().to_dict() if len(comparison) else {}
    provenance_rows = [(str(k), _fmt_value(v)) for k, v in (provenance or {}).items()]
    provenance_rows += list(_computed_provenance(runs, summary).items())

    env = Environment(
        loader=FileSystemLoader(str(base / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template(TEMPLATE_NAME)
    css = (base / "assets" / CSS_NAME).read_text(encoding="utf-8")
    html = template.render(
        title="SaliencyMix reproduction report",
        css=Markup(css.replace("</", "<\\/")),
        verdict_rule=VERDICT_RULE,
        verdict_counts=[(v, counts.get(v, 0)) for v in ("reproduced", "better", "worse", "missing")],
        tables=_comparison_tables(comparison),
        extra_rows=_unmatched_rows(extra),
        figures=figures,
        provenance=provenance_rows,
    )
    _atomic_write_text(html, out_html)
