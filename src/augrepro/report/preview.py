"""Preview of a mixing method on a dataset's real images: originals, mixed images, the saliency map the
method consults (when it has one) and the label weights as captions, written as one PNG (matplotlib, Agg).

Methods that need the model being trained (SnapMix, SalfMix, HybridMix, Cutout with saliency) get a
freshly initialised model of a small registered architecture (``resnet8`` by default, seeded), or the
weights of a training checkpoint; the figure's title says which.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augrepro.augment import Context, build_augmentation
from augrepro.augment.base import MixResult
from augrepro.data import get_spec, load_prepared
from augrepro.data.file_pipelines import decode_files
from augrepro.data.normalization import Normalization
from augrepro.evaluate.checkpoint import load_checkpoint
from augrepro.io import atomic_open
from augrepro.models import build_model


def _label(classes: list[str], i: int) -> str:
    name = classes[i] if 0 <= i < len(classes) else str(i)
    return name if len(name) <= 10 else name[:9] + "."


def label_captions(result: MixResult, labels: torch.Tensor, classes: list[str]) -> list[str]:
    """One caption per sample: every label in play with its weight (own label first)."""
    captions = []
    terms = result.label_terms()
    for i in range(labels.shape[0]):
        weights: dict[int, float] = {}
        for idx, w in terms:
            src = int(idx[i])
            weights[src] = weights.get(src, 0.0) + float(w[i])
        parts = [f"{_label(classes, int(labels[src]))} #{src}: {w:.2f}" for src, w in weights.items() if w != 0.0]
        captions.append("\n".join(parts) or "(no label weight)")
    return captions


def spread_over_classes(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` training images taking the classes in turn (first image of each class, then
    the second, ...), so that the captions show different labels."""
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    pick: list[int] = []
    depth = 0
    while len(pick) < min(count, len(labels)):
        for members in by_class:
            if depth < len(members) and len(pick) < count:
                pick.append(int(members[depth]))
        depth += 1
    return np.asarray(pick, dtype=np.int64)


def load_model(architecture: str, num_classes: int, checkpoint: str | None, seed: int) -> tuple[torch.nn.Module, str]:

    if checkpoint is not None:
        loaded = load_checkpoint(checkpoint, torch.device("cpu"), num_classes)
        return loaded.model.train(), f"{loaded.resolved.key.model} from {Path(checkpoint).name}"
    torch.manual_seed(seed)
    return build_model(architecture, num_classes).train(), f"freshly initialised {architecture} (seed {seed})"


def render_preview(
    data_path: str | os.PathLike,
    dataset: str,
    method: str,
    out_path: str | os.PathLike,
    params: dict[str, Any] | None = None,
    count: int = 8,
    seed: int = 0,
    epoch: int = 2,
    architecture: str = "resnet8",
    checkpoint: str | None = None,
    title: str | None = None,
) -> Path:
    """Write the preview PNG of ``method`` (with ``params``) on the first ``count`` training images whose
    labels are spread over the classes; returns the path written (atomically)."""
    spec = get_spec(dataset)  # unknown dataset: the registry's error lists the valid ones
    if count < 1:
        raise ValueError(f"preview count must be at least 1, got {count}")
    if epoch < 1:
        raise ValueError(f"preview epoch is 1-based, got {epoch}")
    augmentation = build_augmentation(method, params, spec)  # unknown method or parameter: clear error first
    forced = ""
    prob = getattr(augmentation, "prob", 1.0)
    if prob < 1.0:  # show the method applied: a batch it mixes, not a clean one
        forced = f"; prob {prob:g} forced to 1 for this preview"
        augmentation = build_augmentation(method, {**(params or {}), "prob": 1.0}, spec)
    if not Path(data_path).is_file():
        raise FileNotFoundError(
            f"prepared dataset {data_path} not found; run `snakemake results/data/{dataset}/data.npz`"
        )
    data = load_prepared(data_path)
    pick = spread_over_classes(data.train_y, count)
    if data.train_x is None:  # a file dataset: the picked images decoded, resized and centre-cropped to its size
        train_files, _ = data.file_lists()
        images_u8 = decode_files(train_files[pick], spec.image_size)
    else:
        images_u8 = torch.from_numpy(np.ascontiguousarray(data.train_x[pick]))
    labels = torch.from_numpy(data.train_y[pick]).long()
    x = Normalization(spec.mean, spec.std).apply(images_u8)

    model, model_note = load_model(architecture, spec.num_classes, checkpoint, seed)
    ctx = Context(spec.mean, spec.std, torch.Generator().manual_seed(seed), np.random.default_rng(seed), epoch, model)
    saliency = augmentation.saliency_map(x, labels, ctx)
    result = augmentation(x, labels, ctx)
    captions = label_captions(result, labels, data.classes)
    mixed_u8 = ctx.denormalize(result.images)
    described = augmentation.describe()
    variant = f" [{described['variant']}]" if described.get("variant") else ""
    header = f"{title or method}{variant}, {json.dumps(described['params'], default=str)}"
    header = header if title else f"{header} on {dataset}"
    note = (f"model: {model_note}; epoch {epoch}" if augmentation.uses_model() else f"epoch {epoch}") + forced
    changed = int((mixed_u8 != images_u8).flatten(1).any(1).sum())
    summary = f"{changed} of {len(images_u8)} images changed by the method"
    return _draw(images_u8, mixed_u8, saliency, result, captions, f"{header}\n{note}", Path(out_path), summary)


def _draw(originals, mixed, saliency, result: MixResult, captions, title: str, out: Path, summary: str) -> Path:
    """The grid as a PNG; ``summary`` (how many images the method changed) goes into its Description text chunk,
    which the report's gallery shows under the image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = originals.shape[0]
    rows = 3 if saliency is not None else 2
    # legible at page width: about 2 inches per image, captions at 9 pt
    fig, axes = plt.subplots(rows, n, figsize=(2.0 * n, 2.1 * rows + 1.2), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(originals[i].permute(1, 2, 0).numpy())
        axes[1, i].imshow(mixed[i].permute(1, 2, 0).numpy())
        axes[1, i].set_xlabel(captions[i], fontsize=9)
        if result.boxes is not None:
            y1, x1, y2, x2 = result.boxes[i].tolist()
            axes[1, i].add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec="yellow", lw=0.8))
        if saliency is not None:
            axes[2, i].imshow(saliency[i].detach().cpu().numpy(), cmap="inferno")
        for r in range(rows):
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
    axes[0, 0].set_ylabel("original", fontsize=10)
    axes[1, 0].set_ylabel("mixed", fontsize=10)
    if saliency is not None:
        axes[2, 0].set_ylabel("saliency", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        with atomic_open(out, "wb") as fh:
            fig.savefig(fh, dpi=80, format="png", metadata={"Description": summary})
    finally:
        plt.close(fig)
    return out
