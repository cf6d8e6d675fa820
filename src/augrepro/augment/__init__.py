"""Batch-level mixing methods: a registry of named methods, each returning a MixResult."""

from augrepro.augment import basic, hybridmix, resizemix, ricap, salfmix, saliencymix, snapmix  # noqa: F401  (register the methods)  # noqa: F401  (register the methods)
from augrepro.augment.base import AUGMENTATIONS, Augmentation, Context, MixResult, build_augmentation

__all__ = ["AUGMENTATIONS", "Augmentation", "Context", "MixResult", "build_augmentation"]
