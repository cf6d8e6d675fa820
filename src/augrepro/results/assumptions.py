"""What a study assumes of its published side, declared before any run (``published_side:`` in its file).

A published number is never taken as exact by default (:class:`augrepro.results.stats.PublishedSide`):

* mean ± std with a run count: a sample, as printed;
* mean ± std without a run count (SalfMix Tables 4, 5, 7): a sample of an assumed number of runs. The study states
  it with its reason (``runs: {count, plausible, reason}``); the default is 2, the smallest count a std can come
  from, which gives the published mean its widest interval. The report shows where the verdict would change under
  another plausible count;
* a mean without a std (the ImageNet table; SalfMix Tables 6, 9, 10): ``runs`` draws (one where the source does
  not say), whose spread is taken from our seeds (a prediction interval);
* exact only where the study says so (``exact: {metrics: [hours], reason}``: a run's wall hours on the
  paper's GPU, where the margin, not the noise, carries the difference of GPUs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from augrepro import schemas
from augrepro.errors import ConfigError
from augrepro.results.stats import PublishedSide

# The smallest run count behind a printed std, the most conservative assumption: the default (the study schema's
# published_side.runs.count).
DEFAULT_ASSUMED_RUNS = schemas.load_schema("study")["$defs"]["published_side"]["properties"]["runs"]["properties"][
    "count"
]["default"]


class AssumptionError(ValueError):
    """A study's ``published_side`` is malformed: the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Assumptions:
    """A study's declared assumptions about its published side."""

    runs: int = DEFAULT_ASSUMED_RUNS  # runs behind a printed std whose count is not printed
    plausible: tuple[int, ...] = (DEFAULT_ASSUMED_RUNS,)  # other counts the report checks the verdict under
    runs_reason: str = "the smallest number of runs a std can come from (the widest interval for the published mean)"
    exact_metrics: tuple[str, ...] = ()
    exact_reason: str = ""

    @classmethod
    def parse(cls, raw: Any, where: str, metrics=()) -> Assumptions:
        if raw is None:
            return cls()
        try:
            schemas.validate(raw, "study", where, "published_side", prefix=("published_side",))
        except ConfigError as exc:
            raise AssumptionError(str(exc)) from None
        out = cls()
        runs = raw.get("runs")
        if runs is not None:
            count = runs.get("count", DEFAULT_ASSUMED_RUNS)
            plausible = runs.get("plausible", [count])
            out = cls(count, tuple(dict.fromkeys([count, *plausible])), runs["reason"].strip())
        exact = raw.get("exact")
        if exact is not None:
            names = exact["metrics"]
            if metrics and any(m not in metrics for m in names):
                raise AssumptionError(f"{where}: published_side.exact.metrics: {names!r}; valid: {', '.join(metrics)}")
            out = cls(out.runs, out.plausible, out.runs_reason, tuple(names), exact["reason"].strip())
        return out

    def side(self, mean: float, std: float, runs: float, metric: str, assumed_runs: int | None = None) -> PublishedSide:
        """The published side of one cell: ``std`` / ``runs`` as printed (NaN: not printed); ``assumed_runs``
        replaces the study's count for a std without a run count (the report's sensitivity check)."""
        printed_runs = None if runs is None or math.isnan(runs) else int(runs)
        has_std = not (std is None or math.isnan(std))
        if metric in self.exact_metrics:
            return PublishedSide(mean, std if has_std else math.nan, printed_runs or 1, exact=True)
        if printed_runs is not None:
            if has_std and printed_runs < 2:
                return PublishedSide(mean, math.nan, printed_runs)  # a std cannot come from one run: ignore it
            return PublishedSide(mean, std if has_std else math.nan, printed_runs)
        if has_std:
            return PublishedSide(mean, std, assumed_runs or self.runs, runs_assumed=True)
        return PublishedSide(mean, math.nan, 1)

    def describe(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "plausible": list(self.plausible),
            "runs_reason": self.runs_reason,
            "exact_metrics": list(self.exact_metrics),
            "exact_reason": self.exact_reason,
        }

    @classmethod
    def from_description(cls, d: dict[str, Any] | None) -> Assumptions:
        if not d:
            return cls()
        return cls(
            int(d["runs"]),
            tuple(int(v) for v in d["plausible"]),
            d["runs_reason"],
            tuple(d["exact_metrics"]),
            d["exact_reason"],
        )
