"""What a training run drew, recorded around the engine's own functions: its initial weights (model and buffers),
each epoch's order, and every batch its method received (after the input pipeline, before the mixing).

``record`` wraps the real ``engine.train_one_epoch`` and ``engine.train_step`` (which still run); give it
``monkeypatch.setattr`` in a test process, or plain ``setattr`` in a worker process that ends after its run.
"""

from __future__ import annotations

import torch


def record(patch=setattr) -> dict:
    from augrepro.train import engine

    trace: dict = {"weights": None, "orders": [], "images": [], "labels": []}
    real_step, real_epoch = engine.train_step, engine.train_one_epoch

    def step(forward, optimizer, augmentation, x, y, ctx, *args, **kwargs):
        if trace["weights"] is None:  # before the first update: the initial weights
            trace["weights"] = {k: v.detach().clone() for k, v in ctx.model.state_dict().items()}
        trace["images"].append(x.detach().clone())
        trace["labels"].append(y.detach().clone())
        return real_step(forward, optimizer, augmentation, x, y, ctx, *args, **kwargs)

    def epoch(session, number, state, *args, **kwargs):
        trace["orders"].append(state.order.clone())
        return real_epoch(session, number, state, *args, **kwargs)

    patch(engine, "train_step", step)
    patch(engine, "train_one_epoch", epoch)
    return trace


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_tensors(a: list, b: list) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def assert_same_draws(a: dict, b: dict) -> None:
    """The same initial weights, the same order in every epoch and the same batches (pipeline draws included)."""
    assert same_weights(a["weights"], b["weights"]), "different initial weights"
    assert len(a["orders"]) > 1 and same_tensors(a["orders"], b["orders"]), "a different order of images"
    assert same_tensors(a["labels"], b["labels"]), "different labels in some batch"
    assert same_tensors(a["images"], b["images"]), "different images (crops, flips) in some batch"
