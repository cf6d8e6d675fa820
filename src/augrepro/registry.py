"""Name -> builder registries (the config's compact names are the API, as in timm).

A registry may be *declared*: each name is first declared with the module that implements it and its metadata
(:meth:`Registry.declare`; the augmentation methods' cost for the plan), so that the names, labels and metadata are
known without importing the implementations (and torch with them): checking a study file and pricing the plan
need no more. The implementing module is imported the first time its builder is asked for (:meth:`Registry.get`),
and its ``register`` of a name that was not declared fails, naming where to declare it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class Declaration:
    """A declared name: the module whose import registers its builder, and its metadata."""

    module: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Maps a name to a builder, and to the label a reader sees (the report's tables). ``build(name, ...)`` of an
    unknown name fails listing the valid ones. ``declared_in``: where the names are declared (a declared registry
    registers no name that was not declared there)."""

    def __init__(self, kind: str, declared_in: str | None = None) -> None:
        self.kind = kind
        self.declared_in = declared_in
        self._builders: dict[str, Callable[..., T]] = {}
        self._labels: dict[str, str] = {}
        self._declared: dict[str, Declaration] = {}

    def declare(self, name: str, module: str, label: str = "", **metadata: Any) -> None:
        """Declare ``name`` as implemented (registered) by ``module``, with its ``metadata``; imports nothing."""
        if name in self._declared:
            raise ValueError(f"{self.kind} {name!r} is declared twice")
        self._declared[name] = Declaration(module, dict(metadata))
        if label:
            self._labels[name] = label

    def register(self, name: str, label: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Register a builder under ``name``; ``label`` is how the papers print it ("ResNet-18"; default: the
        name)."""

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.declared_in is not None and name not in self._declared:
                raise ValueError(
                    f"{self.kind} {name!r} is not declared: declare it in {self.declared_in}, with its module and "
                    "metadata"
                )
            self._builders[name] = builder
            if label:
                self._labels[name] = label
            return builder

        return decorator

    def names(self) -> list[str]:
        return sorted(self._builders.keys() | self._declared.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._builders or name in self._declared

    def _unknown(self, name: str) -> UnknownNameError:
        return UnknownNameError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}")

    def get(self, name: str) -> Callable[..., T]:
        """The builder of ``name``, importing its declared module the first time."""
        if name not in self._builders and name in self._declared:
            module = self._declared[name].module
            importlib.import_module(module)
            if name not in self._builders:
                raise ValueError(f"{self.kind} {name!r} is declared with module {module}, which does not register it")
        try:
            return self._builders[name]
        except KeyError:
            raise self._unknown(name) from None

    def metadata(self, name: str) -> Mapping[str, Any]:
        """The declared metadata of ``name`` (no import)."""
        if name not in self._declared:
            raise self._unknown(name)
        return self._declared[name].metadata

    def label(self, name: str) -> str:
        """The registered label of ``name``, or the name itself when it was registered without one."""
        if name not in self:
            raise self._unknown(name)
        return self._labels.get(name, name)

    def build(self, name: str, *args: Any, **kwargs: Any) -> T:
        return self.get(name)(*args, **kwargs)
