"""Learning-curve figures as inline PNG data URIs."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from augrepro.results.compare import dataset_label, to_bool  # noqa: E402


def _to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def learning_curves(curves: pd.DataFrame) -> list[tuple[str, str]]:
    """One figure per (dataset, traditional, model): test top-1 error by epoch.

    Hue is the augmentation; the band is ± one standard deviation over seeds. Returns
    ``(title, "data:image/png;base64,...")`` pairs in a stable order.
    """
    if curves.empty:
        return []
    data = curves.copy()
    data["traditional"] = [to_bool(v) for v in data["traditional"]]
    data["augmentation"] = data["augmentation"].astype(str)
    figures: list[tuple[str, str]] = []
    for (dataset, traditional, model), group in data.groupby(
        ["dataset", "traditional", "model"], sort=True
    ):
        title = f"{dataset_label(dataset, traditional)} / {model}"
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        try:
            sns.lineplot(
                data=group.sort_values(["augmentation", "epoch"]),
                x="epoch",
                y="test_top1_error",
                hue="augmentation",
                errorbar="sd",
                ax=ax,
            )
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_ylabel("test top-1 error (%)")
            ax.grid(True, alpha=0.3)
            figures.append((title, _to_data_uri(fig)))
        finally:
            plt.close(fig)
    return figures
