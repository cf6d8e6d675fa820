"""SaliencyMix (Uddin et al., ICLR 2021) in its two faces.

``official``: as released (SaliencyMix_CIFAR/saliencymix.py): with probability ``prob`` per batch,
lam ~ Beta(beta, beta), one permutation, the fine-grained saliency of ``images[index[0]]`` computed
on the *normalized float* tensor, one box around its peak pasted from every shuffled source image,
lam recomputed from the clipped area.
``paper``: as the paper describes it (the SaliencyMix slides, "Our Approach"): per sample, the saliency of
that sample's source image computed on its uint8 pixels, a box of the batch's size around its peak.

``mode`` (paper variant): ``per_batch`` (default) draws one lam and one permutation per batch, applied with
probability ``prob`` per batch, as the released code does; ``per_sample`` mixes as HybridMix v2's SaliencyMix
half (SalfMix paper Algorithm 2, lines 8 and 12; :func:`paste_around_peaks`, which both call): each sample its
own partner drawn with replacement, its own lam and box around its partner's peak, ``prob`` per sample, so that
"HybridMix v2 against SaliencyMix" compares HybridMix with the SaliencyMix it contains.

Ablations of the paper variant (the SaliencyMix slides' second "Our Approach" slide, figures (c)/(d)):
``saliency`` picks the detector (``augrepro.saliency.METHODS``: ``fine_grained``, Montabone & Soto;
``spectral_residual``, Hou & Zhang; ``frequency_tuned``, Achanta et al. CVPR 2009; the slide's fourth,
BASNet, a trained network, is not provided)
and ``style`` the source and target patch mixing style:
``salient_to_corresponding`` (the method: the source's salient box pasted at the same place),
``salient_to_salient``, ``salient_to_nonsalient``, ``nonsalient_to_salient``, ``nonsalient_to_nonsalient``.
Assumed (the slides show only names and error bars): "non-salient" is the first minimum of the map in
raster order, as "salient" is its first maximum; a target "salient"/"non-salient" place is that point of
the *target* image's own map; when source and target places differ, both boxes keep the full cut size,
shifted (not clipped) to lie inside the image, so the cut region fits the place it is pasted to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augrepro.augment.base import (
    Augmentation,
    Context,
    MixResult,
    beta_parameter,
    draw_partners,
    identity,
    mix_with_probability,
    param,
    probability,
    register,
    sample_lams,
)
from augrepro.augment.boxes import (
    boxes_around,
    clipped_box,
    cut_size,
    gather_windows,
    inside_box,
    paste_boxes,
    paste_pairs,
    place_windows,
)
from augrepro.augment.variants import SALIENCYMIX_DEFAULTS, SALIENCYMIX_MODES, SALIENCYMIX_VARIANTS, saliencymix_variant
from augrepro.saliency import METHODS, official_float_peak, saliency_maps
from augrepro.transfer import device_tensor, to_device

VARIANTS, MODES = SALIENCYMIX_VARIANTS, SALIENCYMIX_MODES
STYLES = (
    "salient_to_corresponding",
    "salient_to_salient",
    "salient_to_nonsalient",
    "nonsalient_to_salient",
    "nonsalient_to_nonsalient",
)


# SaliencyMix: official = released code (saliency_bbox, one box per batch); paper = paper text (per sample).
@register("saliencymix")
@dataclass
class SaliencyMix(Augmentation):
    variant: str = param(SALIENCYMIX_DEFAULTS["variant"], choices=VARIANTS)
    beta: float = beta_parameter(1.0)
    prob: float = probability(0.5)  # salmix_prob of the released CIFAR code
    saliency: str = param(
        "fine_grained", choices=METHODS
    )  # paper variant only (any of METHODS); the official variant is fine-grained
    style: str = param(
        "salient_to_corresponding", choices=STYLES
    )  # paper variant only: the mixing-style ablation (SaliencyMix slides)
    # per_sample: HybridMix v2's SaliencyMix (SalfMix Algorithm 2)
    mode: str = param(SALIENCYMIX_DEFAULTS["mode"], choices=MODES)
    source = "SaliencyMix_CIFAR/saliencymix.py (official) / SaliencyMix paper section 3 (paper)"

    def bind(self, spec) -> None:
        if self.variant == "official" and self.saliency != "fine_grained":
            raise ValueError("saliencymix: the official variant uses fine_grained saliency; use variant: paper")
        if self.variant == "official" and self.style != STYLES[0]:
            raise ValueError("saliencymix: the mixing-style ablation needs variant: paper")
        if self.mode == "per_sample" and (self.variant != "paper" or self.style != STYLES[0]):
            raise ValueError(
                "saliencymix: mode per_sample is HybridMix v2's per-sample SaliencyMix: it needs variant: paper and "
                f"style: {STYLES[0]}"
            )

    def describe(self) -> dict:
        return {**super().describe(), "variant": saliencymix_variant(self.variant, self.mode)}

    def saliency_map(self, images, labels, ctx: Context):
        if self.variant == "official":
            # the released code's map of the normalized float tensor (SaliencyMix_CIFAR/saliencymix.py,
            # saliency_bbox) is nearly unrelated to the image: no map to show
            return None
        return saliency_maps(ctx.denormalize(images), self.saliency)

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if self.mode == "per_sample":  # SalfMix Algorithm 2, lines 8 and 12, without SalfMix
            partner = draw_partners(images.shape[0], ctx, images.device)
            lams = sample_lams(ctx, images.shape[0], self.beta, images.device)
            mixed, lam_t, boxes = paste_around_peaks(images, images[partner], lams, self.saliency, ctx)
            return mix_with_probability(images, mixed, lam_t, boxes, partner, self.prob, ctx)
        if ctx.rng.random() >= self.prob:
            return identity(images)
        lam = float(ctx.rng.beta(self.beta, self.beta))
        n, _, h, w = images.shape
        index = to_device(torch.randperm(n, generator=ctx.generator), images.device)
        cut_h, cut_w = cut_size(h, lam), cut_size(w, lam)
        if self.variant == "official":
            cy, cx = official_float_peak(images[index[0]])
            boxes = device_tensor([clipped_box(cy, cx, cut_h, cut_w, h, w)], images.device).expand(n, 4)
        else:
            maps = saliency_maps(ctx.denormalize(images), self.saliency).flatten(1)
            source_from, target_to = self.style.split("_to_")
            src = (maps.argmax(1) if source_from == "salient" else maps.argmin(1))[index]
            if target_to == "corresponding":
                boxes = torch.stack(clipped_box(src // w, src % w, cut_h, cut_w, h, w), 1)
            else:
                dst = maps.argmax(1) if target_to == "salient" else maps.argmin(1)
                src_boxes = inside_box(src // w, src % w, cut_h, cut_w, h, w)
                boxes = inside_box(dst // w, dst % w, cut_h, cut_w, h, w)
                patches = gather_windows(images[index], src_boxes[:, 0], src_boxes[:, 1], cut_h, cut_w)
                mixed = place_windows(images, patches, boxes[:, 0], boxes[:, 1])
                lam_t = torch.full((n,), 1.0 - cut_h * cut_w / (h * w), device=images.device)
                return MixResult(mixed, index, lam_t, boxes=boxes, source_boxes=src_boxes)
        mixed, lam_t = paste_boxes(images, index, boxes.long())
        return MixResult(mixed, index, lam_t, boxes=boxes.long())


def paste_around_peaks(x1: torch.Tensor, x2: torch.Tensor, lam: torch.Tensor, saliency: str, ctx: Context):
    """Per sample i, a box of cut side int(side * sqrt(1 - lam[i])) around the first peak of x2[i]'s saliency map
    (computed on its uint8 pixels), x2[i]'s box pasted into x1[i]; returns (mixed, lam from the clipped box's area,
    boxes). HybridMix v2's T_t (SalfMix Algorithm 2, line 12) and SaliencyMix's mode per_sample."""
    _, _, h, w = x1.shape
    peak = saliency_maps(ctx.denormalize(x2), saliency).flatten(1).argmax(1)
    boxes = boxes_around(peak // w, peak % w, lam, h, w)
    mixed, lam_t = paste_pairs(x1, x2, boxes)
    return mixed, lam_t, boxes
