"""Model registry: ``build_model(name, num_classes)``; an unknown name lists the valid ones."""

from augrepro.models import (  # noqa: F401  (register the models)
    preact_resnet,
    pyramidnet,
    regnet,  # noqa: F401  (registers regnet200m)
    resnet_cifar,
    wide_resnet,
)
from augrepro.models.registry import MODELS, build_model, model_of_run

__all__ = ["MODELS", "build_model", "model_of_run"]
