"""Model registry: ``build_model(name, num_classes)``; an unknown name lists the valid ones.

The names, labels and options are declared in :mod:`augrepro.models.catalog` (no torch); a model's module is
imported when it is first built.
"""

from augrepro.models.registry import MODELS, build_model, model_of_run

__all__ = ["MODELS", "build_model", "model_of_run"]
