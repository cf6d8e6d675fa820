"""A run's random streams: one per purpose, each derived from (seed, purpose) and, where ranks differ, the rank.

This module is the one place that derives them. Common random numbers (STYLE.md, "Statistics for a
reproduction"): seed s gives every method the same initial weights, the same order of images in every epoch and
the same input-pipeline draws (crops, flips, jitter) at the same image positions, while each method draws from its
own streams, so paired differences (method - baseline at the same seed) vary less than unpaired ones
(``bench/bench_paired_seeds.py`` measures by how much on the demo). No stream can shift another: a draw from one
never moves the position of the others.

The purposes (:data:`PURPOSES`, with the number each is derived from):

- ``init``: the weight initialization; the model is built with torch's global generator set to this stream and
  put back afterwards (:func:`initial_weights`), so the weights depend on the seed alone.
- ``order``: the order of the training images in every epoch (a torch generator); alike on every rank, so also
  alike for every world size.
- ``pipeline``: the input pipeline's draws (crop offsets and boxes, flips, jitter; the file loader's worker seeds)
  for this rank's part of each batch. Every pipeline draws the same amount per batch whatever the images are, so
  the stream is at the same place at the same step in every run of a seed.
- ``method_torch`` and ``method_numpy``: the mixing method's draws (``Context.generator`` and ``Context.rng``:
  partner permutations, boxes, lam). Methods that draw alike (CutMix and SaliencyMix's released variant) see the
  same draws at the same step.
- ``global``: Python's, numpy's and torch's global generators (CPU and CUDA): what dropout, a method's extra pass
  through the model and library code draw from. Nothing above draws from them.

Derivation, version :data:`STREAMS_VERSION` (recorded in meta.json under ``random_streams`` and in resume.pt): the
stream of a purpose is numpy's ``SeedSequence(entropy=seed, spawn_key=(PURPOSES[purpose],))`` for ``init`` and
``order``, and ``SeedSequence(entropy=seed, spawn_key=(PURPOSES[purpose], rank))`` for the others (rank 0 in a
single process). A numpy generator takes the SeedSequence itself (PCG64); a torch generator (mt19937, which keeps
32 bits of a seed) takes its first 32-bit word (``generate_state(1)[0]``); Python's and numpy's global generators
take its first four words. Changing any of this is a new version.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

STREAMS_VERSION = "crn-1"
PURPOSES = {"init": 1, "order": 2, "pipeline": 3, "method_torch": 4, "method_numpy": 5, "global": 6}
SHARED = ("init", "order")  # alike on every rank; the others are derived per rank


def sequence(seed: int, purpose: str, rank: int = 0) -> np.random.SeedSequence:
    """The SeedSequence of ``purpose``'s stream in run ``seed`` on ``rank`` (the rank is ignored for the purposes
    that are alike on every rank)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random stream {purpose!r}; valid: {', '.join(PURPOSES)}")
    key = (PURPOSES[purpose],) if purpose in SHARED else (PURPOSES[purpose], int(rank))
    return np.random.SeedSequence(int(seed), spawn_key=key)


def torch_seed(seed: int, purpose: str, rank: int = 0) -> int:
    """The seed of a torch generator of ``purpose`` (32 bits: what torch's mt19937 keeps of a seed)."""
    return int(sequence(seed, purpose, rank).generate_state(1)[0])


def torch_generator(seed: int, purpose: str, rank: int = 0) -> torch.Generator:
    """A CPU torch generator on ``purpose``'s stream."""
    return torch.Generator().manual_seed(torch_seed(seed, purpose, rank))


@contextlib.contextmanager
def initial_weights(seed: int) -> Iterator[None]:
    """Build the model inside this block: torch's global CPU generator is set to the ``init`` stream and put back
    afterwards, so the initial weights depend on the seed alone (not on the method, the rank or anything drawn
    before) and drawing them moves no other stream. The model is built on the CPU (then moved)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(torch_seed(seed, "init"))
        yield


def describe() -> dict[str, Any]:
    """How the streams were derived, for meta.json."""
    return {
        "version": STREAMS_VERSION,
        "derivation": "numpy SeedSequence(entropy=seed, spawn_key=(purpose,) or (purpose, rank)); torch generators "
        "seeded with its first 32-bit word (augrepro.train.streams)",
        "purposes": dict(PURPOSES),
        "alike_on_every_rank": list(SHARED),
    }


def torch_global_state() -> dict[str, Any]:
    """torch's global generators: the CPU's (``torch``) and each CUDA device's (``cuda``)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_torch_global(state: dict[str, Any]) -> None:
    """Put torch's global generators where :func:`torch_global_state` saw them (states loaded onto any device)."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


@dataclass
class Generators:
    """The streams a run draws from after its weights are built: ``order`` (alike on every rank), and this rank's
    ``pipeline``, ``method`` (torch) and ``method_rng`` (numpy); Python's, numpy's and torch's global generators
    are seeded from the ``global`` stream. A checkpoint holds every one of them (:meth:`state`)."""

    order: torch.Generator
    pipeline: torch.Generator
    method: torch.Generator
    method_rng: np.random.Generator

    @classmethod
    def derive(cls, seed: int, rank: int = 0) -> Generators:
        """Every stream of run ``seed`` on ``rank``; also seeds the global generators (``global`` stream)."""
        words = sequence(seed, "global", rank).generate_state(4)
        random.seed(int.from_bytes(words.tobytes(), "little"))
        np.random.seed(words)
        torch.manual_seed(int(words[0]))  # the CPU generator and every CUDA device's
        return cls(
            torch_generator(seed, "order"),
            torch_generator(seed, "pipeline", rank),
            torch_generator(seed, "method_torch", rank),
            np.random.default_rng(sequence(seed, "method_numpy", rank)),
        )

    def state(self) -> dict[str, Any]:
        return {
            "version": STREAMS_VERSION,
            "python": random.getstate(),
            "numpy_global": _numpy_global_state(),
            **torch_global_state(),
            "order": self.order.get_state(),
            "pipeline": self.pipeline.get_state(),
            "method": self.method.get_state(),
            "method_rng": self.method_rng.bit_generator.state,
        }

    @staticmethod
    def check_saved(state: dict[str, Any], path: str | Path) -> None:
        """Refuse the streams of a checkpoint that another derivation wrote (before the streams were split by
        purpose, there was one generator for the data order, the pipeline and the mixing): continuing from it
        would mix two derivations in one run."""
        version = state.get("version")
        if version == STREAMS_VERSION:
            return
        written = (
            "before the random streams were split by purpose (one generator for the data order, the pipeline "
            "and the mixing draws)"
            if version is None
            else f"with random streams {version!r}"
        )
        raise RuntimeError(
            f"{path} was written {written}, but this version derives streams {STREAMS_VERSION!r} "
            "(augrepro.train.streams); resuming would mix the two in one run. Delete it to train this run afresh"
        )

    def restore(self, state: dict[str, Any]) -> None:
        """Put every stream where :meth:`state` saw it (a state :meth:`check_saved` accepted)."""
        random.setstate(state["python"])
        kind, keys, pos, has_gauss, gauss = state["numpy_global"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        restore_torch_global(state)
        self.order.set_state(state["order"])
        self.pipeline.set_state(state["pipeline"])
        self.method.set_state(state["method"])
        self.method_rng.bit_generator.state = state["method_rng"]


def _numpy_global_state() -> tuple:
    # The legacy global numpy state holds an array: kept as a list so weights_only loading accepts it.
    state = np.random.get_state(legacy=True)
    if not isinstance(state, tuple):  # a dict only when the global generator is not MT19937
        raise TypeError(f"numpy's global random state is not the legacy MT19937 tuple: {type(state).__name__}")
    kind, keys, pos, has_gauss, gauss = state
    return kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)
