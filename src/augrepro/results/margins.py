"""Equivalence margins, declared by each study before any run and grounded in run-to-run noise.

A cell's margin ``delta`` answers one question: *was this number reproduced?* (whether a paper's *gain* was
reproduced is a claim's test, :mod:`augrepro.results.claims`). A study declares its margins under ``margin:`` in
its file, as one rule or a list of rules (the first whose selectors match a cell applies), each with its reason:

* ``{sd: k, reason}``: ``delta = k x sigma``, ``sigma`` the run-to-run standard deviation of one run in the cell's
  column (:func:`column_noise`). The studies of this project use ``k = 2``: a mean within two run-to-run
  standard deviations of the published one is within what one rerun of the authors' own code shows 95 % of the
  time, and with the papers' five published runs no smaller multiple can be decided at 80 % power by any number of
  seeds of ours (the published mean's own standard error is ``sigma / sqrt(5)``; ``augrepro plan`` prints the seeds
  each study needs).
* ``{value: d, reason}``: ``delta = d`` in the metric's units.
* ``{relative: r, reason}``: ``delta = r x`` the published value (training hours, where the paper's GPU is not
  ours).

Selectors (optional, each a list): ``metric``, ``files`` (published CSVs), ``datasets`` (dataset keys, ``+`` for the
traditional augmentation), ``models``. A study whose published cells are not all covered, or whose ``sd`` rule meets
a column without a known ``sigma``, is refused before any job starts.

Where ``sigma`` comes from (:func:`column_noise`), in order:

1. the column's printed standard deviations (the root mean square of those the column prints: the SaliencyMix
   CIFAR table prints 0.1 to 0.6 points, SalfMix Tables 4, 5 and 7 print one per cell);
2. for top-1 and top-5 error, the binomial bound ``sqrt(e (1 - e) / N)`` (``e`` the column's mean published error,
   ``N`` the dataset's test images): under the independent-errors model of Jordan (ICLR 2024, "On the Variance of
   Neural Network Training with respect to Test Sets and Distributions", arXiv 2304.01910, section 3), which shows
   that CIFAR-10 and ImageNet trainings make approximately independent errors on the test examples, the variance of
   the test error between runs is ``sum_i p_i (1 - p_i) / N^2 <= e (1 - e) / N``; it matches the printed stds where
   both exist (ResNet-18 on CIFAR-10+: 4.72 % error gives 0.21, the table prints 0.21);
3. for detection mAP on Pascal VOC, the run-to-run std that MoCo's detection README states for Faster R-CNN R50-C4
   fine-tuned on VOC 07+12 and tested on VOC 2007 (facebookresearch/moco, detection/README.md: "the std of AP50, AP,
   AP75 is expected to be 0.2, 0.2, 0.4").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from augrepro import schemas
from augrepro.errors import ConfigError

RULES = ("sd", "value", "relative")
SELECTORS = ("metric", "files", "datasets", "models")
# The metrics where the binomial bound of the independent-errors model applies (errors on a fixed test set).
BINOMIAL_METRICS = ("top1_error", "top5_error")
# MoCo's detection README (facebookresearch/moco, detection/README.md): run-to-run std of VOC07 test AP.
DETECTION_NOISE = {"map50": 0.2, "map": 0.2, "map75": 0.4}
DETECTION_NOISE_SOURCE = (
    "MoCo's detection README (facebookresearch/moco, detection/README.md) for Faster R-CNN R50-C4 on VOC 07+12: "
    "the std of AP50, AP, AP75 is 0.2, 0.2, 0.4"
)
# A column of a published table: one model on one dataset ("+" or not) and one metric (whatever recipe each row quotes).
COLUMN = ("source", "dataset", "traditional", "model", "metric")


class MarginError(ValueError):
    """A study's margins do not cover its cells, or a rule cannot be applied: the message names the fix."""


@dataclass(frozen=True)
class Noise:
    """The run-to-run standard deviation of one run in a column, and where it comes from."""

    sigma: float
    source: str


@dataclass(frozen=True)
class CellMargin:
    """The margin of one published cell: its value, the rule and noise behind it, and the study's reason."""

    value: float
    rule: str  # "sd", "value" or "relative"
    sigma: float  # the column's run-to-run std (NaN: unknown)
    sigma_source: str
    reason: str  # the study's reason for its rule

    @property
    def in_sd(self) -> float:
        """The margin in units of the column's run-to-run std (NaN: unknown)."""
        return self.value / self.sigma if self.sigma > 0 else math.nan

    @property
    def text(self) -> str:
        """One line for the report and the verdict files."""
        if self.rule == "sd":
            how = f"±{self.value:.3g} = {self.in_sd:g} x the run-to-run std {self.sigma:.3g} ({self.sigma_source})"
        elif self.rule == "relative":
            how = f"±{self.value:.3g}, relative to the published value"
        else:
            how = f"±{self.value:.3g}, set in the study"
            if self.sigma > 0:
                how += f" ({self.in_sd:.2g} x the run-to-run std {self.sigma:.3g}: {self.sigma_source})"
        return f"{how}; {self.reason}"


def check_rules(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    """The study's ``margin:`` as a tuple of rules, validated by the study schema (``$defs.margin_rule``); the
    message names the file and the key."""
    if raw is None:
        return ()
    try:
        schemas.validate(raw, "study", where, "margin_rules", prefix=("margin",))
    except ConfigError as exc:
        raise MarginError(str(exc)) from None
    return tuple(dict(rule) for rule in ([raw] if isinstance(raw, dict) else raw))


def _selected(rule: Mapping[str, Any], cell: Mapping[str, Any]) -> bool:
    metric = rule.get("metric")
    metrics = [metric] if isinstance(metric, str) else metric
    key = f"{cell['dataset']}+" if cell["traditional"] else str(cell["dataset"])
    return (
        (metrics is None or cell["metric"] in metrics)
        and ("files" not in rule or cell.get("file") in rule["files"])
        and ("datasets" not in rule or key in rule["datasets"])
        and ("models" not in rule or cell["model"] in rule["models"])
    )


def _printed(values) -> list[float]:
    return [float(v) for v in values if v is not None and not pd.isna(v)]


def column_noise(column: pd.DataFrame, test_images: int | None) -> Noise | None:
    """The run-to-run std of one run in a column's cells (rows of one published table with the same
    dataset, "+", model and metric), or None when nothing gives it (see the module's docstring)."""
    metric = str(column["metric"].iloc[0])
    stds = _printed(column["std"])
    if stds:
        sigma = math.sqrt(sum(s**2 for s in stds) / len(stds))
        return Noise(sigma, f"the root mean square of the {len(stds)} std(s) the column prints")
    if metric in BINOMIAL_METRICS and test_images:
        means = _printed(column["mean"])
        if means:
            error = sum(means) / len(means) / 100.0
            if 0.0 < error < 1.0:
                sigma = 100.0 * math.sqrt(error * (1.0 - error) / test_images)
                return Noise(
                    sigma,
                    f"no std printed: the binomial bound sqrt(e(1-e)/N) at the column's mean error {100 * error:.2f} % "
                    f"and N = {test_images:,} test images (independent errors, Jordan, ICLR 2024)",
                )
    if metric in DETECTION_NOISE:
        return Noise(DETECTION_NOISE[metric], f"no std printed: {DETECTION_NOISE_SOURCE}")
    return None


def resolve_margins(
    rules: Sequence[Mapping[str, Any]],
    cells: pd.DataFrame,
    test_images: Callable[[str], int | None],
    where: str,
) -> list[CellMargin]:
    """The margin of each published cell (rows of ``cells``, in order): the first rule whose selectors match it.
    ``test_images``: a dataset's number of test images (for the binomial bound). Raises :class:`MarginError`,
    naming the study file, the cell and the fix, when no rule covers a cell or an ``sd`` rule meets a column
    without a known noise."""
    if cells.empty:
        return []
    noise: dict[tuple, Noise | None] = {}
    for key, column in cells.groupby(list(COLUMN), sort=False, dropna=False):
        noise[key] = column_noise(column, test_images(str(key[1])))
    out = []
    for cell in cells.to_dict("records"):
        label = (
            f"{cell.get('file') or cell['source']}: {cell['model']} / {cell['dataset']}{'+' if cell['traditional'] else ''} / "
            f"{cell['augmentation']} / {cell['metric']}"
        )
        rule = next((r for r in rules if _selected(r, cell)), None)
        if rule is None:
            raise MarginError(
                f"{where}: no margin rule covers the published cell {label}; declare one before any run, e.g. "
                "margin: {sd: 2, reason: <why>} (or a list of rules with selectors metric, files, datasets, models)"
            )
        found = noise[tuple(cell[c] for c in COLUMN)]
        sigma, source = (found.sigma, found.source) if found else (math.nan, "")
        if "sd" in rule:
            if found is None:
                raise MarginError(
                    f"{where}: margin rule sd cannot apply to {label}: the column prints no std and no run-to-run "
                    "figure is known for this metric; declare a rule with value: <points> and its reason for it"
                )
            value = float(rule["sd"]) * sigma
            kind = "sd"
        elif "relative" in rule:
            value, kind = float(rule["relative"]) * abs(float(cell["mean"])), "relative"
        else:
            value, kind = float(rule["value"]), "value"
        if not value > 0:
            raise MarginError(f"{where}: the margin of {label} is {value!r}; it must be positive")
        out.append(CellMargin(value, kind, sigma, source, str(rule["reason"]).strip()))
    return out
