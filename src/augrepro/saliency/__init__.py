"""Saliency maps for the saliency-guided methods."""

from augrepro.saliency.maps import METHODS, official_float_peak, saliency_maps

__all__ = ["METHODS", "official_float_peak", "saliency_maps"]
