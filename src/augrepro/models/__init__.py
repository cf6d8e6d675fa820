"""Model registry: ``build_model(name, num_classes)``; an unknown name lists the valid ones."""

from augrepro.models.registry import MODELS, build_model, model_of_run
from augrepro.models import preact_resnet, pyramidnet, resnet_cifar, wide_resnet  # noqa: F401  (register the models)
from augrepro.models import regnet  # noqa: F401  (registers regnet200m)

__all__ = ["MODELS", "build_model", "model_of_run"]
