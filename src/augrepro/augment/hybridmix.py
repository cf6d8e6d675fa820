"""HybridMix v1/v2/v3 (seed 002, section 4.4, Algorithm 2 and Table 2): SalfMix on both images, then a
two-image method T_t = Mixup (v1), SaliencyMix (v2) or CutMix (v3), equation (1):
x~ = T_t(T_s(x1), y1, T_s(x2), y2).

Batched: SalfMix is applied once to every image of the batch, then T_t mixes the self-mixed batch with
its own permutation, which equals equation (1) for every pair. Algorithm 2, lines 5-6: in epoch 1 the
batch is used as it is (X~_i <- X_i; mixing only "if e > 1"), so nothing is applied before
``first_epoch`` (2). Line 12 applies T_t to every sample, hence probability 1 for T_t by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from augrepro.augment.base import Augmentation, Context, MixResult, identity, register
from augrepro.augment.basic import CutMix, Mixup
from augrepro.augment.saliencymix import SaliencyMix
from augrepro.augment.salfmix import SalfMix, check_patch_params


@dataclass
class _HybridMix(Augmentation):
    n: int | None = None  # SalfMix cells per side (None: 4 on 32 px, 8 on 64 px)
    r: float = 0.3  # SalfMix patch side floor(W * r)
    first_epoch: int = 2  # Algorithm 2, line 6: mixing only for e > 1
    pool: bool = True  # False: SalfMix's map without average pooling (Table 10, section 6.5)

    # Each version defines ``_second(self) -> Augmentation``: its two-image method T_t.

    def _first(self) -> SalfMix:
        return SalfMix(n=self.n, r=self.r, pool=self.pool)

    def bind(self, spec) -> None:
        check_patch_params(self.name, self.n, self.r, spec.image_size)
        if self.first_epoch < 1:
            raise ValueError(f"{self.name}.first_epoch must be at least 1 (1-based epochs), got {self.first_epoch}")
        second = self._second()
        if hasattr(second, "bind"):
            second.bind(spec)

    def uses_model(self) -> bool:
        return True

    def saliency_map(self, images, labels, ctx: Context):
        return self._first().saliency_map(images, labels, ctx)

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.epoch < self.first_epoch:
            return identity(images)
        self_mixed = self._first()(images, labels, ctx)
        return self._second()(self_mixed.images, labels, ctx)


# HybridMix v1 (Table 2): SalfMix, then Mixup(x1, y1, x2, y2) with lam ~ Beta(alpha, alpha).
@register("hybridmix_v1")
@dataclass
class HybridMixV1(_HybridMix):
    alpha: float = 1.0  # Mixup's default (section 5.1: "default values used in their corresponding studies")
    prob: float = 1.0  # Algorithm 2, line 12: T_t on every sample
    source = "SalfMix paper (seed 002) Algorithm 2 and Table 2 (v1: Mixup)"

    def _second(self) -> Augmentation:
        return Mixup(alpha=self.alpha, prob=self.prob)


# HybridMix v2 (Table 2): SalfMix, then SaliencyMix; ``variant`` chooses the released code or the paper text.
@register("hybridmix_v2")
@dataclass
class HybridMixV2(_HybridMix):
    variant: str = "official"  # SaliencyMix as released (section 5.1 uses the methods' own defaults)
    beta: float = 1.0
    prob: float = 1.0  # Algorithm 2, line 12: T_t on every sample
    saliency: str = "fine_grained"
    source = "SalfMix paper (seed 002) Algorithm 2 and Table 2 (v2: SaliencyMix)"

    def _second(self) -> Augmentation:
        return SaliencyMix(variant=self.variant, beta=self.beta, prob=self.prob, saliency=self.saliency)


# HybridMix v3 (Table 2): SalfMix, then CutMix with lam ~ Beta(beta, beta).
@register("hybridmix_v3")
@dataclass
class HybridMixV3(_HybridMix):
    beta: float = 1.0  # CutMix's default
    prob: float = 1.0  # Algorithm 2, line 12: T_t on every sample
    source = "SalfMix paper (seed 002) Algorithm 2 and Table 2 (v3: CutMix)"

    def _second(self) -> Augmentation:
        return CutMix(beta=self.beta, prob=self.prob)
