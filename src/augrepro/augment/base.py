"""The batch-level mixing interface shared by every method.

A method is a dataclass whose fields are its parameters (so the config's keys are checked by
name and type), registered by name. Calling it on a batch of *normalized* float images returns a
:class:`MixResult`; the loss is ``lam * CE(out, y) + lam_b * CE(out, y[index])`` per sample.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from augrepro.augment.catalog import AUGMENTATIONS
from augrepro.data.normalization import Normalization
from augrepro.transfer import to_device

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from augrepro.resolved import ResolvedRun


@dataclass
class MixResult:
    images: torch.Tensor  # N x C x H x W, mixed, normalized
    index: torch.Tensor  # N, partner index of each sample (arange when unmixed)
    lam: torch.Tensor  # N, weight of each sample's own label
    lam_b: torch.Tensor | None = None  # N, weight of the partner's label; None means 1 - lam
    boxes: torch.Tensor | None = None  # N x 4 (y1, x1, y2, x2), the pasted region, for box methods
    # Where the pasted pixels came from in the partner image (N x 4), when it differs from ``boxes``
    # (SnapMix, ResizeMix, SalfMix, the SaliencyMix ablation styles); None means the same region.
    source_boxes: torch.Tensor | None = None
    # Methods with more than two labels (RICAP): K x N source indices and K x N label weights; part k of
    # sample i shows image ``indices[k, i]`` and weighs its label by ``weights[k, i]``. When present,
    # the loss and the correct count use these (``lam``/``index`` then summarise: the own label's total
    # weight and the heaviest other partner). ``part_boxes`` (K x N x 4): the region of each part.
    indices: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    part_boxes: torch.Tensor | None = None

    @property
    def partner_weight(self) -> torch.Tensor:
        return 1.0 - self.lam if self.lam_b is None else self.lam_b

    def label_terms(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(source index, weight) pairs whose weighted sum defines the loss: two, or K for RICAP."""
        if self.indices is not None:
            if self.weights is None or self.weights.shape != self.indices.shape:
                raise ValueError("MixResult.indices and MixResult.weights must both be K x N")
            return list(zip(self.indices, self.weights))
        own = torch.arange(self.lam.shape[0], device=self.lam.device)
        return [(own, self.lam), (self.index, self.partner_weight)]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the per-sample mixed cross-entropy."""
        total = torch.zeros(logits.shape[0], device=logits.device)
        for idx, weight in self.label_terms():
            total = total + weight * F.cross_entropy(logits, labels[idx], reduction="none")
        return total.mean()

    def correct(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Label-weighted number of correct top-1 predictions (for the training error)."""
        pred = logits.argmax(1)
        total = torch.zeros((), device=logits.device)
        for idx, weight in self.label_terms():
            total = total + (weight * (pred == labels[idx]).float()).sum()
        return total


@dataclass
class Context:
    """What a method may need beyond the batch: the dataset's spec and the method's own random streams (in
    training, derived from the run's seed for the method alone: augrepro.train.streams)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    generator: torch.Generator  # CPU torch generator (permutations, per-sample draws)
    rng: np.random.Generator  # numpy generator (scalar draws such as lam ~ Beta)
    epoch: int = 1
    model: torch.nn.Module | None = None

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized images back to uint8 (:meth:`Normalization.to_uint8 <augrepro.data.normalization.
        Normalization.to_uint8>`)."""
        return Normalization(self.mean, self.std, x.device).to_uint8(x)


class Augmentation:
    """Base class. Subclasses are dataclasses; ``source`` cites the paper section or released code."""

    name: ClassVar[str] = ""
    source: ClassVar[str] = ""
    # Methods with named variants define ``variant`` (a field, or a property of their fields); describe() reads it,
    # None for the others. Not declared here: a class-level default would clash with a subclass's field or property.

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, ctx: Context) -> MixResult:
        raise NotImplementedError

    def bind(self, spec) -> None:
        """Adapt to a dataset (its DatasetSpec) and check what depends on it; called once by
        :func:`build_augmentation`, after every parameter's own range was checked. Nothing by default."""

    def uses_model(self) -> bool:
        """Whether a call makes an extra pass through ``ctx.model`` (the model being trained)."""
        return False

    def saliency_map(self, images: torch.Tensor, labels: torch.Tensor, ctx: Context) -> torch.Tensor | None:
        """The N x H x W map this method consults for ``images`` (for previews), or None if it uses none."""
        return None

    def describe(self) -> dict[str, Any]:
        params: dict[str, Any] = dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}
        return {"method": self.name, "variant": getattr(self, "variant", None), "params": params, "source": self.source}


def register(name: str):
    def decorator(cls):
        cls.name = name
        AUGMENTATIONS.register(name)(cls)
        return cls

    return decorator


def require_model(ctx: Context, method: str) -> torch.nn.Module:
    """The model being trained, for methods that need an extra forward/backward; a clear error if absent."""
    if ctx.model is None:
        raise ValueError(
            f"{method} needs the model being trained: pass it as Context(..., model=model) "
            "(the training engine does this; a preview uses a freshly initialised model or a checkpoint)"
        )
    return ctx.model


def identity(images: torch.Tensor) -> MixResult:
    n = images.shape[0]
    return MixResult(
        images=images,
        index=torch.arange(n, device=images.device),
        lam=torch.ones(n, device=images.device),
    )


# --- per-sample pairing (SalfMix paper Algorithm 2, lines 8-12) ------------------------------------------


def draw_partners(n: int, ctx: Context, device) -> torch.Tensor:
    """Each sample's partner, uniform over the mini-batch, with replacement (Algorithm 2, line 8)."""
    return to_device(torch.randint(0, n, (n,), generator=ctx.generator), device)


def sample_lams(ctx: Context, n: int, a: float, device) -> torch.Tensor:
    """Each sample's own lam ~ Beta(a, a), from the run's numpy generator."""
    return to_device(torch.from_numpy(ctx.rng.beta(a, a, size=n).astype(np.float32)), device)


def mix_with_probability(
    x1: torch.Tensor,
    mixed: torch.Tensor,
    lam: torch.Tensor,
    boxes: torch.Tensor | None,
    partner: torch.Tensor,
    prob: float,
    ctx: Context,
) -> MixResult:
    """Per sample, ``mixed`` with probability ``prob`` (its lam and box), else ``x1`` unmixed (lam 1, no box)."""
    n = x1.shape[0]
    apply = to_device(torch.rand(n, generator=ctx.generator) < prob, x1.device)
    mixed = torch.where(apply[:, None, None, None], mixed, x1)
    lam = torch.where(apply, lam, torch.ones_like(lam))
    if boxes is not None:
        boxes = torch.where(apply[:, None], boxes, torch.zeros_like(boxes))
    return MixResult(mixed, partner, lam, boxes=boxes)


@dataclass(frozen=True)
class Range:
    """The valid values of one method parameter, declared with the parameter (:func:`param`)."""

    low: float | None = None  # lower bound (None: none)
    high: float | None = None  # upper bound (None: none)
    low_open: bool = False  # True: the bound itself is invalid
    high_open: bool = False
    choices: tuple | None = None  # the valid values, for names
    disables: str = ""  # why a value outside the range would silently turn the method off

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'<' if self.high_open else '<='} {self.high:g}"

    def contains(self, value: Any) -> bool:
        if value is None:
            return True  # None means "the default for the dataset"; the field's type allows it or not
        if self.choices is not None:
            return value in self.choices
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))


def param(default: Any, *, disables: str = "", **bounds) -> Any:
    """A method parameter with its valid range: ``beta: float = param(1.0, low=0, low_open=True)``. Every
    method's ranges are checked in one place (:func:`check_ranges`) before any job starts."""
    return dataclasses.field(default=default, metadata={"range": Range(disables=disables, **bounds)})


# The ranges every method shares.
def probability(default: float) -> Any:
    """A mixing probability in (0, 1]: 0 would never mix, which is the baseline."""
    return param(default, low=0.0, high=1.0, low_open=True, disables="prob 0 never mixes: that run is the baseline")


def beta_parameter(default: float) -> Any:
    """A Beta(a, a) parameter, > 0: the released CutMix/SaliencyMix/mixup code skips mixing when it is <= 0."""
    return param(default, low=0.0, low_open=True, disables="the released code mixes nothing when it is <= 0")


def check_ranges(method: str, instance: Augmentation) -> None:
    """Every parameter of ``instance`` against the range declared with it; the message names the key, the value
    and the range, and points to ``baseline`` where a value would silently disable the method."""
    for f in dataclasses.fields(_dataclass(method, instance)):
        rng = f.metadata.get("range")
        value = getattr(instance, f.name)
        if rng is None or rng.contains(value):
            continue
        message = f"{method}.{f.name} = {value!r} is out of range: expected {rng.describe()}"
        if rng.disables:
            message += f" ({rng.disables}; to train without mixing, use the method `baseline`)"
        raise ValueError(message)


def _dataclass(method: str, obj: object) -> DataclassInstance | type[DataclassInstance]:
    """``obj`` (a method's class or instance), which must be a dataclass: its fields are the method's parameters."""
    if not dataclasses.is_dataclass(obj):
        raise TypeError(
            f"method {method!r} is registered with {obj!r}, which is not a dataclass: decorate its class with "
            "@dataclass (its fields are the method's parameters)"
        )
    return obj


def method_class(method: str) -> type[Augmentation]:
    """The class registered as ``method`` (importing its module); it must subclass :class:`Augmentation`."""
    cls = AUGMENTATIONS.get(method)
    if not (isinstance(cls, type) and issubclass(cls, Augmentation)):
        raise TypeError(
            f"method {method!r} is registered with {cls!r}, which is not a subclass of Augmentation: register a "
            "dataclass that subclasses augrepro.augment.Augmentation"
        )
    return cls


def method_parameters(method: str) -> tuple[dataclasses.Field[Any], ...]:
    """The parameters of ``method``: the fields of its class (importing its module), with their defaults."""
    return dataclasses.fields(_dataclass(method, method_class(method)))


def _check_type(method: str, key: str, hint: Any, value: Any) -> Any:
    """Check ``value`` against the field's annotation (``int``, ``float``, ``str``, ``X | None``)."""
    expected = tuple(t for t in (typing.get_args(hint) or (hint,)) if isinstance(t, type))
    if not expected:
        return value
    if float in expected and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
        raise ValueError(f"{method}.{key}: expected {names}, got {value!r}")
    return value


def run_variant(run: ResolvedRun, dataset_spec) -> str | None:
    """The variant a resolved run records, in its meta.json and in its evaluations' results: what its method, built
    with the run's parameters, describes (SaliencyMix's ``variant``, HybridMix's ``mode``; None for a method
    without variants). The engine's meta.json takes it from the same ``describe()`` of the method it trains; without
    building it (and torch), :attr:`augrepro.resolved.ResolvedRun.variant` says the same."""
    return build_augmentation(run.method, run.params, dataset_spec).describe()["variant"]


def build_augmentation(method: str, params: dict[str, Any] | None, dataset_spec) -> Augmentation:
    """Build a registered method from config parameters; unknown, mistyped or out-of-range parameters fail
    by name, before the method is bound to the dataset."""
    cls = method_class(method)
    params = dict(params or {})
    fields = {f.name: f for f in method_parameters(method)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for method {method!r}; "
            f"valid parameters: {', '.join(fields) or '(none)'}"
        )
    hints = typing.get_type_hints(cls)
    typed = {k: _check_type(method, k, hints.get(k), v) for k, v in params.items()}
    instance = cls(**typed)
    check_ranges(method, instance)
    instance.bind(dataset_spec)
    return instance
