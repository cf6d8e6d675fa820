"""A method's variant, from its parameters alone: what a run records as ``variant`` (meta.json, the evaluations'
results, runs.csv), said without building the method, so without torch.

The methods with named variants compute theirs with these functions from their own fields, whose defaults are the
ones here: SaliencyMix's ``variant`` (official = released code, paper = paper text), with ``, per_sample`` in its
``mode`` per_sample; HybridMix's ``mode``, and v2's the variant of its SaliencyMix besides. The grid of the partial
report (:meth:`augrepro.studies.selection.Selection.grid_entry`) and a resolved run
(:attr:`augrepro.resolved.ResolvedRun.variant`) read :func:`declared_variant`; ``tests/test_resolved.py`` checks
that it equals the built method's (:func:`augrepro.augment.base.run_variant`) for every method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# SaliencyMix (augrepro.augment.saliencymix): its variant and mode.
SALIENCYMIX_VARIANTS = ("official", "paper")
SALIENCYMIX_MODES = ("per_batch", "per_sample")
SALIENCYMIX_DEFAULTS = {"variant": "official", "mode": "per_batch"}
# HybridMix (augrepro.augment.hybridmix): its mode, and v2's SaliencyMix variant.
HYBRIDMIX_MODES = ("per_sample", "per_batch")
HYBRIDMIX_DEFAULTS = {"mode": "per_sample", "saliencymix": "paper"}


def saliencymix_variant(variant: str, mode: str) -> str:
    """SaliencyMix's variant: ``official`` or ``paper``, ``paper, per_sample`` for HybridMix v2's per-sample form."""
    return f"{variant}, per_sample" if mode == "per_sample" else variant


def hybridmix_variant(mode: str, saliencymix: str | None = None) -> str:
    """HybridMix's variant: its mode; v2 names its SaliencyMix's variant (``per_sample, saliencymix paper``)."""
    return mode if saliencymix is None else f"{mode}, saliencymix {saliencymix}"


_VARIANTS: dict[str, tuple[Mapping[str, str], Callable[[dict[str, Any]], str]]] = {
    "saliencymix": (SALIENCYMIX_DEFAULTS, lambda p: saliencymix_variant(p["variant"], p["mode"])),
    "hybridmix_v1": (HYBRIDMIX_DEFAULTS, lambda p: hybridmix_variant(p["mode"])),
    "hybridmix_v2": (HYBRIDMIX_DEFAULTS, lambda p: hybridmix_variant(p["mode"], p["saliencymix"])),
    "hybridmix_v3": (HYBRIDMIX_DEFAULTS, lambda p: hybridmix_variant(p["mode"])),
}


def declared_variant(method: str, params: Mapping[str, Any] | None) -> str | None:
    """The variant of ``method`` run with ``params`` (its parameters as a run resolves them); None for a method
    without variants. Parameters are not checked here: building the method does that, before any job starts."""
    entry = _VARIANTS.get(method)
    if entry is None:
        return None
    defaults, variant = entry
    return variant({**defaults, **(params or {})})
