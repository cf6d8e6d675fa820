"""How the report writes numbers as text: the template's filters (:data:`FILTERS`).

The view model (:mod:`augrepro.report.view`) holds numbers; every number on the page is formatted here, by the
template. Names are shown with the labels of their registries, which the view model looks up.
"""

from __future__ import annotations

import math

DASH = "–"  # a number that is missing


def isnan(value) -> bool:
    """True for None and NaN; False for anything that is not a number."""
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def mean_std(mean, std=None, digits: int = 2) -> str:
    """'7.59 ± 0.22', or just '7.59' when the std is missing; '–' when the mean is."""
    if isnan(mean):
        return DASH
    text = f"{float(mean):.{digits}f}"
    if not isnan(std):
        text += f" ± {float(std):.{digits}f}"
    return text


def number(value, digits: int = 2) -> str:
    """'0.123' (``digits`` decimals), '–' when missing."""
    return mean_std(value, None, digits)


def estimate(value, digits: int = 2) -> str:
    """A :class:`augrepro.report.values.Estimate` as mean ± std."""
    return mean_std(value.mean, value.std, digits)


def signed(value) -> str:
    """A difference: '+0.28', '-1.10'; '–' when missing."""
    return DASH if isnan(value) else f"{float(value):+.2f}"


def interval(bounds) -> str:
    """A confidence interval of a difference: '[-0.12, +0.31]'; '' when there is none."""
    if bounds is None:
        return ""
    low, high = bounds
    return f"[{float(low):+.2f}, {float(high):+.2f}]"


def margin(delta) -> str:
    """An equivalence margin: '±0.30'; '' when there is none."""
    return "" if isnan(delta) else f"±{float(delta):.2f}"


def value_text(value) -> str:
    """A provenance value: a mapping as 'key value, ...', a list as 'a, b', None as ''."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def values(pairs) -> str:
    """A claim cell's (method, value) pairs: 'saliencymix 3.65, cutmix 3.78'."""
    return ", ".join(f"{method} {number(value)}" for method, value in pairs)


def sigmas(value) -> str:
    """A margin in units of the run-to-run std, after its value: ' = 2 σ'; '' when unknown."""
    return "" if isnan(value) else f" = {float(value):.2g} σ"


FILTERS = {
    "mean_std": mean_std,
    "number": number,
    "estimate": estimate,
    "signed": signed,
    "interval": interval,
    "margin": margin,
    "values": values,
    "sigmas": sigmas,
    "value": value_text,
}
