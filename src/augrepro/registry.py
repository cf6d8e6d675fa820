"""Name -> builder registries (the config's compact names are the API, as in timm)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps a name to a builder, and to the label a reader sees (the report's tables). ``build(name, ...)`` of an
    unknown name fails listing the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}
        self._labels: dict[str, str] = {}

    def register(self, name: str, label: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Register a builder under ``name``; ``label`` is how the papers print it ("ResNet-18"; default: the
        name)."""

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._builders[name] = builder
            if label:
                self._labels[name] = label
            return builder

        return decorator

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._builders[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}"
            ) from None

    def label(self, name: str) -> str:
        """The registered label of ``name``, or the name itself when it was registered without one."""
        self.get(name)
        return self._labels.get(name, name)

    def build(self, name: str, *args: Any, **kwargs: Any) -> T:
        return self.get(name)(*args, **kwargs)
