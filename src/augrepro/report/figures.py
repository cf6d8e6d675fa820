"""The report's figures (seaborn on matplotlib's Agg backend), each as an inline PNG data URI.

* ``learning_curves``: test top-1 error by epoch per (protocol, dataset, model), one line per method, the
  band ± one sample std over seeds.
* ``ours_vs_published``: per published table, our mean ± std against the published mean ± std,
  coloured by verdict, with the diagonal where they agree.
* ``hours_vs_published``: training hours per method, the papers' time tables beside ours.
* ``forest``: per published table, ours - published for each tested cell with its 90 % interval, over the cell's
  +-margin band (the equivalence margin), coloured by verdict.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from augrepro.data.datasets import dataset_label  # noqa: E402
from augrepro.results.published import to_bool  # noqa: E402

VERDICT_COLORS = {
    "reproduced": "#2e7d32",
    "better": "#1565c0",
    "worse": "#c62828",
    "failed": "#6a1b9a",
    "missing": "#9e9e9e",
    "not runnable": "#bdbdbd",
    "inconclusive": "#ef8f00",
}
TESTED = ("reproduced", "better", "worse", "inconclusive")
DPI = 90


def mpl_text(text) -> str:
    """Names shown in a figure as plain text: matplotlib would read ``$...$`` as mathtext."""
    return str(text).replace("\\", "\\\\").replace("$", r"\$")


def _to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Overlay:
    """An authors' log drawn over a learning-curve figure: dashed black when its run followed the figure's
    protocol, dotted grey with the difference in its label when it followed another recipe."""

    augmentation: str
    label: str
    linestyle: str
    color: str
    epochs: list
    errors: list


def published_overlays(published: pd.DataFrame | None, cell: tuple, augmentations: set[str]) -> list[Overlay]:
    """The authors' logs of a figure's cell ``(protocol, dataset, traditional, model)`` for its methods."""
    if published is None or not len(published):
        return []
    protocol, dataset, traditional, model = cell
    same = published[
        (published["protocol"] == protocol)
        & (published["dataset"] == dataset)
        & (published["traditional"] == traditional)
        & (published["model"] == model)
        & published["augmentation"].isin(augmentations)
    ]
    if "differs" not in same.columns:
        same = same.assign(differs="")
    out = []
    for (aug, args, differs), line in same.groupby(["augmentation", "args", "differs"], sort=True):
        if differs:
            label, style, color = f"{aug}: authors' log, another recipe: {differs} ({args})", ":", "0.45"
        else:
            label, style, color = f"{aug}: authors' log ({args})", "--", "black"
        out.append(Overlay(aug, label, style, color, list(line["epoch"]), list(line["test_top1_error"])))
    return out


def learning_curves(curves: pd.DataFrame, published: pd.DataFrame | None = None) -> list[tuple[str, str]]:
    """One figure per (protocol, dataset, traditional, model): test top-1 error by epoch.

    Hue is the augmentation; the band is ± one sample standard deviation over seeds (none for a
    single seed). ``published`` (augrepro.results.curves): the authors' own logs of a figure's cell, drawn as
    dashed black lines labelled with their run's arguments, or dotted grey ones that name how their recipe
    differs from the cell's protocol (:func:`published_overlays`). Returns ``(title, "data:image/png;base64,...")``
    pairs in a stable order.
    """
    if curves.empty:
        return []
    if "protocol" not in curves.columns:
        curves = curves.assign(protocol="")
    data = curves[
        ["protocol", "dataset", "traditional", "model", "augmentation", "seed", "epoch", "test_top1_error"]
    ].copy()
    data["traditional"] = [to_bool(v) for v in data["traditional"]]
    data["augmentation"] = data["augmentation"].astype(str)
    # Aggregate over seeds once with pandas: plotting the raw rows through seaborn's
    # bootstrapping is far slower for a 1,000-run grid.
    stats = (
        data.groupby(["protocol", "dataset", "traditional", "model", "augmentation", "epoch"], sort=True)[
            "test_top1_error"
        ]
        .agg(["mean", "std"])
        .reset_index()
    )
    methods = sorted(stats["augmentation"].unique())
    palette = dict(zip(methods, sns.color_palette("colorblind", n_colors=max(len(methods), 1))))
    figures: list[tuple[str, str]] = []
    with sns.axes_style("whitegrid"):
        for (protocol, dataset, traditional, model), group in stats.groupby(
            ["protocol", "dataset", "traditional", "model"], sort=True
        ):
            title = f"{dataset_label(dataset, traditional)} / {model}" + (f" ({protocol})" if protocol else "")
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
            try:
                for aug, line in group.groupby("augmentation", sort=True):
                    x = line["epoch"].to_numpy(dtype=float)
                    mean = line["mean"].to_numpy(dtype=float)
                    std = np.nan_to_num(line["std"].to_numpy(dtype=float))
                    ax.plot(x, mean, color=palette[aug], label=mpl_text(aug), linewidth=1.4)
                    ax.fill_between(x, mean - std, mean + std, color=palette[aug], alpha=0.2, linewidth=0)
                cell = (protocol, dataset, traditional, model)
                for overlay in published_overlays(published, cell, set(group["augmentation"])):
                    ax.plot(
                        overlay.epochs,
                        overlay.errors,
                        color=overlay.color,
                        linestyle=overlay.linestyle,
                        linewidth=1.0,
                        label=mpl_text(overlay.label),
                    )
                ax.set_title(mpl_text(title))
                ax.set_xlabel("epoch")
                ax.set_ylabel("test top-1 error (%)")
                ax.legend(title="method", fontsize="small")
                figures.append((title, _to_data_uri(fig)))
            finally:
                plt.close(fig)
    return figures


def ours_vs_published(comparison: pd.DataFrame) -> list[tuple[str, str]]:
    """Per source, each error cell with runs of ours: published (x) against ours (y), ± std."""
    if comparison.empty:
        return []
    done = comparison[comparison["metric"].isin(["top1_error", "top5_error"]) & comparison["verdict"].isin(TESTED)]
    figures: list[tuple[str, str]] = []
    with sns.axes_style("whitegrid"):
        for source, part in done.groupby("source", sort=False):
            title = f"{source}: ours vs published"
            fig, ax = plt.subplots(figsize=(5.6, 5.0))
            try:
                for verdict_name, pts in part.groupby("verdict", sort=True):
                    ax.errorbar(
                        pts["published_mean"],
                        pts["ours_mean"],
                        xerr=np.nan_to_num(pts["published_std"].to_numpy(dtype=float)),
                        yerr=np.nan_to_num(pts["ours_std"].to_numpy(dtype=float)),
                        fmt="o",
                        markersize=5,
                        capsize=2,
                        color=VERDICT_COLORS.get(verdict_name, "black"),
                        label=f"{verdict_name} ({len(pts)})",
                    )
                values = pd.concat([part["published_mean"], part["ours_mean"]]).astype(float)
                lo, hi = float(values.min()), float(values.max())
                pad = max(0.05 * (hi - lo), 0.25)
                ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#555", linewidth=0.8, linestyle="--")
                ax.set_xlim(lo - pad, hi + pad)
                ax.set_ylim(lo - pad, hi + pad)
                ax.set_xlabel("published error (%)")
                ax.set_ylabel("our error (%)")
                ax.set_title(mpl_text(title), fontsize="medium")
                ax.legend(title="verdict", fontsize="small")
                figures.append((title, _to_data_uri(fig)))
            finally:
                plt.close(fig)
    return figures


def hours_vs_published(comparison: pd.DataFrame) -> list[tuple[str, str]]:
    """Training hours per method: each published time table beside our mean ± std (same cells)."""
    if comparison.empty:
        return []
    hours = comparison[comparison["metric"] == "hours"]
    if hours.empty:
        return []
    bars: list[dict] = []
    for row in hours.itertuples(index=False):
        bars.append({"method": row.augmentation, "who": row.source, "hours": row.published_mean, "std": 0.0})
    ours = hours[hours["n"] > 0].drop_duplicates(
        ["dataset", "traditional", "model", "augmentation", "our_augmentation"]
    )
    for row in ours.itertuples(index=False):
        label = "ours"
        if isinstance(row.our_augmentation, str) and row.our_augmentation != row.augmentation:
            label += f" {row.our_augmentation}"
        if isinstance(row.variant, str) and row.variant:
            label += f" ({row.variant})"
        std = float(row.ours_std) if not pd.isna(row.ours_std) else 0.0
        bars.append({"method": row.augmentation, "who": label, "hours": row.ours_mean, "std": std})
    data = pd.DataFrame(bars).drop_duplicates(["method", "who"])
    methods = list(dict.fromkeys(data["method"]))
    whos = list(dict.fromkeys(data["who"]))
    palette = dict(zip(whos, sns.color_palette("colorblind", n_colors=len(whos))))
    width = 0.8 / len(whos)
    cells = sorted({(r.dataset, r.traditional, r.model) for r in hours.itertuples(index=False)})
    where = "; ".join(f"{dataset_label(d, t)} / {m}" for d, t, m in cells)
    title = f"Training hours per method ({where})"
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7.0, 4.0))
        try:
            for j, who in enumerate(whos):
                sel = data[data["who"] == who].set_index("method")
                xs = [i + (j - (len(whos) - 1) / 2) * width for i, m in enumerate(methods) if m in sel.index]
                ys = [float(sel.loc[m, "hours"]) for m in methods if m in sel.index]
                es = [float(sel.loc[m, "std"]) for m in methods if m in sel.index]
                ax.bar(xs, ys, width=width, yerr=es, capsize=2, color=palette[who], label=mpl_text(who))
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels([mpl_text(m) for m in methods])
            ax.set_ylabel("hours per training run")
            ax.set_title(mpl_text(title), fontsize="medium")
            ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
            uri = _to_data_uri(fig)
        finally:
            plt.close(fig)
    return [(title, uri)]


def forest(comparison: pd.DataFrame) -> list[tuple[str, str]]:
    """Per source (published table): one row per tested cell, ours - published as a point with its 90 % confidence
    interval, a grey band of +-margin (the cell's margin) and the zero line; colours are the verdicts."""
    if comparison.empty:
        return []
    tested = comparison[comparison["verdict"].isin(TESTED) & comparison["margin"].notna()]
    figures: list[tuple[str, str]] = []
    with sns.axes_style("whitegrid"):
        for source, part in tested.groupby("source", sort=False):
            part = part.reset_index(drop=True)
            labels = [
                mpl_text(
                    f"{dataset_label(r.dataset, r.traditional)} {r.model} {r.our_augmentation or r.augmentation}"
                    + ("" if r.metric == "top1_error" else f" ({r.metric})")
                )
                for r in part.itertuples()
            ]
            height = 0.8 + 0.28 * len(part)
            title = f"{source}: ours - published, 90 % interval, margin band"
            fig, ax = plt.subplots(figsize=(7.2, height))
            try:
                y = np.arange(len(part))[::-1]
                for yi, r in zip(y, part.itertuples()):
                    ax.fill_betweenx([yi - 0.4, yi + 0.4], -r.margin, r.margin, color="#e0e0e0", linewidth=0)
                    low = r.ci_low if not pd.isna(r.ci_low) else r.diff
                    high = r.ci_high if not pd.isna(r.ci_high) else r.diff
                    color = VERDICT_COLORS.get(r.verdict, "black")
                    ax.plot([low, high], [yi, yi], color=color, linewidth=2)
                    ax.plot([r.diff], [yi], "o", color=color, markersize=4)
                ax.axvline(0, color="#555", linewidth=0.8)
                ax.set_yticks(y)
                ax.set_yticklabels(labels, fontsize="small")
                ax.set_xlabel("ours - published (points; lower is better for errors and hours)")
                ax.set_title(mpl_text(title), fontsize="medium")
                handles = [
                    plt.Line2D([], [], color=VERDICT_COLORS[v], linewidth=2, label=v)
                    for v in TESTED
                    if v in set(part["verdict"])
                ]
                ax.legend(handles=handles, fontsize="small", loc="lower right")
                figures.append((title, _to_data_uri(fig)))
            finally:
                plt.close(fig)
    return figures
