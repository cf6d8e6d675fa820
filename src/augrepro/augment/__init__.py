"""Batch-level mixing methods: a registry of named methods, each returning a MixResult."""

from augrepro.augment.base import AUGMENTATIONS, Augmentation, Context, MixResult, build_augmentation
from augrepro.augment import basic, saliencymix  # noqa: F401  (register the methods)
from augrepro.augment import hybridmix, resizemix, ricap, salfmix, snapmix  # noqa: F401  (register the methods)

__all__ = ["AUGMENTATIONS", "Augmentation", "Context", "MixResult", "build_augmentation"]
