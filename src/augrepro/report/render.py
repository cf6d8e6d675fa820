"""Render one self-contained HTML report: comparison with the papers, figures, gallery, provenance.

The page makes no network request: CSS is inlined, figures and gallery images are PNG data URIs,
the favicon is an empty data URI, and there are no scripts. Jinja2 autoescaping is on, so names
taken from configs or metadata (a method named ``<script>``) are shown as text.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from augrepro.data.datasets import dataset_label
from augrepro.io import atomic_write_text
from augrepro.results.curves import load_published_curves
from augrepro.runs import dataset_key
from augrepro.report.figures import forest, hours_vs_published, learning_curves, ours_vs_published
from augrepro.results.claims import evaluate_claims
from augrepro.results.compare import (
    COMPARE_COLUMNS,
    VERDICT_RULE,
    VERDICTS,
    compare,
    load_published,
    to_bool,
    unmatched,
)

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "report"
TEMPLATE_NAME = "report.html.j2"
CSS_NAME = "report.css"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

MODEL_LABELS = {
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
    "resnet101": "ResNet-101",
    "wrn28_10": "WideResNet-28-10",
    "preactresnet18": "PreActResNet-18",
    "preactresnet50": "PreActResNet-50",
    "preactresnet101": "PreActResNet-101",
    "pyramidnet110": "PyramidNet-110",
    "pyramidnet200": "PyramidNet-200",
    "regnet200m": "RegNet-200M",
}
METRIC_LABELS = {"top1_error": "top-1 error (%)", "top5_error": "top-5 error (%)", "hours": "hours",
                 "fgsm_top1_accuracy": "top-1 accuracy under FGSM (%)", "map": "mAP 0.5:0.95 (%)",
                 "map50": "mAP50 (%)", "map75": "mAP75 (%)"}
REPORTED_LABELS = {
    "best": "best epoch",
    "final": "final epoch",
    "median_last10": "median of the last 10 epochs",
    "wall hours": "wall hours",
    "per run": "one value per run",
}
METRIC_SHORT = {"top1_error": "top-1", "top5_error": "top-5", "hours": "hours", "fgsm_top1_accuracy": "FGSM top-1 acc.",
                "map": "mAP", "map50": "mAP50", "map75": "mAP75"}


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
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _entry(r: dict, aug: str) -> dict:
    """One comparison row as the template shows it."""
    published = fmt_mean_std(r["published_mean"], r["published_std"])
    if r["verdict"] in ("missing", "failed", "not runnable"):
        text = f"published {published}, not run"
        if r["verdict"] == "failed":
            text = f"published {published}, {int(r['n_failed'])} run(s) failed"
        if r["verdict"] == "not runnable":
            text = f"published {published}, {r['note']}"
        return {"verdict": r["verdict"], "text": text}
    epochs_note = ""
    if not _isnan(r["ours_epochs"]) and not _isnan(r["published_epochs"]):
        if int(r["ours_epochs"]) != int(r["published_epochs"]):
            epochs_note = f"{int(r['ours_epochs'])} epochs (paper {int(r['published_epochs'])})"
    detail = f"compared: {REPORTED_LABELS.get(r['reported'], r['reported'])}"
    if r["metric"] == "top1_error":
        detail += (
            f"; final {fmt_mean_std(r['ours_final_mean'])}, "
            f"median of last 10 {fmt_mean_std(r['ours_median10_mean'])}"
        )
    interval = "" if _isnan(r["ci_low"]) else f"[{float(r['ci_low']):+.2f}, {float(r['ci_high']):+.2f}]"
    decide = ""
    if r["verdict"] == "inconclusive":
        more = r["seeds_to_decide"]
        decide = (f"{int(more) - int(r['n'])} more seed(s) would decide it at this spread" if not _isnan(more)
                  else r.get("reason") or "no number of seeds decides it at this spread")
    return {
        "verdict": r["verdict"],
        "ours": f"{fmt_mean_std(r['ours_mean'], r['ours_std'])} (n={int(r['n'])})",
        "published": published + (" (taken as exact)" if r.get("published_as_constant") else ""),
        "diff": f"{float(r['diff']):+.2f}" if not _isnan(r["diff"]) else "–",
        "interval": interval,
        "delta": f"±{float(r['delta']):.2f}" if not _isnan(r["delta"]) else "",
        "decide": decide,
        "detail": detail,
        "epochs_note": epochs_note,
        "failed_note": f"{int(r['n_failed'])} run(s) failed" if int(r["n_failed"] or 0) else "",
        "variant": _text(r["variant"]),
        "numerics": _text(r.get("numerics")),
        "our_augmentation": r["our_augmentation"] if r["our_augmentation"] != aug else "",
    }


def _epochs_key(record: dict) -> int | None:
    return None if _isnan(record["published_epochs"]) else int(record["published_epochs"])


def comparison_tables(comparison: pd.DataFrame) -> list[dict]:
    """Paper-shaped grids per source: rows model x method (x epochs), columns dataset (x metric).

    A table with a single dataset and metric but several models (SalfMix Tables 4, 5, 7) is laid
    out as in the paper instead: rows method (x epochs), columns model.
    """
    tables = []
    by_source: dict[str, list[dict]] = {}
    for r in comparison.to_dict("records"):
        by_source.setdefault(r["source"], []).append(r)
    for source, part in by_source.items():
        metrics = list(dict.fromkeys(r["metric"] for r in part))
        epochs_values = {_epochs_key(r) for r in part}
        data_cols = list(dict.fromkeys((r["dataset"], r["traditional"], r["metric"]) for r in part))
        models = list(dict.fromkeys(r["model"] for r in part))
        by_model = len(data_cols) == 1 and len(models) > 1

        def row_key(r):
            return (r["augmentation"], _epochs_key(r)) if by_model else (r["model"], r["augmentation"], _epochs_key(r))

        def col_key(r):
            return r["model"] if by_model else (r["dataset"], r["traditional"], r["metric"])

        cells_by_key: dict[tuple, list[dict]] = {}
        for r in part:
            cells_by_key.setdefault((row_key(r), col_key(r)), []).append(r)
        columns = models if by_model else data_cols
        rows = []
        for rk in dict.fromkeys(row_key(r) for r in part):
            aug, epochs = rk[-2], rk[-1]
            cells = []
            for ck in columns:
                sel = cells_by_key.get((rk, ck))
                if not sel:
                    cells.append(None)
                    continue
                entries = [_entry(r, aug) for r in sel]
                verdicts = {e["verdict"] for e in entries}
                cells.append({"css": verdicts.pop() if len(verdicts) == 1 else "mixed", "entries": entries})
            label = aug
            if len(epochs_values) > 1 and epochs is not None:
                label += f" ({epochs} epochs)"
            model_label = "" if by_model else MODEL_LABELS.get(rk[0], rk[0])
            rows.append({"model": model_label, "augmentation": label, "cells": cells})
        if by_model:
            dataset, trad, metric = data_cols[0]
            heading = f"{dataset_label(dataset, trad)}, {METRIC_LABELS.get(metric, metric)}"
            col_labels = [MODEL_LABELS.get(m, m) for m in models]
        else:
            heading = ""
            col_labels = []
            for dataset, trad, metric in data_cols:
                label = dataset_label(dataset, trad)
                if metrics != ["top1_error"]:
                    label += f" {METRIC_SHORT.get(metric, metric)}"
                col_labels.append(label)
        epochs_text = ", ".join(str(e) for e in sorted(e for e in epochs_values if e is not None)) or "not stated"
        tables.append(
            {
                "source": source,
                "metrics": ", ".join(METRIC_LABELS.get(m, m) for m in metrics),
                "epochs": epochs_text,
                "by_model": by_model,
                "heading": heading,
                "columns": col_labels,
                "rows": rows,
                "notes": list(dict.fromkeys(r["note"] for r in part if r["note"])),
            }
        )
    return tables


def _unmatched_rows(extra: pd.DataFrame) -> list[dict]:
    rows = []
    for _, r in extra.iterrows():
        rows.append(
            {
                "dataset": dataset_label(r["dataset"], to_bool(r["traditional"])),
                "model": r["model"],
                "augmentation": r["augmentation"],
                "method": r.get("method", r["augmentation"]),
                "variant": _text(r.get("variant")),
                "n": int(r["n"]),
                "epochs": "" if _isnan(r.get("epochs")) else int(r["epochs"]),
                "best": fmt_mean_std(r.get("best_top1_error_mean"), r.get("best_top1_error_std")),
                "final": fmt_mean_std(r.get("final_top1_error_mean"), r.get("final_top1_error_std")),
                "median10": fmt_mean_std(
                    r.get("median_last10_top1_error_mean"), r.get("median_last10_top1_error_std")
                ),
                "hours": fmt_mean_std(r.get("hours_mean"), digits=3),
            }
        )
    return rows


def _gpu_mask(runs: pd.DataFrame) -> pd.Series:
    if "device" in runs.columns:
        return runs["device"].astype(str).str.lower().str.startswith("cuda")
    names = runs.get("device_name", pd.Series("", index=runs.index)).astype(str).str.lower()
    return ~names.str.contains("cpu")


def computed_provenance(runs: pd.DataFrame, summary: pd.DataFrame, status: pd.DataFrame | None) -> list[tuple[str, str]]:
    """Runs, their status, devices, GPU-hours, code versions and the variant each method ran."""
    out: list[tuple[str, str]] = [("number of runs", str(len(runs)))]
    if status is not None and len(status):
        counts = Counter(status["status"])
        out.append(("grid runs", ", ".join(f"{k} {counts.get(k, 0)}" for k in ("ok", "failed", "missing"))))
    if len(runs):
        gpu = _gpu_mask(runs)
        names = sorted({str(v) for v in runs.loc[gpu, "device_name"].dropna()}) if "device_name" in runs else []
        out.append(("GPU names", ", ".join(names) if names else "none (no run on a GPU)"))
        cpu_names = sorted({str(v) for v in runs.loc[~gpu, "device_name"].dropna()}) if "device_name" in runs else []
        if cpu_names:
            out.append(("CPU names", ", ".join(cpu_names)))
        if "numerics" in runs.columns:
            numerics = Counter(str(v) for v in runs["numerics"].dropna())
            if numerics:
                out.append(("numerics of the runs (bf16 / channels_last / compile)",
                            ", ".join(f"{k}: {n} runs" for k, n in sorted(numerics.items()))))
        # device hours: a run's wall hours times the GPUs it held (a torchrun job of world_size processes)
        column = "device_hours" if "device_hours" in runs else "hours"
        hours = pd.to_numeric(runs[column], errors="coerce") if column in runs else pd.Series(dtype=float)
        out.append(("total GPU hours (wall hours x GPUs per run)", f"{hours[gpu].sum():.3f}"))
        out.append(("total CPU hours", f"{hours[~gpu].sum():.3f}"))
        if "code_version" in runs.columns:
            versions = sorted({str(v) for v in runs["code_version"].dropna()})
            if versions:
                out.append(("code versions of the runs", ", ".join(versions)))
    if "method" in summary.columns and len(summary):
        parts = []
        for method, group in summary.groupby("method", sort=True):
            variants = sorted({str(v) for v in group["variant"] if isinstance(v, str) and v})
            parts.append(f"{method}: {', '.join(variants) if variants else '(no variants)'}")
        out.append(("variant per method", "; ".join(parts)))
    return out


def workflow_provenance(config: dict, studies: dict | None = None) -> dict:
    """What the report says about the workflow that made it: code and package versions, the studies that ran
    and those that were skipped (with why), and the execution settings."""
    from augrepro.provenance import describe_environment

    env = describe_environment()
    entries = (studies or {}).get("studies", [])
    out = {
        "code version (report)": env["code_version"],
        "packages": env["packages"],
        "python": env["python"],
        "studies run": ", ".join(f"{s['name']} ({s['runs']} runs)" for s in entries if s["status"] == "chosen") or "none",
    }
    skipped = [f"{s['name']}: {s['reason']}" for s in entries if s["status"] == "skipped"]
    if skipped:
        out["studies skipped"] = "; ".join(skipped)
    out["execution (config 'training')"] = config.get("training") or {}
    return out


def gallery(previews) -> list[dict]:
    """The augmentation previews that exist, as data URIs; a file that is not a PNG is an error."""
    items = []
    for path in previews or ():
        path = Path(path)
        if not path.is_file():
            continue
        payload = path.read_bytes()
        if not payload.startswith(PNG_SIGNATURE):
            raise ValueError(f"{path}: augmentation preview is not a PNG file; rerun `augrepro preview` or delete it")
        from PIL import Image

        with Image.open(path) as image:
            summary = image.text.get("Description", "")  # written by augrepro.augment.preview
        items.append(
            {
                "title": f"{path.parent.name} / {path.stem}" + (f": {summary}" if summary else ""),
                "uri": "data:image/png;base64," + base64.b64encode(payload).decode("ascii"),
            }
        )
    return items


def _failed_rows(status: pd.DataFrame | None) -> list[dict]:
    if status is None or status.empty:
        return []
    failed = status[status["status"] == "failed"]
    return [
        {
            "run": f"{dataset_label(r['dataset'], to_bool(r['traditional']))} / {r['model']} / {r['augmentation']} / seed {r['seed']}",
            "reason": _text(r["reason"]),
        }
        for _, r in failed.iterrows()
    ]


def _read_csv(path: str | Path | None) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame()
    if not Path(path).is_file():
        raise ValueError(f"{path}: file not found (run the aggregation first)")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _normalize_summary(summary: pd.DataFrame) -> pd.DataFrame:
    if summary.empty:
        return pd.DataFrame(columns=["dataset", "traditional", "model", "augmentation", "method", "variant", "n", "epochs"])
    summary = summary.copy()
    summary["traditional"] = [to_bool(v) for v in summary["traditional"]]
    summary["variant"] = summary["variant"].astype(object).where(summary["variant"].notna(), None)
    return summary


def _margin_text(margin: dict | None) -> str:
    """The study's equivalence margin, as its section states it."""
    margin = margin or {}
    if "value" in margin:
        return f"±{margin['value']:g} points on every cell: {margin['reason']}"
    if "claimed" in margin:
        c = margin["claimed"]
        return (f"per column, the larger of half the paper's claimed gain of {c['method']} over {c['baseline']} and the "
                "dataset's floor" + (f" ({margin['reason']})" if margin.get("reason") else ""))
    return "the dataset's floor (0.3 points on CIFAR-10 and ImageNet, 0.5 elsewhere; 25 % of the published hours)"


def _grid_mask(frame: pd.DataFrame, grid: list) -> pd.Series:
    """Rows of ``frame`` (runs, summary, curves or status) that belong to a study's grid cells."""
    if frame.empty or "protocol" not in frame.columns:
        return pd.Series(False, index=frame.index, dtype=bool)
    cells = {(p, d, m, a) for p, d, m, a in grid}
    keys = zip(
        frame["protocol"].astype(str),
        [dataset_key(d, to_bool(t)) for d, t in zip(frame["dataset"], frame["traditional"])],
        frame["model"].astype(str),
        frame["augmentation"].astype(str),
    )
    return pd.Series([k in cells for k in keys], index=frame.index, dtype=bool)


def study_views(
    studies: dict,
    published: pd.DataFrame,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    status: pd.DataFrame | None,
    published_curves: pd.DataFrame | None = None,
) -> tuple[list[dict], pd.DataFrame]:
    """One section per chosen study: its published cells against its own runs (its protocols only), the
    cells that cannot run, its runs without a published cell, its figures. Returns the sections and the
    comparison of every chosen study (one frame)."""
    sections, comparisons = [], []
    for study in (s for s in studies.get("studies", []) if s["status"] == "chosen"):
        mine = _grid_mask(summary, study["grid"])
        ours = summary[mine]
        st = status[_grid_mask(status, study["grid"])] if status is not None and len(status) else None
        cells = published[published["file"].isin(study["published"]) & published["protocol"].isin(study["protocols"])]
        comparison = compare(ours, cells, status=st, reported=study["reported"], not_runnable=study["not_runnable"],
                             margin=study.get("margin"))
        claims = evaluate_claims(study.get("claims", []), runs[_grid_mask(runs, study["grid"])], cells,
                                 study["reported"], study["grid"])
        comparison.insert(0, "study", study["name"])
        comparisons.append(comparison)
        covered = set(cells["augmentation"]) | set(cells["model"])
        sections.append(
            {
                "name": study["name"],
                "title": study["title"],
                "source": study["source"],
                "notes": study["notes"],
                "protocols": [
                    {"name": p, "title": t, "reported": study["reported"].get(p, "best")}
                    for p, t in study["protocols"].items()
                ],
                "runs": study["runs"],
                "done": int(_grid_mask(runs, study["grid"]).sum()),
                "counts": [Counter(comparison["verdict"]).get(v, 0) for v in VERDICTS],
                "claims": claims,
                "claim_counts": Counter(c["verdict"] for c in claims),
                "margin": _margin_text(study.get("margin")),
                "forest": forest(comparison),
                "cells": len(comparison),
                "tables": comparison_tables(comparison),
                "not_runnable": [
                    {"name": n, "reason": r} for n, r in study["not_runnable"].items() if n not in covered
                ],
                "extra_rows": _unmatched_rows(unmatched(ours, cells)),
                "curves": learning_curves(curves[_grid_mask(curves, study["grid"])], published_curves) if not curves.empty else [],
                "scatter": ours_vs_published(comparison),
                "hours": hours_vs_published(comparison),
            }
        )
    frame = pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame(columns=["study", *COMPARE_COLUMNS])
    return sections, frame


def build_report(
    summary_csv: str | Path,
    runs_csv: str | Path,
    curves_csv: str | Path,
    published_dir: str | Path,
    out_html: str | Path,
    studies: dict,
    provenance: dict | None = None,
    templates_dir: str | Path | None = None,
    status_csv: str | Path | None = None,
    previews=(),
    title: str = "Reproduction report: saliency-guided mixing augmentations",
) -> pd.DataFrame:
    """Write a self-contained HTML report: one section per chosen study (its published cells beside its own
    runs), the studies skipped or not chosen folded away with why, the gallery, failed runs and provenance.

    ``studies`` is ``augrepro.studies.Selection.describe()``. ``templates_dir`` holds
    ``templates/report.html.j2`` and ``assets/report.css`` (default: ``report/`` at the repository root).
    ``status_csv`` (from partial aggregation) marks cells whose runs failed; ``previews`` are PNG paths of the
    augmentation gallery, shown when they exist. Returns the comparison of every chosen study.
    """
    base = Path(templates_dir) if templates_dir is not None else DEFAULT_TEMPLATES_DIR
    for needed in (base / "templates" / TEMPLATE_NAME, base / "assets" / CSS_NAME):
        if not needed.is_file():
            raise ValueError(f"{needed}: report template file not found (templates_dir={base})")
    published = load_published(published_dir)
    summary = _normalize_summary(_read_csv(summary_csv))
    runs = _read_csv(runs_csv)
    curves = _read_csv(curves_csv)
    status = _read_csv(status_csv) if status_csv is not None else None
    images = gallery(previews)

    sections, comparison = study_views(
        studies, published, summary, runs, curves, status, load_published_curves(published_dir)
    )
    provenance_rows = [(str(k), _fmt_value(v)) for k, v in (provenance or {}).items()]
    provenance_rows += computed_provenance(runs, summary, status)
    others = [s for s in studies.get("studies", []) if s["status"] != "chosen"]

    env = Environment(
        loader=FileSystemLoader(str(base / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template(TEMPLATE_NAME)
    css = (base / "assets" / CSS_NAME).read_text(encoding="utf-8")
    html = template.render(
        title=title,
        css=Markup(css.replace("</", "<\\/")),
        verdict_rule=VERDICT_RULE,
        verdicts=VERDICTS,
        sections=sections,
        others=others,
        failed_rows=_failed_rows(status),
        gallery=images,
        provenance=provenance_rows,
    )
    atomic_write_text(out_html, html)
    return comparison
