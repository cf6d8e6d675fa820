"""Saliency maps for the saliency-guided methods."""

from augrepro.saliency.maps import BACKENDS, METHODS, official_float_peak, saliency_maps

__all__ = ["BACKENDS", "METHODS", "official_float_peak", "saliency_maps"]
