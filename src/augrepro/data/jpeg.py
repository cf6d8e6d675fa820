"""ImageNet decoded on the training device: the user's JPEG files, decoded in batches, augmented as tensor ops.

The fast path for file datasets (``training.decode``: ``device``; ``auto`` takes it on a GPU). Threads read
the files' bytes a few batches ahead; ``torchvision.io.decode_jpeg(list, device=...)`` decodes a batch at
once (nvJPEG on a GPU, libjpeg-turbo on the CPU); the released code's augmentation then runs on the device:

- training (SaliencyMix-ImageNet/train.py, from CutMix): the ``imagenet`` spec's ops
  (``augrepro.data.pipeline_spec``: RandomResizedCrop(224) with torchvision's box distribution, on each image's
  own size; horizontal flip; the code's unclamped utils.ColorJitter(0.4, 0.4, 0.4); PCA lighting 0.1), run by the
  batched tensor ops of ``augrepro.data.pipelines`` (:data:`IMAGENET_TRAIN`), then normalize;
- evaluation: the spec's Resize(256) (shorter side; torchvision's output size) then CenterCrop(224).

Each image's crop is resized on its own, as uint8 (``torchvision.transforms.v2.functional.resized_crop``,
bilinear, antialiased), into one uint8 batch: decoded images differ in size, and one resize per image costs
work in proportion to its own size, not the batch's largest; then the flip, ``/ 255`` and the colour ops
run on the whole batch: the worker path's order (PIL resizes in uint8, ToTensor, jitter, lighting). Every
random draw is made on the caller's CPU generator after the batch is decoded (the box distribution needs
each image's size), in a fixed order, so an epoch replays exactly from its seed, on any device.

The DataLoader-worker path (``augrepro.data.loader.FileData``, PIL) stays the fallback and the reference.
On the CPU the two agree: the decoders' outputs are equal (libjpeg-turbo in both), the crop distribution is
the same, and the resizes differ by at most one level (torchvision's uint8 kernel derives from Pillow-SIMD;
a few values in a thousand differ, up to ~15 % at some scales); the colour ops are the same function in both
(``augrepro.data.jitter.color_jitter`` with ``jitter: cutmix``, applied to the tensor). On a GPU, nvJPEG's
output differs from libjpeg-turbo's by a few levels (its IDCT and chroma upsampling) and the resize is
computed in float and rounded. The files are read as they are: nothing is re-encoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from augrepro.data.normalization import Normalization
from augrepro.data.pipeline_spec import EvalCrop, PipelineSpec, parse_pipeline
from augrepro.data.pipelines import RandomResizedCropFlip, tensor_pipeline
from augrepro.transfer import to_device

DECODE_MODES = ("auto", "device", "workers")


def batched(spec: PipelineSpec) -> RandomResizedCropFlip:
    """The spec's training ops as batched tensor ops on images of any size (a random resized crop first)."""
    pipeline = tensor_pipeline(spec)
    if not isinstance(pipeline, RandomResizedCropFlip):
        raise ValueError(f"pipeline {spec.name!r}: the decode path runs a random resized crop first, not {spec.ops}")
    return pipeline


IMAGENET = parse_pipeline({"name": "imagenet"})  # augrepro.data.pipeline_spec: the SaliencyMix-ImageNet code's
IMAGENET_TRAIN = batched(IMAGENET)
CPU_CHUNK = 8  # images per colour-op call on the CPU
_JPEG_MAGIC = (0xFF, 0xD8)


def read_bytes(path: str) -> torch.Tensor:
    """A file's bytes as a 1-D uint8 tensor (numpy reads without holding the GIL)."""
    return torch.from_numpy(np.fromfile(path, dtype=np.uint8))


def _decode_one(data: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One image on its own: a JPEG on ``device``; anything else, or a JPEG the device decoder refuses
    (ImageNet holds a few CMYK JPEGs and one PNG named .JPEG), by torchvision's CPU decoders, then moved."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    if device.type == "cuda" and tuple(data[:2].tolist()) == _JPEG_MAGIC:
        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            pass
    return to_device(decode_image(data, mode=ImageReadMode.RGB), device)


def decode(data: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """3 x H x W uint8 RGB images on ``device`` from encoded bytes: JPEGs in one batched call
    (``torchvision.io.decode_jpeg``; nvJPEG on a GPU), the rest, and a batch the decoder refuses, one by one."""
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    jpeg = [i for i, d in enumerate(data) if len(d) > 2 and tuple(d[:2].tolist()) == _JPEG_MAGIC]
    out: list[torch.Tensor | None] = [None] * len(data)
    if jpeg:
        try:
            batch = decode_jpeg([data[i] for i in jpeg], mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            batch = [_decode_one(data[i], device) for i in jpeg]
        for i, img in zip(jpeg, batch):
            out[i] = img
    return [_decode_one(data[i], device) if img is None else img for i, img in enumerate(out)]


def device_decoder(device: torch.device) -> str:
    """The decoder ``decode`` uses on ``device``."""
    return (
        "nvjpeg (torchvision.io.decode_jpeg on cuda)"
        if torch.device(device).type == "cuda"
        else "libjpeg-turbo (torchvision.io.decode_jpeg on the cpu)"
    )


def probe_device_decode(device: torch.device) -> str | None:
    """None when ``decode_jpeg`` decodes on ``device`` here; otherwise why not (a torchvision without nvJPEG)."""
    from torchvision.io import decode_jpeg, encode_jpeg

    try:
        data = encode_jpeg(torch.zeros(3, 16, 16, dtype=torch.uint8))
        decode_jpeg([data], device=device)
    except (RuntimeError, NotImplementedError) as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def choose_decode(setting: str, device: torch.device) -> tuple[str, str]:
    """(``device`` or ``workers``, why) for ``training.decode``: ``auto`` decodes on the device when it is a
    GPU that can (the worker path otherwise: on the CPU the workers decode in parallel); ``device`` and
    ``workers`` force one (``device`` on the CPU runs the same batched path on the CPU)."""
    if setting not in DECODE_MODES:
        raise ValueError(f"training.decode = {setting!r}; valid: {', '.join(DECODE_MODES)}")
    device = torch.device(device)
    if setting == "workers":
        return "workers", "training.decode: workers"
    problem = probe_device_decode(device)
    if setting == "device":
        if problem:
            raise RuntimeError(
                f"training.decode is 'device' but decode_jpeg cannot decode on {device}: {problem}; "
                "use training.decode: workers"
            )
        return "device", "training.decode: device"
    if device.type != "cuda":
        return "workers", "training.decode: auto on the CPU (DataLoader workers decode in parallel)"
    if problem:
        return "workers", f"training.decode: auto, but decode_jpeg cannot decode on {device} ({problem})"
    return "device", f"training.decode: auto on {device}"


# --- batched ops on images of different sizes ------------------------------------------------------


def resized_crops(images: Sequence[torch.Tensor], top, left, height, width, size: int) -> torch.Tensor:
    """N x 3 x size x size uint8: crop i of image i resized (bilinear, antialiased) by torchvision's
    ``transforms.v2.functional.resized_crop`` on the uint8 image: on the CPU its Pillow-derived uint8 kernel
    (within one level of PIL, the worker path), on a GPU float interpolation rounded to uint8. Boxes: CPU ints."""
    from torchvision.transforms.v2 import functional as TF

    n = len(images)
    out = torch.empty(n, 3, size, size, device=images[0].device if n else "cpu", dtype=torch.uint8)
    boxes = torch.stack(
        [torch.as_tensor(v, dtype=torch.int64).reshape(-1).cpu() for v in (top, left, height, width)], 1
    )
    for i, (top_i, left_i, height_i, width_i) in enumerate(boxes.tolist()):
        out[i] = TF.resized_crop(images[i], top_i, left_i, height_i, width_i, [size, size], antialias=True)
    return out


def resize_center_crops(images: Sequence[torch.Tensor], evaluation: EvalCrop | None = None) -> torch.Tensor:
    """N x 3 x crop x crop uint8: torchvision ``Resize(resize)`` (the shorter side; bilinear, antialiased) then
    ``CenterCrop(crop)`` of each uint8 image (``transforms.v2.functional``, as :func:`resized_crops`); the
    evaluation transform of ImageNet's spec unless ``evaluation`` gives another."""
    from torchvision.transforms.v2 import functional as TF

    evaluation = evaluation or IMAGENET.evaluation
    if evaluation is None or evaluation.warp:
        raise ValueError(f"resize_center_crops resizes the shorter side; got {evaluation}")
    resize, crop = evaluation.resize, evaluation.crop

    n = len(images)
    out = torch.empty(n, 3, crop, crop, device=images[0].device if n else "cpu", dtype=torch.uint8)
    for i, img in enumerate(images):
        if min(resize_shorter(img.shape[-2], img.shape[-1], resize)) < crop:
            raise ValueError(
                f"image {i}: {tuple(img.shape[-2:])} resized to a shorter side of {resize} is smaller "
                f"than the {crop}-px centre crop"
            )
        out[i] = TF.center_crop(TF.resize(img, [resize], antialias=True), [crop])
    return out


def resize_shorter(height: int, width: int, size: int) -> tuple[int, int]:
    """torchvision ``Resize(size)``'s output size: the shorter side becomes ``size``, the longer
    ``int(size * long / short)`` (transforms.functional._compute_resized_output_size)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def augment(
    images: Sequence[torch.Tensor],
    pipeline: RandomResizedCropFlip,
    generator: torch.Generator,
    params: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training pipeline on decoded images of any sizes: (the batch, float32; the parameters drawn).
    Draws from ``generator`` as the pipeline does for a batch (crop boxes on each image's size, flips, jitter
    factors and order, lighting), unless ``params`` are given. In the worker path's order: crop and resize
    to uint8 (as PIL), flip, to float / 255 (ToTensor), colour jitter and lighting on the float batch."""
    if params is None:
        heights = [int(img.shape[-2]) for img in images]
        widths = [int(img.shape[-1]) for img in images]
        params = pipeline.sample(len(images), heights, widths, generator)
    x = resized_crops(images, params["top"], params["left"], params["height"], params["width"], pipeline.size)
    flip = to_device(params["flip"], x.device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x).to(torch.float32).div_(255.0)
    if x.device.type != "cpu":
        return pipeline.adjust(x, params), params
    # on the CPU the colour ops run on a few images at a time: their temporaries stay in the cache (4x faster)
    chunks = [
        pipeline.adjust(x[i : i + CPU_CHUNK], {k: v[i : i + CPU_CHUNK] for k, v in params.items()})
        for i in range(0, len(x), CPU_CHUNK)
    ]
    return torch.cat(chunks) if chunks else x, params


# --- the loader ------------------------------------------------------------------------------------


class JpegData:
    """A split of image files decoded on the training device. Same interface as ``DeviceData`` and
    ``FileData`` for the engine: ``epoch_order``, ``iterate``, ``eval_batches``.

    ``spec``: the file pipeline (default ImageNet's); ``train``: its training ops, batched, in ``iterate``;
    otherwise (and always in ``eval_batches``) its evaluation resize and centre crop. ``readers``: threads reading files ahead,
    ``prefetch``: batches read ahead."""

    def __init__(
        self,
        files,
        labels,
        mean,
        std,
        device,
        train: bool,
        readers: int = 8,
        prefetch: int = 2,
        spec: PipelineSpec = IMAGENET,
    ) -> None:
        self.device = torch.device(device)
        self.files = [str(f) for f in files]
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).to(self.device)
        if len(self.files) != len(self.labels):
            raise ValueError(f"{len(self.files)} files but {len(self.labels)} labels")
        self.pipeline = batched(spec) if train else None
        if spec.evaluation is None:
            raise ValueError(f"pipeline {spec.name!r} has no evaluation transform for the decode path")
        self.evaluation = spec.evaluation
        self.readers, self.prefetch = max(1, int(readers)), max(1, int(prefetch))
        self.normalization = Normalization(mean, std, self.device)

    def __len__(self) -> int:
        return len(self.files)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        return torch.randperm(len(self), generator=generator)

    def describe(self) -> dict:
        return {
            "decode": "device",
            "decoder": device_decoder(self.device),
            "train": self.pipeline.describe() if self.pipeline is not None else None,
            "eval": {"resize": self.evaluation.resize, "crop": self.evaluation.crop},
        }

    def _read_ahead(self, batches: Iterator[torch.Tensor]) -> Iterator[tuple[torch.Tensor, list[torch.Tensor]]]:
        """(indices, their files' bytes) per batch; reads run ``prefetch`` batches ahead on threads."""
        with ThreadPoolExecutor(self.readers, thread_name_prefix="augrepro-read") as pool:
            pending: deque = deque()

            def submit() -> None:
                idx = next(batches, None)
                if idx is not None:
                    pending.append((idx, [pool.submit(read_bytes, self.files[i]) for i in idx.tolist()]))

            for _ in range(self.prefetch):
                submit()
            while pending:
                idx, futures = pending.popleft()
                submit()
                yield idx, [f.result() for f in futures]

    def iterate(self, order: torch.Tensor, start_step: int, batch_size: int, generator: torch.Generator, pipeline=None):
        """Batches ``start_step``.. of the epoch in ``order``, augmented by the training pipeline (``pipeline``
        is ignored: a file split has its own)."""
        steps = range(start_step, self.num_batches_of(order, batch_size))
        batches = (order[s * batch_size : (s + 1) * batch_size] for s in steps)
        for idx, data in self._read_ahead(batches):
            images = decode(data, self.device)
            if self.pipeline is not None:
                x, _ = augment(images, self.pipeline, generator)
            else:
                x = resize_center_crops(images, self.evaluation)
            yield self.normalization.apply(x), self.labels[to_device(idx, self.device)]

    @staticmethod
    def num_batches_of(order: torch.Tensor, batch_size: int) -> int:
        return -(-len(order) // batch_size)

    def eval_batches(self, batch_size: int, start: int = 0, stop: int | None = None):
        stop = len(self) if stop is None else stop
        batches = (torch.arange(s, min(s + batch_size, stop)) for s in range(start, stop, batch_size))
        for idx, data in self._read_ahead(batches):
            yield (
                self.normalization.apply(resize_center_crops(decode(data, self.device), self.evaluation)),
                self.labels[to_device(idx, self.device)],
            )
