"""Datasets: specs, download/verify, safe extraction, preparation, the prepared data and the loaders."""

from augrepro.data.datasets import DATASETS, DatasetSpec, get_spec, parse_dataset_key
from augrepro.data.prepared import PreparedData, load_prepared

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "PreparedData",
    "get_spec",
    "load_prepared",
    "parse_dataset_key",
]
