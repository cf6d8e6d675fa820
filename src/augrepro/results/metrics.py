"""The metrics a published cell can name: how the report labels each, its direction, and the column of ours that
answers it under a source's ``reported`` statistic (the best epoch, the final epoch or the median of the last 10;
for top-5 the error at the best top-1 epoch)."""

from __future__ import annotations

from dataclasses import dataclass

from augrepro.runs import REPORTED, REPORTED_TOP5


@dataclass(frozen=True)
class Metric:
    """A published metric: how the report names it, and its direction."""

    label: str  # in a table's caption: "top-1 error (%)"
    short: str  # in a column heading beside the dataset: "CIFAR-10 top-5"
    higher_is_better: bool = False


# Metrics where a larger number is better (accuracy under FGSM; detection mAP over IoU 0.50:0.95, at 0.5 and at
# 0.75, in percent): ``better`` means ours above the published value. Every other metric is an error or a cost.
# Each of those is one value per run from its evaluation (augrepro.evaluate); its summary column is its name.
METRICS: dict[str, Metric] = {
    "top1_error": Metric("top-1 error (%)", "top-1"),
    "top5_error": Metric("top-5 error (%)", "top-5"),
    "hours": Metric("hours", "hours"),
    "fgsm_top1_accuracy": Metric("top-1 accuracy under FGSM (%)", "FGSM top-1 acc.", higher_is_better=True),
    "map": Metric("mAP 0.5:0.95 (%)", "mAP", higher_is_better=True),
    "map50": Metric("mAP50 (%)", "mAP50", higher_is_better=True),
    "map75": Metric("mAP75 (%)", "mAP75", higher_is_better=True),
}
HIGHER_IS_BETTER = frozenset(name for name, m in METRICS.items() if m.higher_is_better)
VERDICTS = ("reproduced", "better", "worse", "inconclusive", "failed", "missing", "not runnable")

# How a source summarized a run (``reported``), as the report names it; "wall hours" and "per run" are what the
# comparison records for the hours and the evaluations, which have one value per run.
REPORTED_LABELS = {
    "best": "best epoch",
    "final": "final epoch",
    "median_last10": "median of the last 10 epochs",
    "wall hours": "wall hours",
    "per run": "one value per run",
}


def metric_column(metric: str, reported: str = "best") -> str:
    """The column of ours (runs.csv; in summary.csv with _mean / _std) that answers a published metric, by the
    protocol's ``reported``."""
    if metric == "top1_error":
        return REPORTED[reported]
    if metric == "top5_error":
        return REPORTED_TOP5[reported]
    if metric == "hours":
        return "hours"
    if metric in HIGHER_IS_BETTER:  # one value per run, whatever the protocol reports over epochs
        return metric
    raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")


@dataclass(frozen=True)
class MetricColumns:
    """The columns of ours compared with a published metric under a source's ``reported`` statistic."""

    metric: str
    reported: str  # what is compared, as the comparison records it (a key of REPORTED_LABELS)
    run: str  # the per-run column (runs.csv); summary.csv has its mean and std

    @classmethod
    def of(cls, metric: str, reported: str) -> MetricColumns:
        shown = "wall hours" if metric == "hours" else ("per run" if metric in HIGHER_IS_BETTER else reported)
        return cls(metric, shown, metric_column(metric, reported))

    @property
    def mean(self) -> str:
        return f"{self.run}_mean"

    @property
    def std(self) -> str:
        return f"{self.run}_std"
