"""The DataLoader workers' backend of the image pipelines: a :class:`~augrepro.data.pipeline_spec.PipelineSpec` as
a torchvision Compose on PIL images, as the released code runs its transforms (:func:`compose`).

A file dataset's protocol names a file pipeline (``imagenet`` or ``snapmix``: ``augrepro.data.pipeline_spec``,
whose docstring cites each); the training split gets the spec's training ops when the dataset key has a ``+``
and its evaluation transform otherwise, the test split always the evaluation one. Each op becomes the released
code's transform: ResizedCrop -> RandomResizedCrop, ResizeRandomCrop -> Resize then RandomCrop, HorizontalFlip
-> RandomHorizontalFlip, then ToTensor; a ``cutmix`` ColorJitter -> the CutMix code's utils.ColorJitter
(:class:`_ColorJitter`, unclamped) and Lighting -> its utils.Lighting (:class:`_Lighting`); Normalize last.
"""

from __future__ import annotations

from typing import Any

from augrepro.data.pipeline_spec import (
    FILE_PIPELINES,
    LIGHTING_EIGVAL,
    LIGHTING_EIGVEC,
    ColorJitter,
    EvalCrop,
    HorizontalFlip,
    Lighting,
    Op,
    PadCrop,
    PipelineSpec,
    ResizedCrop,
    ResizeRandomCrop,
    parse_pipeline,
)


def file_pipeline(config: dict[str, Any]) -> PipelineSpec:
    """The spec of a file dataset's ``pipeline``; ValueError names the problem (a pipeline of images in memory
    among them)."""
    name = config.get("name") if isinstance(config, dict) else config
    if name not in FILE_PIPELINES:
        raise ValueError(
            f"pipeline {name!r} does not decode files; file datasets take one of {', '.join(FILE_PIPELINES)}"
        )
    return parse_pipeline(config)


def check_file_pipeline(config: dict[str, Any]) -> dict[str, Any]:
    """The ``pipeline`` as given, once :func:`file_pipeline` accepts it."""
    file_pipeline(config)
    return dict(config)


def file_pipeline_size(config: dict[str, Any]) -> int:
    """The side of the images the pipeline gives the model (training and evaluation alike)."""
    return file_pipeline(config).size


def describe_file_pipeline(config: dict[str, Any], train: bool) -> dict[str, Any]:
    """What a run's training split went through (for meta.json)."""
    return {
        **check_file_pipeline(config),
        "size": file_pipeline_size(config),
        "loader": "files (DataLoader workers)",
        "transforms": "training" if train else "evaluation",
    }


class _Lighting:
    """PCA lighting noise of the CutMix/SaliencyMix ImageNet code (utils.Lighting; AlexNet's eigen-decomposition
    of ImageNet's RGB covariance: ``augrepro.data.pipeline_spec.LIGHTING_EIGVAL``/``EIGVEC``)."""

    def __init__(self, alphastd: float) -> None:
        import torch

        self.alphastd = alphastd
        self.eigval = torch.tensor(LIGHTING_EIGVAL)
        self.eigvec = torch.tensor(LIGHTING_EIGVEC)

    def __call__(self, img):
        import torch

        alpha = torch.randn(3) * self.alphastd
        rgb = (self.eigvec * alpha * self.eigval).sum(1)
        return img + rgb.view(3, 1, 1)


class _ColorJitter:
    """The CutMix / SaliencyMix-ImageNet code's utils.ColorJitter(v, v, v) on one ToTensor image (train.py:84):
    brightness, contrast and saturation in a random order, each a blend with factor 1 - U(-v, v), never clamped
    (``augrepro.data.jitter.color_jitter`` with ``jitter: cutmix``, as the device path runs it)."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def __call__(self, img):
        import torch

        from augrepro.data.jitter import color_jitter

        v = self.strength
        factors = torch.cat([1.0 - v + 2.0 * v * torch.rand(3), torch.zeros(1)])  # hue: none in that code
        order = torch.rand(4).argsort()
        return color_jitter(img[None], factors[None], order[None], "cutmix")[0]


def _geometry(op: Op, size: int):
    """The torchvision transform of a geometric op (on PIL images), as a list."""
    from torchvision import transforms as T

    if isinstance(op, ResizedCrop):
        return [T.RandomResizedCrop(size, scale=op.scale, ratio=op.ratio, antialias=op.antialias)]
    if isinstance(op, ResizeRandomCrop):
        return [T.Resize((op.resize, op.resize) if op.warp else op.resize), T.RandomCrop(size)]
    if isinstance(op, PadCrop):
        return [T.RandomCrop(size, padding=op.padding)]
    if isinstance(op, HorizontalFlip):
        return [T.RandomHorizontalFlip(op.p)]
    return None


def _colour(op: Op):
    """The transform of a colour op (on the ToTensor image)."""
    from torchvision import transforms as T

    if isinstance(op, ColorJitter):
        if op.kind == "torchvision":
            return T.ColorJitter(op.brightness, op.contrast, op.saturation, op.hue)
        if not op.brightness == op.contrast == op.saturation or op.hue:
            raise ValueError(f"the workers run the CutMix code's ColorJitter with one strength and no hue, not {op}")
        return _ColorJitter(op.brightness)
    if isinstance(op, Lighting):
        return _Lighting(op.alphastd)
    raise ValueError(f"no worker transform for {op}")


def _evaluation(evaluation: EvalCrop):
    from torchvision import transforms as T

    resize, crop = evaluation.resize, evaluation.crop
    return [T.Resize((resize, resize) if evaluation.warp else resize), T.CenterCrop(crop)]


def compose(spec: PipelineSpec, train: bool, mean, std):
    """The spec as a torchvision Compose on PIL images: its training ops (``train``) or its evaluation transform
    (none: the images as they are), then ToTensor and Normalize(mean, std)."""
    from torchvision import transforms as T

    head: list = []
    colour: list = []
    if train:
        for op in spec.ops:
            geometry = _geometry(op, spec.size)
            if geometry is not None and not colour:
                head += geometry
            else:
                colour.append(_colour(op))
    elif spec.evaluation is not None:
        head = _evaluation(spec.evaluation)
    return T.Compose([*head, T.ToTensor(), *colour, T.Normalize(mean, std)])


def file_transforms(config: dict[str, Any] | None, train: bool, mean, std):
    """The torchvision transforms of a file pipeline's ``pipeline`` (None: ``imagenet``)."""
    return compose(file_pipeline(config or {"name": "imagenet"}), train, mean, std)


def decode_files(files, size: int):
    """N x 3 x size x size uint8 tensor of image files: shorter side resized to ``size``, centre crop (previews)."""
    import torch
    from PIL import Image
    from torchvision import transforms as T

    to_uint8 = T.Compose([T.Resize(size), T.CenterCrop(size), T.PILToTensor()])
    images = []
    for path in files:
        with Image.open(path) as img:
            images.append(to_uint8(img.convert("RGB")))
    return torch.stack(images)
