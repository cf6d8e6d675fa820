"""FGSM robustness of a finished run: top-1 accuracy on adversarially perturbed test images.

The attack, as the CutMix paper defines it (App. E.1, Eq. 3; SaliencyMix paper section 4.4 and its
robustness table follow it): white-box, untargeted, one step,

    x_adv = x + epsilon * sign(grad_x CE(f(x), y)),   epsilon = 8/255,

with ``y`` the ground-truth label and CE the cross-entropy. What the papers leave unsaid, and is chosen here
(each choice recorded in the result file):

* the pixel scale: ``x`` is the image in [0, 1] *before* mean/std normalization (``8/255`` is eight grey
  levels of an 8-bit image); the model sees ``(x - mean) / std``, so the gradient flows through the
  normalization (neither the CutMix nor the SaliencyMix repository has FGSM code to say otherwise);
* clipping: ``x_adv`` is clipped to [0, 1] (a valid image); ``clip: false`` in the recipe turns it off;
* the images: the run's test split through its evaluation transform (ImageNet: Resize 256, CenterCrop 224,
  as CutMix-PyTorch's and SaliencyMix's test.py);
* the model in eval mode (BatchNorm's running statistics), fp32 with TF32 off (a bf16 or TF32 gradient could flip
  signs; the sources' GPUs had no TF32), the loss summed over the batch (each image's gradient is its own: eval mode
  couples no images).

Accuracy is in percent, as the papers print it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from augrepro.data.datasets import get_spec
from augrepro.data.file_pipelines import describe_file_pipeline
from augrepro.data.normalization import Normalization
from augrepro.data.prepared import load_prepared
from augrepro.io import atomic_write_text
from augrepro.provenance import describe_environment, device_name
from augrepro.resolved import ResolvedRun
from augrepro.studies.evaluations import check_fgsm

SOURCE = (
    "CutMix paper App. E.1, Eq. 3 (x + eps * sign(grad_x L(theta, x, y)), eps = 8/255); SaliencyMix paper section 4.4"
)


class Normalized(torch.nn.Module):
    """The model behind its input normalization: takes images in [0, 1]."""

    def __init__(self, model: torch.nn.Module, mean, std) -> None:
        super().__init__()
        self.model = model
        self.normalization = Normalization(mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalization.device != x.device:  # moved once, to the images' device
            self.normalization = self.normalization.to(x.device)
        return self.model(self.normalization.apply(x))


def fgsm_perturb(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, clip: bool = True
) -> torch.Tensor:
    """One FGSM step on images ``x`` in [0, 1] (``model`` takes [0, 1] images, e.g. :class:`Normalized`)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    adv = x.detach() + epsilon * grad.sign()
    return adv.clamp_(0.0, 1.0) if clip else adv


def fgsm_accuracy(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    epsilon: float,
    clip: bool = True,
    total: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Clean and FGSM top-1 accuracy (percent) over ``batches`` of ([0, 1] images, labels)."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    requires_grad = [param.requires_grad for param in model.parameters()]
    for param in model.parameters():  # only the input's gradient is needed
        param.requires_grad_(False)
    clean = adversarial = seen = 0
    try:
        bar = tqdm(
            total=total, desc="FGSM", unit="img", file=sys.stderr, mininterval=10.0 if not sys.stderr.isatty() else 1.0
        )
        for x, y in batches:
            with torch.no_grad():
                clean += int((model(x).argmax(1) == y).sum())
            adv = fgsm_perturb(model, x, y, epsilon, clip)
            with torch.no_grad():
                adversarial += int((model(adv).argmax(1) == y).sum())
            seen += len(y)
            bar.update(len(y))
        bar.close()
    finally:
        for param, required in zip(model.parameters(), requires_grad):
            param.requires_grad_(required)
        model.train(was_training)
    if seen == 0:
        raise ValueError("FGSM: the test split is empty")
    if log:
        log(
            f"FGSM eps {epsilon:.6g}: clean top-1 {100.0 * clean / seen:.2f} %, "
            f"under attack {100.0 * adversarial / seen:.2f} % ({seen} images)"
        )
    return {
        "images": seen,
        "clean_top1_accuracy": 100.0 * clean / seen,
        "fgsm_top1_accuracy": 100.0 * adversarial / seen,
    }


def pixel_test_batches(run: ResolvedRun, data_path, batch_size: int, device: torch.device, workers: int):
    """The run's test split through the evaluation transform its training used (:func:`augrepro.data.splits.
    load_split`, as the engine loads it), as [0, 1] images on ``device``: (batches, count, the run's
    :class:`~augrepro.data.normalization.Normalization`, the transform in words). The loaders yield normalized
    images; ``Normalization.undo`` (``x * std + mean``) undoes that (within float rounding) so the attack perturbs
    pixels."""
    from augrepro.data.splits import load_split

    protocol = run.protocol
    norm = Normalization.of(protocol.normalize, get_spec(run.key.dataset)).to(device)
    data = load_prepared(data_path)
    split = load_split(data, "test", protocol, False, norm, device, workers)
    if data.kind == "files":
        transform = f"the file pipeline's evaluation transforms: {describe_file_pipeline(protocol.pipeline, False)}"
    else:
        fixed = protocol.eval_transform
        transform = f"Resize {fixed['resize']}, CenterCrop {fixed['crop']}" if fixed else "none (the images as stored)"
    batches = ((norm.undo(x), y) for x, y in split.eval_batches(batch_size))
    return batches, len(split), norm, transform


def run_fgsm(
    checkpoint: str | Path,
    data_path: str | Path,
    out_json: str | Path,
    recipe: dict[str, Any],
    execution: dict[str, Any] | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Attack a finished run's test split (``recipe``: epsilon, clip, batch_size, checkpoint) with the weights in
    ``checkpoint`` (the file the recipe's ``checkpoint`` names) and write ``out_json``."""
    from augrepro.evaluate.checkpoint import execution_setup, load_checkpoint
    from augrepro.train.numerics import Numerics

    values = check_fgsm(recipe)
    log, device, workers = execution_setup(execution, threads, log)
    numerics = Numerics(device, "fp32").apply()
    start = time.perf_counter()
    loaded = load_checkpoint(checkpoint, device)
    run, model = loaded.resolved, loaded.model
    batches, count, norm, transform = pixel_test_batches(run, data_path, values["batch_size"], device, workers)
    log(
        f"FGSM on run {run.key.label()} ({values['checkpoint']} weights: {Path(checkpoint).name}, epoch {loaded.epoch}): "
        f"{count} test images, eps {values['epsilon']:.6g}, clip {values['clip']}, on {device}"
    )
    result = fgsm_accuracy(
        Normalized(model, norm.mean, norm.std).to(device), batches, values["epsilon"], values["clip"], count, log
    )
    out = {
        "run": loaded.identity(),
        "recipe": recipe.get("name"),
        "checkpoint": loaded.record(values["checkpoint"]),
        **result,
        "epsilon": values["epsilon"],
        "epsilon_255": values["epsilon"] * 255.0,
        "attack": "FGSM, white-box, untargeted, one step, cross-entropy with the true label",
        "input_range": "pixels in [0, 1] before the run's mean/std normalization (gradient through the normalization)",
        "clip": "x_adv clipped to [0, 1]" if values["clip"] else "not clipped",
        "model_mode": "eval, fp32 (TF32 off)",
        "numerics": numerics.describe(),
        "source": SOURCE,
        "normalization": {"mean": list(norm.mean), "std": list(norm.std)},
        "seconds": time.perf_counter() - start,
        "device": device.type,
        "device_name": device_name(device),
        **describe_environment(),
    }
    out["images_used"] = f"the run's test split through its evaluation transform: {transform}"
    atomic_write_text(out_json, json.dumps(out, indent=2, default=str) + "\n")
    return out
