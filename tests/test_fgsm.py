"""FGSM (CutMix paper App. E.1) on a tiny model and tiny images, and on a finished run's checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.evaluate.fgsm import Normalized, fgsm_accuracy, fgsm_perturb, run_fgsm
from augrepro.studies.evaluations import check_fgsm

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
EPS = 8 / 255


def tiny_images(n=256, seed=0):
    """16x16 images in [0, 1] whose class (of 4) is a brightness offset of one channel, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.6 + 0.2
    x[y == 1, 0] += 0.08
    x[y == 2, 1] += 0.08
    x[y == 3, 2] += 0.08
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    )
    model = Normalized(net, MEAN, STD)
    x, y = tiny_images()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(80):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    return model


def batches(x, y, size=64):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def test_the_perturbation_is_epsilon_times_the_gradient_sign_where_not_clipped(trained):
    x, y = tiny_images(128, seed=1)
    adv = fgsm_perturb(trained, x, y, EPS, clip=True)
    x_req = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(trained(x_req), y, reduction="sum").backward()
    sign = x_req.grad.sign()
    delta = adv - x
    assert float(delta.abs().max()) <= EPS + 1e-7  # the L-inf norm is epsilon ...
    inside = (sign != 0) & ((x + EPS * sign) >= 0) & ((x + EPS * sign) <= 1)
    assert inside.float().mean() > 0.9
    torch.testing.assert_close(delta[inside], (EPS * sign)[inside], rtol=0, atol=1e-6)  # ... reached everywhere
    per_image = delta.flatten(1).abs().max(1).values
    torch.testing.assert_close(per_image, torch.full_like(per_image, EPS), rtol=0, atol=1e-6)
    assert adv.min() >= 0 and adv.max() <= 1  # clipped to valid pixels
    unclipped = fgsm_perturb(trained, x, y, EPS, clip=False)
    torch.testing.assert_close(unclipped - x, EPS * sign, rtol=0, atol=1e-6)


def test_accuracy_under_attack_is_at_most_clean_and_epsilon_zero_gives_the_clean_accuracy(trained):
    x, y = tiny_images(256, seed=2)
    result = fgsm_accuracy(trained, batches(x, y), EPS)
    assert result["clean_top1_accuracy"] > 80  # the model learned the task
    assert result["fgsm_top1_accuracy"] <= result["clean_top1_accuracy"]
    assert result["fgsm_top1_accuracy"] < result["clean_top1_accuracy"] - 10  # and the attack hurts it
    stronger = fgsm_accuracy(trained, batches(x, y), 4 * EPS)
    assert stronger["fgsm_top1_accuracy"] <= result["fgsm_top1_accuracy"]
    zero = fgsm_accuracy(trained, batches(x, y), 0.0)
    assert zero["fgsm_top1_accuracy"] == zero["clean_top1_accuracy"] == result["clean_top1_accuracy"]
    assert trained.training is False and all(p.requires_grad for p in trained.parameters())  # left as found


def test_a_constant_model_is_unaffected(trained):
    # A model whose output does not depend on its input (trained to predict class 2 from a bias alone): its
    # input gradient is zero, so FGSM moves no pixel and the accuracy is the clean one.
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 4)
    )
    torch.nn.init.zeros_(net[3].weight)
    net[3].weight.requires_grad_(False)
    x, y = tiny_images(64, seed=3)
    opt = torch.optim.SGD([net[3].bias], lr=1.0)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), torch.full_like(y, 2)).backward()
        opt.step()
    model = Normalized(net, MEAN, STD).eval()
    assert (model(x).argmax(1) == 2).all()
    adv = fgsm_perturb(model, x, y, EPS)
    assert torch.equal(adv, x)
    result = fgsm_accuracy(model, batches(x, y), EPS)
    assert result["fgsm_top1_accuracy"] == result["clean_top1_accuracy"] == pytest.approx(25.0)


def test_recipe_values_are_checked():
    assert check_fgsm({"epsilon": 8 / 255, "checkpoint": "best"})["clip"] is True
    with pytest.raises(ValueError, match=r"epsilon: got 8; expected a number in \[0, 1\]; e.g. epsilon: 0.0313"):
        check_fgsm({"epsilon": 8, "checkpoint": "best"})
    with pytest.raises(ValueError, match="unknown key.*steps; valid keys: title, name, checkpoint, epsilon"):
        check_fgsm({"steps": 10})
    with pytest.raises(ValueError, match="'checkpoint' is required: .*cites its source's choice.*best.*final"):
        check_fgsm({"epsilon": 8 / 255})  # every recipe says which weights it reads


def test_run_fgsm_attacks_a_finished_runs_checkpoint(tmp_path):
    from test_engine import EXECUTION, make_run

    from augrepro.train.engine import train_run

    rng = np.random.default_rng(0)
    labels = np.arange(96) % 10
    images = rng.integers(0, 256, size=(96, 3, 32, 32), dtype=np.uint8)
    images[:, labels % 3, :8, :8] = 255
    data = tmp_path / "data.npz"
    save_prepared(PreparedData(images[:64], labels[:64], images[64:], labels[64:], [str(i) for i in range(10)]), data)
    run = make_run("baseline", epochs=2)
    run["recipe"]["eval_transform"] = {"resize": 36, "crop": 32}
    train_run(run, data, tmp_path / "run", execution=EXECUTION, log=lambda m: None)
    out = tmp_path / "fgsm" / "fgsm.json"
    logs = []
    result = run_fgsm(
        tmp_path / "run" / "checkpoint.pt",
        data,
        out,
        {"name": "cutmix_fgsm", "epsilon": EPS, "batch_size": 7, "checkpoint": "final"},
        execution={"device": "cpu"},
        log=logs.append,
    )
    written = json.loads(out.read_text())
    assert written["fgsm_top1_accuracy"] == result["fgsm_top1_accuracy"] <= written["clean_top1_accuracy"]
    assert written["images"] == 32 and written["epsilon_255"] == pytest.approx(8.0)
    assert written["run"]["model"] == "resnet8" and written["run"]["seed"] == 3 and written["recipe"] == "cutmix_fgsm"
    assert "before the run's mean/std normalization" in written["input_range"] and "[0, 1]" in written["clip"]
    assert "Resize 36, CenterCrop 32" in written["images_used"] and "App. E.1" in written["source"]
    # the clean accuracy is the engine's own evaluation of the final epoch (same transform, same weights)
    rows = [line.split(",") for line in (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()[1:]]
    assert written["clean_top1_accuracy"] == pytest.approx(100 - float(rows[-1][5]))
    assert written["checkpoint"] == {"kind": "final", "file": "checkpoint.pt", "epoch": 2}
    assert any("FGSM on run test/demo+/resnet8/baseline/seed3 (final weights" in m for m in logs)
    assert written["numerics"]["setting"] == "fp32" and written["numerics"]["tf32"] is False
    # a recipe that reads the best epoch's weights: the engine's evaluation of that epoch
    best = run_fgsm(
        tmp_path / "run" / "best.pt",
        data,
        tmp_path / "fgsm_best" / "fgsm.json",
        {"name": "best_fgsm", "epsilon": EPS, "batch_size": 7, "checkpoint": "best"},
        execution={"device": "cpu"},
        log=logs.append,
    )
    errors = [float(row[5]) for row in rows]
    best_epoch = errors.index(min(errors)) + 1
    assert best["checkpoint"] == {"kind": "best", "file": "best.pt", "epoch": best_epoch}
    assert best["clean_top1_accuracy"] == pytest.approx(100 - min(errors))


@pytest.mark.parametrize(
    "pipeline", [{"name": "imagenet"}, {"name": "snapmix", "resize": 40, "crop": 32, "warp": True}]
)
def test_file_datasets_give_the_evaluation_crop_before_normalization(tmp_path, pipeline):
    """The attack's images are the run's own evaluation images (the engine's loader and file pipeline: ImageNet's
    Resize 256 + CenterCrop 224, SnapMix's warp to 40 + CenterCrop 32) before normalization, in [0, 1]: what
    torchvision's transforms without the Normalize give, to float rounding."""
    from PIL import Image
    from test_engine import make_run
    from torchvision import transforms as T

    from augrepro.evaluate.fgsm import pixel_test_batches
    from augrepro.resolved import ResolvedRun

    rng = np.random.default_rng(0)
    files = []
    for i in range(3):
        path = tmp_path / f"{i}.JPEG"
        Image.fromarray(rng.integers(0, 256, (260 + 10 * i, 300, 3), dtype=np.uint8)).save(path)
        files.append(str(path))
    data = tmp_path / "data.npz"
    save_prepared(
        PreparedData(None, np.arange(3), None, np.arange(3), ["a", "b", "c"], np.array(files), np.array(files)), data
    )
    base = make_run("baseline")
    recipe = {**base["recipe"], "pipeline": pipeline, "normalize": {"mean": list(MEAN), "std": list(STD)}}
    run = ResolvedRun.from_params(
        {**base, "dataset": "imagenet", "dataset_key": "imagenet", "traditional": False, "recipe": recipe}
    )
    batches, n, _, transform = pixel_test_batches(run, data, 3, torch.device("cpu"), 0)
    x, y = next(iter(batches))
    if pipeline["name"] == "imagenet":
        steps = [T.Resize(256), T.CenterCrop(224)]
    else:
        steps = [T.Resize((40, 40)), T.CenterCrop((32, 32))]
    expected = torch.stack([T.Compose([*steps, T.ToTensor()])(Image.open(f).convert("RGB")) for f in files])
    assert n == 3 and y.tolist() == [0, 1, 2] and "evaluation" in transform
    torch.testing.assert_close(x, expected, atol=1e-6, rtol=0)


def test_hybridmixs_variant_is_the_same_in_meta_json_in_fgsm_and_in_detection(tmp_path):
    """HybridMix's variant is its mode (a parameter with a default, not a 'variant' parameter): meta.json, FGSM's
    result and detection's (both write the loaded checkpoint's identity) record the same one."""
    from test_engine import EXECUTION, make_run

    from augrepro.evaluate.checkpoint import load_checkpoint
    from augrepro.runs import RunKey
    from augrepro.train.engine import train_run

    rng = np.random.default_rng(1)
    data = tmp_path / "data.npz"
    labels = np.arange(48) % 10
    images = rng.integers(0, 256, size=(48, 3, 32, 32), dtype=np.uint8)
    save_prepared(PreparedData(images[:32], labels[:32], images[32:], labels[32:], [str(i) for i in range(10)]), data)
    run = make_run("hybridmix_v3", epochs=1)  # its mode left to the default, per_sample
    train_run(run, data, tmp_path / "run", execution=EXECUTION, log=lambda m: None)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())["run"]
    assert meta["variant"] == "per_sample"
    written = run_fgsm(
        tmp_path / "run" / "checkpoint.pt",
        data,
        tmp_path / "fgsm.json",
        {"name": "fgsm", "batch_size": 16, "checkpoint": "final"},
        execution={"device": "cpu"},
        log=lambda m: None,
    )
    assert written["run"] == meta  # the variant included
    loaded = load_checkpoint(tmp_path / "run" / "checkpoint.pt", torch.device("cpu"))
    assert loaded.identity() == meta  # what run_detection writes under "run"
    assert RunKey.from_record(meta) == RunKey.from_record(run) == RunKey("test", "demo+", "resnet8", "hybridmix_v3", 3)
