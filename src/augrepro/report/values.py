"""The values the report's view model is made of, read from the verdict files' loose cells: a number (NaN where
there is none), a whole number or None, a text ("" where there is none), a flag, and a mean with its std
(:class:`Estimate`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from augrepro.results.published import as_float as as_number  # the published tables' reader: NaN where not a number

NAN = math.nan


def as_int(value) -> int | None:
    """``value`` as an int; None where it is not a number."""
    number = as_number(value)
    return None if math.isnan(number) else int(number)


def as_text(value) -> str:
    """``value`` where it is a text; "" otherwise (NaN, None)."""
    return value if isinstance(value, str) else ""


def as_flag(value) -> bool:
    """A flag written as a bool or as "True" / "False" text; NaN is False."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Estimate:
    """A mean and its sample std over runs (NaN: not known)."""

    mean: float
    std: float = NAN
