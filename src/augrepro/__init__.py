"""augrepro: rerun the published experiments on saliency-guided mixing augmentations."""

__version__ = "0.1.0"
