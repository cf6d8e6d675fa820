"""ImageNet-pretrained backbones: torchvision's published weights, fetched with their hash check, loaded into
the model's backbone; the head is a new layer.

A protocol names the weights with ``pretrained: <tag>`` (:data:`PRETRAINED`); for a model, a tag is one of
torchvision's weight enums. ``imagenet1k_v1`` is what ``pretrained=True`` meant: torchvision maps the legacy
argument to IMAGENET1K_V1, never to the newer V2 (models/resnet.py, ``handle_legacy_interface(weights=
("pretrained", ResNet50_Weights.IMAGENET1K_V1))``), and the SnapMix code builds ``models.<net>(pretrained=True)``
(networks/resnet_ft.py).

Files keep torchvision's names, which follow torch.hub's convention ``<name>-<first 8 or more hex digits of the
file's SHA-256>.pth`` (torch/hub.py ``load_state_dict_from_url``, ``HASH_REGEX``). :func:`fetch_weights` (on the
submit host: the workflow's local ``pretrained`` rule) takes the file from a local folder (air-gapped clusters)
or torch.hub's cache, checking its SHA-256 prefix here, because torch.hub loads a file already present without
checking it; otherwise it downloads it through torchvision's weights API with ``check_hash=True``.
:func:`load_pretrained` checks the prefix again before loading.

The head (:func:`head`) is the model's final ``nn.Linear`` (torchvision's ``fc``): it keeps the fresh
initialisation of the model built for the dataset's classes, as the SnapMix code's new ``classifier``; every
other parameter and buffer comes from the checkpoint (SnapMix code networks/resnet_ft.py: the pretrained
conv1 .. layer4 are "ftlayer", the new classifier "freshlayer").
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augrepro.io import atomic_fill

if TYPE_CHECKING:
    import torch.nn as nn

PRETRAINED = ("imagenet1k_v1",)
# tag -> model -> torchvision weight enum (torchvision models/resnet.py: ResNet18/34/50/101_Weights.IMAGENET1K_V1)
WEIGHTS = {
    "imagenet1k_v1": {
        "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
        "resnet34": "ResNet34_Weights.IMAGENET1K_V1",
        "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
        "resnet101": "ResNet101_Weights.IMAGENET1K_V1",
    },
}
# tag -> model -> the file name of the enum's URL (the same models/resnet.py), so that the workflow names the weights
# file of a run without importing torchvision; tests/test_models.py checks it against torchvision's enums
WEIGHTS_FILES = {
    "imagenet1k_v1": {
        "resnet18": "resnet18-f37072fd.pth",
        "resnet34": "resnet34-b627a593.pth",
        "resnet50": "resnet50-0676ba61.pth",
        "resnet101": "resnet101-63fe2227.pth",
    },
}
# torch/hub.py HASH_REGEX (r'-([a-f0-9]*)\.'), anchored: the name's hash is the SHA-256 prefix of the file
HASH_NAME = re.compile(r"^(?P<stem>[^/]+?)-(?P<hash>[0-9a-f]{8,64})\.(?P<ext>pth|pt)$")


class WeightsError(ValueError):
    """A weights file is missing, misnamed, corrupt, or does not fit the model."""


def head(model: nn.Module) -> tuple[str, nn.Linear]:
    """(qualified name, module) of the model's head: its final ``nn.Linear`` (torchvision's ``fc``)."""
    import torch.nn as nn

    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise WeightsError(f"{type(model).__name__} has no nn.Linear classifier, so it has no head to keep fresh")
    return found[-1]


def _check_entry(model: str, tag: str) -> None:
    if tag not in WEIGHTS:
        raise WeightsError(f"pretrained {tag!r}: unknown; valid: {', '.join(PRETRAINED)}")
    if model not in WEIGHTS[tag]:
        raise WeightsError(f"pretrained {tag!r} has no weights for model {model!r}; models: {', '.join(WEIGHTS[tag])}")


def torchvision_weights(model: str, tag: str):
    """torchvision's weight enum member for ``model`` under ``tag``."""
    from torchvision.models import get_weight

    _check_entry(model, tag)
    return get_weight(WEIGHTS[tag][model])


def weights_file(model: str, tag: str) -> str:
    """The file name of torchvision's weights (e.g. ``resnet50-0676ba61.pth``; no torchvision import)."""
    _check_entry(model, tag)
    return WEIGHTS_FILES[tag][model]


def _entry_of_file(file_name: str) -> tuple[str, str]:
    for tag, models in WEIGHTS.items():
        for model in models:
            if weights_file(model, tag) == file_name:
                return model, tag
    known = sorted(weights_file(m, t) for t, models in WEIGHTS.items() for m in models)
    raise WeightsError(f"{file_name!r} is not one of torchvision's weights files known here: {', '.join(known)}")


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike) -> str:
    """The file's SHA-256, after checking that it starts with the hash its name carries (torch.hub's naming)."""
    path = Path(path)
    m = HASH_NAME.match(path.name)
    if not m:
        raise WeightsError(
            f"{path}: weights files are named <name>-<SHA-256 prefix>.pth (torch.hub's convention, e.g. "
            "resnet50-0676ba61.pth); keep the file's published name"
        )
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    digest = sha256sum(path)
    if not digest.startswith(m.group("hash")):
        raise WeightsError(
            f"{path}: SHA-256 {digest} does not start with {m.group('hash')}, the hash in its name; the file is corrupt, "
            "truncated or another file: delete it and fetch it again"
        )
    return digest


def download_weights(weights, dest: str | os.PathLike, log=print) -> Path:
    """Download ``weights`` (a torchvision weight enum member) through torchvision's API, hash-checked
    (``get_state_dict(check_hash=True)`` into an empty folder, so that torch.hub cannot reuse an unchecked file),
    then move the file to ``dest``."""
    dest = Path(dest)
    name = weights.url.rsplit("/", 1)[-1]
    if dest.name != name:
        raise WeightsError(f"the weights file must keep its name {name!r}, not {dest.name!r}")
    log(f"downloading {weights.url} through torchvision (hash-checked)")
    return _install(
        dest,
        lambda folder: weights.get_state_dict(
            progress=False, check_hash=True, model_dir=str(folder), weights_only=True
        ),
    )


def fetch_weights(
    file_name: str, dest: str | os.PathLike, local_dir: str | os.PathLike | None = None, log=print
) -> Path:
    """Put torchvision's verified weights file ``file_name`` at ``dest``.

    Sources, in order: ``local_dir`` (data.pretrained_dir: a folder of torchvision's files under their names),
    torch.hub's cache (``$TORCH_HOME/hub/checkpoints``), a download through torchvision's weights API."""
    import torch.hub

    dest = Path(dest)
    if dest.name != file_name:
        raise WeightsError(f"the weights file must keep its name {file_name!r}, not {dest.name!r}")
    model, tag = _entry_of_file(file_name)
    candidates = [Path(local_dir) / file_name] if local_dir else []
    if local_dir and not candidates[0].is_file():
        raise WeightsError(
            f"data.pretrained_dir is {str(local_dir)!r} but {file_name} is not in it; put torchvision's file there "
            f"({torchvision_weights(model, tag).url}) or unset data.pretrained_dir"
        )
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / file_name)
    for source in candidates:
        if source.is_file():
            verify_file(source)
            log(f"copying {source} (SHA-256 prefix checked)")
            return _install(dest, lambda folder, source=source: shutil.copyfile(source, folder / file_name))
    return download_weights(torchvision_weights(model, tag), dest, log=log)


def _install(dest: Path, fill) -> Path:
    """``fill(folder)`` writes ``dest.name`` into an empty temporary folder beside ``dest``; the file is checked
    against the hash in its name and only then renamed to ``dest`` (``augrepro.io.atomic_fill``): nothing
    unchecked appears under that name."""
    return atomic_fill(dest, lambda staged: fill(staged.parent), check=verify_file)


def load_pretrained(model: nn.Module, path: str | os.PathLike, model_name: str, tag: str) -> dict[str, Any]:
    """Load the checkpoint at ``path`` into every parameter and buffer of ``model`` but its head; returns the
    provenance that goes into the run's meta.json."""
    import torch

    path = Path(path)
    digest = verify_file(path)
    weights = torchvision_weights(model_name, tag)
    state = torch.load(path, map_location="cpu", weights_only=True)
    head_name, head_module = head(model)
    prefix = f"{head_name}."
    own = model.state_dict()
    backbone = [k for k in own if not k.startswith(prefix)]
    missing = [k for k in backbone if k not in state]
    extra = [k for k in state if not k.startswith(prefix) and k not in own]
    shapes = [k for k in backbone if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or shapes:
        raise WeightsError(
            f"{path.name} does not fit {model_name}'s backbone: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing[:5])}" if missing else "",
                    f"unexpected {', '.join(extra[:5])}" if extra else "",
                    f"other shapes for {', '.join(shapes[:5])}" if shapes else "",
                )
                if part
            )
        )
    result = model.load_state_dict({k: state[k] for k in backbone}, strict=False)
    assert sorted(result.missing_keys) == sorted(k for k in own if k.startswith(prefix)) and not result.unexpected_keys
    return {
        "name": tag,
        "weights": WEIGHTS[tag][model_name],
        "url": weights.url,
        "file": path.name,
        "sha256": digest,
        "published_file": weights.url.rsplit("/", 1)[-1] == path.name,
        "backbone_tensors": len(backbone),
        "head": f"{head_name}: new nn.Linear({head_module.in_features}, {head_module.out_features}), not loaded",
    }
