"""A run's random streams (augrepro.train.streams): one per purpose, derived from (seed, purpose[, rank]).

The engine-level behaviour (every method of a seed gets the same weights, order and crops; resume stays bitwise)
is tested in test_engine.py and, under torch.distributed, in test_distributed.py.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from augrepro.train import streams
from augrepro.train.streams import PURPOSES, Generators, initial_weights, torch_seed


def test_every_purpose_has_a_stream_of_its_own_alike_on_every_rank_only_where_it_must_be():
    assert len({torch_seed(7, p) for p in PURPOSES}) == len(PURPOSES)
    for purpose in PURPOSES:
        assert torch_seed(7, purpose) != torch_seed(8, purpose)
        alike = torch_seed(7, purpose, 0) == torch_seed(7, purpose, 1) == torch_seed(7, purpose, 5)
        assert alike == (purpose in ("init", "order")), purpose
    with pytest.raises(ValueError, match="unknown random stream 'data'; valid: init, order"):
        streams.sequence(7, "data")


def test_the_derivation_is_the_one_its_version_names():
    """Pinned values of version crn-1: a change in how the streams are derived must come with a new
    STREAMS_VERSION (so that meta.json tells the runs apart, and resume.pt of the other refuses to continue)."""
    assert streams.STREAMS_VERSION == "crn-1"
    assert [torch_seed(0, p) for p in PURPOSES] == [
        673228719,
        3241444873,
        2377455350,
        1905993885,
        3819687176,
        2772432258,
    ]
    assert torch_seed(0, "pipeline", 1) == 1321936645
    expected = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(PURPOSES["method_numpy"], 0))).random()
    assert Generators.derive(0).method_rng.random() == expected


def test_building_the_weights_draws_from_the_init_stream_and_moves_no_other():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with initial_weights(5):
        a = torch.nn.Linear(8, 8)
    assert torch.equal(torch.rand(3), expected)  # the global stream is where it was
    torch.rand(10)  # whatever was drawn before does not change the weights
    with initial_weights(5):
        b = torch.nn.Linear(8, 8)
    with initial_weights(6):
        c = torch.nn.Linear(8, 8)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)


def _draws(g: Generators) -> list:
    return [
        torch.randperm(20, generator=g.order),
        torch.rand(4, generator=g.pipeline),
        torch.randint(0, 9, (4,), generator=g.method),
        torch.from_numpy(g.method_rng.beta(1.0, 1.0, size=3)),
        torch.rand(4),
        torch.from_numpy(np.random.rand(3)),
        torch.tensor([random.random()]),
    ]


def test_a_saved_state_restores_every_stream(tmp_path):
    g = Generators.derive(3, rank=1)
    _draws(g)
    torch.save(g.state(), tmp_path / "state.pt")
    expected = _draws(g)
    h = Generators.derive(99)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    Generators.check_saved(state, tmp_path / "state.pt")
    h.restore(state)
    assert all(torch.equal(x, y) for x, y in zip(_draws(h), expected))


def test_a_state_of_another_derivation_is_refused_naming_the_fix():
    old = {"python": random.getstate(), "data": torch.Generator().get_state()}
    with pytest.raises(
        RuntimeError, match=r"run/resume.pt was written before the random streams were split.*Delete it"
    ):
        Generators.check_saved(old, "run/resume.pt")
    with pytest.raises(RuntimeError, match="with random streams 'crn-0'"):
        Generators.check_saved({**old, "version": "crn-0"}, "run/resume.pt")


def test_file_transforms_without_workers_draw_from_a_stream_of_their_own(tmp_path):
    """With no DataLoader workers, the file pipeline's transforms run in the training process: they draw from a
    stream seeded by the pipeline stream, so what the training step draws from torch's global generator between
    two batches changes no crop, and the global generator is left where the step left it."""
    from PIL import Image

    from augrepro.data.loader import FileData

    rng = np.random.default_rng(0)
    files = []
    for i in range(4):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (40 + 4 * i, 48, 3), dtype=np.uint8)).save(files[-1])
    data = FileData(files, [0, 1, 0, 1], (0.5,) * 3, (0.25,) * 3, "cpu", train=True, workers=0)

    def epoch(global_draws: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        torch.manual_seed(0)
        batches = []
        for x, _ in data.iterate(torch.arange(4), 0, 2, torch.Generator().manual_seed(1)):
            batches.append(x)
            torch.rand(global_draws)  # what a training step draws from the global generator (dropout, ...)
        return batches, torch.rand(1)

    (quiet, after), (busy, _) = epoch(1), epoch(100)
    assert len(quiet) == 2 and all(torch.equal(a, b) for a, b in zip(quiet, busy))
    torch.manual_seed(0)
    torch.rand(1), torch.rand(1)
    assert torch.equal(after, torch.rand(1))  # the transforms drew nothing from the global generator
