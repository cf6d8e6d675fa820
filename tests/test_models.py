"""Tests of augrepro.models: published parameter counts, output shapes, the registry."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT

from augrepro.models import MODELS, build_model
from augrepro.registry import UnknownNameError

# Published sizes (CIFAR-10 heads unless noted): ResNet-18 11.2 M, ResNet-50 23.5 M,
# ResNet-101 42.5 M, WideResNet-28-10 36.5 M.
PUBLISHED = {
    "resnet18": 11.2e6,
    "resnet50": 23.5e6,
    "resnet101": 42.5e6,
    "wrn28_10": 36.5e6,
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def models_c10() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: build_model(name, 10).eval() for name in MODELS.names()}


@pytest.mark.parametrize("name, published", sorted(PUBLISHED.items()))
def test_parameter_count_matches_published(models_c10, name, published):
    count = n_params(models_c10[name])
    assert abs(count - published) <= 0.01 * published, f"{name}: {count:,} parameters"


def test_resnet18_exact_parameter_count(models_c10):
    assert n_params(models_c10["resnet18"]) == 11_173_962


def test_resnet8_is_small(models_c10):
    assert 50_000 < n_params(models_c10["resnet8"]) < 120_000


def test_head_follows_num_classes():
    # Only the classifier grows with the number of classes: 512 features (+1 bias) per class for ResNet-18.
    r10, r100 = build_model("resnet18", 10), build_model("resnet18", 100)
    assert n_params(r100) - n_params(r10) == 90 * (512 + 1)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_maps_batch_to_logits(models_c10, name):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = models_c10[name](x)
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    # the two samples are processed independently in eval mode (no mixing across the batch)
    with torch.no_grad():
        single = models_c10[name](x[1:])
    torch.testing.assert_close(single[0], out[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet8", "resnet18"])
def test_num_classes_sets_output_width(name):
    model = build_model(name, 100).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_resnet18_accepts_tiny_imagenet_size():
    model = build_model("resnet18", 200).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 200)
    assert torch.isfinite(out).all()


def test_models_train_mode_backward():
    model = build_model("resnet8", 10).train()
    x = torch.randn(4, 3, 32, 32)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        build_model("resnet34", 10)
    message = str(info.value)
    assert "resnet34" in message
    for name in ("resnet8", "resnet18", "resnet50", "resnet101", "wrn28_10"):
        assert name in message
    assert isinstance(info.value, KeyError)


def test_new_cifar_models_match_published_parameter_counts():
    from augrepro.models import build_model

    def millions(name, classes):
        return sum(p.numel() for p in build_model(name, classes).parameters()) / 1e6

    # SalfMix paper section 5.1 gives 11 M, 24 M and 43 M: equal at that precision.
    assert [round(millions(n, 10)) for n in ("preactresnet18", "preactresnet50", "preactresnet101")] == [11, 24, 43]
    # SalfMix paper §5.2: PyramidNet-110 (alpha 64) 1.7 M; CutMix paper Table 3: PyramidNet-200 (alpha 240) 26.8 M;
    # within 1 %.
    assert abs(millions("pyramidnet110", 10) - 1.7) / 1.7 < 0.01
    assert abs(millions("pyramidnet200", 100) - 26.8) / 26.8 < 0.01


def test_imagenet_models_come_from_torchvision():
    import torch
    import torchvision

    from augrepro.models import build_model

    m50 = build_model("resnet50", 1000, architecture="imagenet")
    assert isinstance(m50, torchvision.models.ResNet)
    assert sum(p.numel() for p in m50.parameters()) == 25_557_032  # torchvision ResNet-50
    m101 = build_model("resnet101", 1000, architecture="imagenet")
    assert abs(sum(p.numel() for p in m101.parameters()) - 44.5e6) / 44.5e6 < 0.01
    assert m50(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    with pytest.raises(ValueError, match="valid ImageNet-style models: resnet18, resnet34, resnet50, resnet101"):
        build_model("wrn28_10", 1000, architecture="imagenet")


def test_preactresnet_options_follow_each_source():
    """He et al.'s PreActResNet ends with BN + ReLU (the default); PuzzleMix's code has none (final_bn: false) and
    strides its stem by 2 on 64 x 64 Tiny-ImageNet (stem_stride: 2), so its last stage sees 4 x 4 as on CIFAR."""
    import torch

    from augrepro.models import model_of_run

    he = build_model("preactresnet18", 200)
    puzzle = build_model("preactresnet18", 200, final_bn=False, stem_stride=2)
    assert isinstance(he.bn, torch.nn.BatchNorm2d) and puzzle.bn is None
    assert sum(p.numel() for p in he.parameters()) - sum(p.numel() for p in puzzle.parameters()) == 2 * 512
    x = torch.randn(2, 3, 64, 64)
    assert he.features(x).shape[-1] == 8 and puzzle.features(x).shape[-1] == 4
    assert (puzzle.features(x) < 0).any()  # no final ReLU: the features are the last block's sum
    assert model_of_run(puzzlemix_run(), 10).bn is None
    with pytest.raises(
        ValueError, match="model_options stem for model 'preactresnet18'; valid options: final_bn, stem_stride"
    ):
        build_model("preactresnet18", 10, stem=2)
    with pytest.raises(ValueError, match="ImageNet-style resnet50 takes none"):
        build_model("resnet50", 10, "imagenet", final_bn=False)


def test_each_declared_model_is_registered_by_its_module_with_the_declared_options():
    """The catalog (no torch) declares each model's module, label and options; building it imports that module,
    which registers the name with exactly those keyword options (what a protocol's model_options may set)."""
    import inspect

    from augrepro.models.catalog import check_model_options

    for name in MODELS.names():
        builder = MODELS.get(name)
        options = [p for p in inspect.signature(builder).parameters if p != "num_classes"]
        assert list(MODELS.metadata(name)["options"]) == options, name
    check_model_options("preactresnet18", "cifar", {"final_bn": False, "stem_stride": 2})
    with pytest.raises(ValueError, match="valid options: final_bn, stem_stride"):
        check_model_options("preactresnet18", "cifar", {"width": 2})
    with pytest.raises(ValueError, match=r"valid options: \(none\)"):
        check_model_options("resnet18", "cifar", {"final_bn": False})


def test_the_weights_file_names_are_torchvisions():
    """weights_file names a run's pretrained file without torchvision; the names are those of torchvision's enums."""
    from augrepro.models.pretrained import WEIGHTS, torchvision_weights, weights_file

    for tag, models in WEIGHTS.items():
        for model in models:
            assert weights_file(model, tag) == torchvision_weights(model, tag).url.rsplit("/", 1)[-1]


def puzzlemix_run(dataset: str = "cifar100"):
    """A resolved run of PuzzleMix's protocol (PreActResNet-18 without its final BN: ``final_bn: false``)."""
    from augrepro.runs import RunKey
    from augrepro.studies import load_protocols
    from augrepro.studies.study import resolve

    protocols = load_protocols(ROOT / "config" / "protocols.yaml")
    return resolve(RunKey("puzzlemix_1200", dataset, "preactresnet18", "baseline", 0), protocols, {})


def test_a_checkpoints_run_is_read_as_a_resolved_run_by_the_evaluations_and_the_preview(tmp_path):
    """A checkpoint keeps its run as the train rule's params (a mapping): the evaluations and the preview read it
    with ResolvedRun.from_params and build its model with its protocol's architecture and model options; a
    checkpoint whose run is not a resolved run is refused, naming what it lacks."""
    from augrepro.evaluate.checkpoint import load_checkpoint
    from augrepro.report.preview import load_model

    run = puzzlemix_run()
    model = build_model("preactresnet18", 100, final_bn=False)
    path = tmp_path / "checkpoint.pt"
    torch.save({"run": run.to_params(), "model": model.state_dict(), "epoch": 3}, path)
    loaded = load_checkpoint(path, torch.device("cpu"))
    assert loaded.resolved == run and loaded.model.bn is None and loaded.epoch == 3
    previewed, note = load_model("resnet8", 100, str(path), seed=0)
    assert previewed.bn is None and note == "preactresnet18 from checkpoint.pt"
    assert all(torch.equal(a, b) for a, b in zip(previewed.state_dict().values(), model.state_dict().values()))
    old = {k: v for k, v in run.to_params().items() if k != "method_params"}
    torch.save({"run": old, "model": model.state_dict()}, path)
    for read in (lambda: load_checkpoint(path, torch.device("cpu")), lambda: load_model("resnet8", 100, str(path), 0)):
        with pytest.raises(ValueError, match="not a resolved run: it lacks method_params"):
            read()
