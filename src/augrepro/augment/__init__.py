"""Batch-level mixing methods: a registry of named methods, each returning a MixResult.

The names and their metadata (:mod:`augrepro.augment.catalog`) import no torch; the interface
(:class:`Augmentation`, :class:`Context`, :class:`MixResult`, :func:`build_augmentation`) and each method's module
are imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from augrepro.augment.catalog import AUGMENTATIONS, method_cost

_INTERFACE = ("Augmentation", "Context", "MixResult", "build_augmentation", "method_class", "method_parameters")

__all__ = ["AUGMENTATIONS", "method_cost", *_INTERFACE]


def __getattr__(name: str) -> Any:
    if name in _INTERFACE:
        return getattr(importlib.import_module("augrepro.augment.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
