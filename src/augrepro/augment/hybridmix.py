"""HybridMix v1/v2/v3 (SalfMix paper §4.4, Algorithm 2 and Table 2): SalfMix on both images, then a two-image
method T_t = Mixup (v1), SaliencyMix (v2) or CutMix (v3), equation (1): x~ = T_t(T_s(x1), y1, T_s(x2), y2).

Two modes:

``per_sample`` (default; Algorithm 2, lines 7-13, as the SalfMix tables' studies run it): every sample d draws
its partner z uniformly from the mini-batch, with replacement (line 8), both are self-mixed by SalfMix (lines
10-11: two independent draws of the patch positions; the saliency of x_z is the map computed for x_z in the
batch, one backward per batch), and T_t mixes the pair with the sample's own lam and, for v2/v3, its own box
(line 12). T_t is applied to every sample: Algorithm 2 has no probability for it, and §5.1's "default values
used in their corresponding studies" are read as the methods' Beta parameters, so ``prob`` is 1 by default.

``per_batch``: SalfMix on the batch, then the two-image method as released (one permutation, one lam and box
per batch, its own probability).

In both, nothing is applied before ``first_epoch`` (Algorithm 2, line 6: "if e > 1").
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
from augrepro.augment.basic import CutMix, Mixup
from augrepro.augment.boxes import boxes_around, paste_pairs
from augrepro.augment.salfmix import FIRST_EPOCH, SalfMix, check_patch_params
from augrepro.augment.saliencymix import SaliencyMix, paste_around_peaks
from augrepro.augment.variants import HYBRIDMIX_DEFAULTS, HYBRIDMIX_MODES, SALIENCYMIX_VARIANTS, hybridmix_variant
from augrepro.saliency import METHODS
from augrepro.transfer import to_device

MODES = HYBRIDMIX_MODES


@dataclass
class _HybridMix(Augmentation):
    n: int | None = param(None, low=1)  # SalfMix cells per side (None: 4 on 32 px, 8 on 64 px)
    r: float = param(0.3, low=0.0, high=1.0, low_open=True)  # SalfMix patch side floor(W * r)
    first_epoch: int = param(FIRST_EPOCH, low=1)  # Algorithm 2, line 6: mixing only for e > 1
    pool: bool = True  # False: SalfMix's map without average pooling (Table 10, SalfMix §6.5)
    mode: str = param(HYBRIDMIX_DEFAULTS["mode"], choices=MODES)  # Algorithm 2 loops over samples
    prob: float = probability(1.0)  # Algorithm 2, line 12: T_t on every sample (per batch in per_batch mode)

    def __post_init__(self) -> None:
        # The sub-methods, built once here and bound once in ``bind`` (not dataclass fields: not parameters):
        # ``salfmix`` is T_s (SalfMix, applied from this method's own ``first_epoch``), ``pair_mixer`` is T_t.
        self.salfmix = SalfMix(n=self.n, r=self.r, pool=self.pool, first_epoch=1)
        self.pair_mixer = self.pair_method()

    def pair_method(self) -> Augmentation:
        """Each version's T_t as released (the per_batch mode)."""
        raise NotImplementedError

    def mix_pairs(
        self, x1: torch.Tensor, x2: torch.Tensor, ctx: Context
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Each version's T_t per sample (Algorithm 2, line 12): (images, lam, boxes)."""
        raise NotImplementedError

    def bind(self, spec) -> None:
        check_patch_params(self.name, self.n, self.r, spec.image_size)  # the error names this method
        self.salfmix.bind(spec)
        self.pair_mixer.bind(spec)

    @property
    def variant(self) -> str:
        return hybridmix_variant(self.mode)

    def uses_model(self) -> bool:
        return True

    def saliency_map(self, images, labels, ctx: Context):
        return self.salfmix.saliency_map(images, labels, ctx)

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.epoch < self.first_epoch:
            return identity(images)
        saliency = self.salfmix.saliency_map(images, labels, ctx)
        if self.mode == "per_batch":
            return self.pair_mixer(self.salfmix.self_mix(images, saliency, ctx.generator).images, labels, ctx)
        partner = draw_partners(images.shape[0], ctx, images.device)  # line 8
        x1 = self.salfmix.self_mix(images, saliency, ctx.generator).images  # line 10
        x2 = self.salfmix.self_mix(images[partner], saliency[partner], ctx.generator).images  # line 11
        mixed, lam, boxes = self.mix_pairs(x1, x2, ctx)  # line 12
        return mix_with_probability(x1, mixed, lam, boxes, partner, self.prob, ctx)


# HybridMix v1 (Table 2): SalfMix, then Mixup(x1, y1, x2, y2) with lam ~ Beta(alpha, alpha).
@register("hybridmix_v1")
@dataclass
class HybridMixV1(_HybridMix):
    alpha: float = beta_parameter(
        1.0
    )  # Mixup's default (SalfMix §5.1: "default values used in their corresponding studies")
    source = "SalfMix paper Algorithm 2 and Table 2 (v1: Mixup)"

    def pair_method(self) -> Augmentation:
        return Mixup(alpha=self.alpha, prob=self.prob)

    def mix_pairs(self, x1, x2, ctx):
        lam = sample_lams(ctx, x1.shape[0], self.alpha, x1.device)
        return lam[:, None, None, None] * x1 + (1.0 - lam[:, None, None, None]) * x2, lam, None


# HybridMix v2 (Table 2): SalfMix, then SaliencyMix. Per sample (Algorithm 2), each pair's box is centred on the
# peak of its self-mixed partner's saliency map, computed on its uint8 pixels (the paper text's SaliencyMix, as
# SaliencyMix's mode per_sample runs it alone); the released code's one-box-per-batch form ("official") exists only
# per batch.
@register("hybridmix_v2")
@dataclass
class HybridMixV2(_HybridMix):
    # SaliencyMix's variant (official: per_batch only)
    saliencymix: str = param(HYBRIDMIX_DEFAULTS["saliencymix"], choices=SALIENCYMIX_VARIANTS)
    beta: float = beta_parameter(1.0)  # SaliencyMix's default
    saliency: str = param("fine_grained", choices=METHODS)  # the detector of the SaliencyMix code
    source = "SalfMix paper Algorithm 2 and Table 2 (v2: SaliencyMix)"

    def pair_method(self) -> Augmentation:
        return SaliencyMix(variant=self.saliencymix, beta=self.beta, prob=self.prob, saliency=self.saliency)

    def bind(self, spec) -> None:
        if self.mode == "per_sample" and self.saliencymix == "official":
            raise ValueError(
                "hybridmix_v2: saliencymix: official is the released code's one box per batch; Algorithm 2 mixes "
                "per sample: use saliencymix: paper, or mode: per_batch"
            )
        super().bind(spec)

    @property
    def variant(self) -> str:
        return hybridmix_variant(self.mode, self.saliencymix)

    def mix_pairs(self, x1, x2, ctx):
        lam = sample_lams(ctx, x1.shape[0], self.beta, x1.device)
        return paste_around_peaks(x1, x2, lam, self.saliency, ctx)


# HybridMix v3 (Table 2): SalfMix, then CutMix with lam ~ Beta(beta, beta) and a uniform box centre per sample.
@register("hybridmix_v3")
@dataclass
class HybridMixV3(_HybridMix):
    beta: float = beta_parameter(1.0)  # CutMix's default
    source = "SalfMix paper Algorithm 2 and Table 2 (v3: CutMix)"

    def pair_method(self) -> Augmentation:
        return CutMix(beta=self.beta, prob=self.prob)

    def mix_pairs(self, x1, x2, ctx):
        n, _, h, w = x1.shape
        lam = sample_lams(ctx, n, self.beta, x1.device)
        cy = to_device(torch.randint(0, h, (n,), generator=ctx.generator), x1.device)
        cx = to_device(torch.randint(0, w, (n,), generator=ctx.generator), x1.device)
        boxes = boxes_around(cy, cx, lam, h, w)
        mixed, lam_t = paste_pairs(x1, x2, boxes)
        return mixed, lam_t, boxes
