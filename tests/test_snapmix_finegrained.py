"""SnapMix's fine-grained study: the published tables, the protocol, pretrained backbones with per-group learning
rates, the SnapMix file pipeline, a few fine-tuning steps end to end, and the study in the workflow."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, job_counts, snakemake
from PIL import Image
from test_download import MirrorServer

from augrepro.data.datasets import get_spec
from augrepro.data.file_pipelines import check_file_pipeline, decode_files, file_pipeline_size, file_transforms
from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.models import build_model
from augrepro.models.pretrained import (
    WeightsError,
    download_weights,
    fetch_weights,
    head,
    load_pretrained,
    weights_file,
)
from augrepro.resolved import Protocol
from augrepro.results.published import load_published
from augrepro.runs import RunKey
from augrepro.studies import ConfigError, load_protocols, resolve_protocol, select_from_config
from augrepro.studies.costs import run_shape
from augrepro.train.engine import train_run
from augrepro.train.optim import make_optimizer, make_scheduler

METHODS = ("baseline", "cutout", "mixup", "cutmix", "snapmix")


# --- the published tables -----------------------------------------------------------------------------------


def _published_rows(name: str) -> list[dict]:
    with open(ROOT / "resources" / "published" / name, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    "name, models",
    [("snapmix_table1.csv", ("resnet18", "resnet34")), ("snapmix_table2.csv", ("resnet50", "resnet101"))],
)
def test_published_tables_store_errors_and_keep_the_printed_accuracy_and_improvement(name, models):
    rows = _published_rows(name)
    assert len(rows) == 3 * 2 * 5
    assert {(r["dataset"], r["model"], r["augmentation"]) for r in rows} == {
        (d, m, a) for d in ("cub200", "cars", "aircraft") for m in models for a in METHODS
    }
    checked = 0
    for r in rows:
        accuracy = float(re.search(r"printed mean accuracy ([\d.]+) %", r["note"]).group(1))
        assert float(r["mean"]) == pytest.approx(100.0 - accuracy, abs=1e-9)  # top1_error = 100 - accuracy
        assert (r["protocol"], r["traditional"], r["epochs"], r["metric"]) == (
            "snapmix_finegrained",
            "true",
            "200",
            "top1_error",
        )
        found = re.search(r"printed improvement over the baseline ([+-])(\d+)\.(\d+)", r["note"])
        if r["augmentation"] == "baseline":
            assert found is None
            continue
        base = next(
            b for b in rows if (b["dataset"], b["model"], b["augmentation"]) == (r["dataset"], r["model"], "baseline")
        )
        base_accuracy = 100.0 - float(base["mean"])
        printed = float(f"{found.group(1)}{found.group(2)}.{found.group(3)}")
        rounding = 0.5 * 10 ** -len(found.group(3)) + 1e-9  # "+1.1" is 1.05 .. 1.15
        if abs((accuracy - base_accuracy) - printed) > rounding:
            # the one cell whose printed improvement disagrees with its means says so
            assert (name, r["dataset"], r["model"], r["augmentation"]) == (
                "snapmix_table2.csv",
                "cars",
                "resnet50",
                "snapmix",
            )
            assert "disagrees with the printed means: 94.30 - 93.04 = 1.26" in r["note"]
        checked += 1
    assert checked == 24
    published = load_published(ROOT / "resources" / "published")
    assert len(published[published["file"] == name]) == 30


# --- the protocol -------------------------------------------------------------------------------------------


def test_protocol_follows_the_released_code():
    protocols = load_protocols(ROOT / "config" / "protocols.yaml")
    cub, cars = (resolve_protocol(protocols, "snapmix_finegrained", d) for d in ("cub200", "cars"))
    assert cub["pipeline"] == {"name": "snapmix", "resize": 512, "crop": 448, "warp": False}  # shorter side for CUB
    assert cars["pipeline"] == {"name": "snapmix", "resize": 512, "crop": 448, "warp": True}
    assert cars["lr_groups"] == {"backbone": 0.001, "head": 0.01} and "lr" not in cars
    assert (cars["batch_size"], cars["epochs"], cars["milestones"], cars["gamma"]) == (16, 200, [80, 150, 180], 0.1)
    assert (cars["momentum"], cars["nesterov"], cars["weight_decay"], cars["pretrained"]) == (
        0.9,
        True,
        1e-4,
        "imagenet1k_v1",
    )
    assert cars["methods"]["snapmix"] == {"beta": 5.0, "prob": 1.0}
    assert cars["methods"]["cutmix"] == {"beta": 3.0, "prob": 1.0}
    assert cars["methods"]["mixup"] == {"alpha": 1.0, "prob": 0.5}
    assert cars["methods"]["cutout"] == {"length": 224, "per_batch": True}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": 0.1}, "sets both lr and lr_groups"),
        (
            {"lr_groups": {"backbone": 0.001}},
            "bad.lr_groups: 'head' is required: The learning rate of the model's final nn.Linear",
        ),
        ({"pretrained": "imagenet21k"}, "pretrained is 'imagenet21k'; expected one of imagenet1k_v1"),
    ],
)
def test_protocol_checks_lr_groups_and_pretrained(tmp_path, change, message):
    protocols = (ROOT / "config" / "protocols.yaml").read_text()
    extra = {"bad": {"base": "snapmix_finegrained", **change}}
    (tmp_path / "p.yaml").write_text(protocols + "\n" + yaml.safe_dump(extra))
    with pytest.raises(ConfigError, match=message):
        load_protocols(tmp_path / "p.yaml")


def test_the_plan_counts_448_px_crops():
    selection = select_from_config({"studies": ["snapmix_finegrained"], "data": {"local_dir": "/nonexistent"}}, ROOT)
    assert len(selection.runs) == 3 * 4 * 5 * 3
    shape = run_shape(selection.resolved_run(RunKey("snapmix_finegrained", "cars+", "resnet34", "snapmix", 0)))
    assert shape == ("resnet34", "imagenet", 448, 196)


def test_without_a_source_for_cars_the_study_runs_cub_and_aircraft_unless_cars_files_are_downloaded(tmp_path):
    from augrepro.results.published import load_published
    from augrepro.results.verdicts import study_verdicts
    from augrepro.studies.plan import format_plan, plan_rows

    selection = select_from_config({"studies": ["snapmix_finegrained"], "data": {}}, ROOT)
    assert {k.dataset for k in selection.runs} == {"cub200", "aircraft"} and len(selection.runs) == 2 * 4 * 5 * 3
    assert selection.partial["snapmix_finegrained"].startswith("without cars: needs cars: the official Stanford Cars")
    assert "without cars: needs cars" in format_plan(plan_rows(selection))
    # the Cars cells are not runnable here, with the reason; the others wait for their runs
    study = selection.describe()["studies"][0]
    assert study["status"] == "chosen" and study["reason"].startswith("without cars")
    published = load_published(ROOT / "resources" / "published")
    cells = study_verdicts(study, published, pd.DataFrame(), pd.DataFrame()).cells
    verdicts = cells[cells["source"].str.startswith("SnapMix AAAI 2021, Table 1")].groupby("dataset")["verdict"]
    assert verdicts.agg(set).to_dict() == {"aircraft": {"missing"}, "cars": {"not runnable"}, "cub200": {"missing"}}
    # a study none of whose grid datasets can be used is skipped
    with pytest.raises(ConfigError, match="no chosen study can run here: .*needs imagenet"):
        select_from_config({"studies": ["saliencymix_imagenet"], "data": {}}, ROOT)
    for entry in get_spec("cars").archives():  # put there by hand (resources/datasets.md)
        path = tmp_path / "results" / "downloads" / "cars" / entry.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    for item in ("config", "resources"):
        shutil.copytree(ROOT / item, tmp_path / item)
    whole = select_from_config({"studies": ["snapmix_finegrained"], "data": {}}, tmp_path)
    assert len(whole.runs) == 3 * 4 * 5 * 3 and not whole.partial


# --- pretrained backbones and per-group learning rates -----------------------------------------------------


def hashed_weights(folder: Path, model: str, seed: int = 11) -> Path:
    """A torchvision ImageNet-style checkpoint (1000 classes) of random weights, named by torch.hub's convention."""
    torch.manual_seed(seed)
    net = build_model(model, 1000, architecture="imagenet")
    for buf in net.buffers():  # non-default running statistics, to see them loaded
        if buf.dtype.is_floating_point:
            buf.uniform_(0.5, 1.5)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    path = folder / f"{model}-{digest[:8]}.pth"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def test_the_backbone_gets_the_weights_and_the_head_is_new(tmp_path):
    path = hashed_weights(tmp_path, "resnet18")
    state = torch.load(path, weights_only=True)
    torch.manual_seed(0)
    fresh = build_model("resnet18", 200, architecture="imagenet")
    torch.manual_seed(0)
    model = build_model("resnet18", 200, architecture="imagenet")
    provenance = load_pretrained(model, path, "resnet18", "imagenet1k_v1")
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            assert torch.equal(value, fresh.state_dict()[key])  # untouched: the fresh init
        else:
            assert torch.equal(value, state[key]), key
    assert head(model) == ("fc", model.fc) and model.fc.out_features == 200
    assert provenance["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert provenance["file"] == path.name and provenance["published_file"] is False
    assert provenance["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert provenance["url"] == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    # a corrupt copy is refused before anything loads
    bad = bytearray(path.read_bytes())
    bad[-10] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(WeightsError, match="does not start with"):
        load_pretrained(model, path, "resnet18", "imagenet1k_v1")
    with pytest.raises(WeightsError, match="does not fit resnet34's backbone"):
        load_pretrained(
            build_model("resnet34", 10, architecture="imagenet"),
            hashed_weights(tmp_path, "resnet18"),
            "resnet34",
            "imagenet1k_v1",
        )


def test_per_group_learning_rates_apply_to_backbone_and_head():
    model = build_model("resnet50", 10, architecture="imagenet")
    recipe = {
        "lr_groups": {"backbone": 0.001, "head": 0.01},
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 1e-4,
        "lr_schedule": "multistep",
        "milestones": [2, 3],
        "gamma": 0.1,
        "epochs": 4,
    }
    optimizer = make_optimizer(model, recipe, torch.device("cpu"))
    backbone, fresh = optimizer.param_groups
    assert [p is q for p, q in zip(fresh["params"], model.fc.parameters())] == [True, True]
    assert len(backbone["params"]) == len(list(model.parameters())) - 2
    snapmix = resolve_protocol(load_protocols(ROOT / "config" / "protocols.yaml"), "snapmix_finegrained", "cub200")
    scheduler = make_scheduler(optimizer, Protocol.of_values({**snapmix, **recipe}))
    lrs = []
    for _ in range(4):
        lrs += [g["lr"] for g in optimizer.param_groups]
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.001, 0.01, 0.001, 0.01, 1e-4, 1e-3, 1e-5, 1e-4])


def test_fetch_refuses_a_wrong_file_under_torchvisions_name_and_checks_the_cache(tmp_path, monkeypatch):
    name = weights_file("resnet18", "imagenet1k_v1")
    assert name == "resnet18-f37072fd.pth"
    local = tmp_path / "local"
    local.mkdir()
    (local / name).write_bytes(hashed_weights(tmp_path / "w", "resnet18").read_bytes())  # not torchvision's file
    with pytest.raises(WeightsError, match="does not start with f37072fd"):
        fetch_weights(name, tmp_path / "results" / name, local_dir=local, log=lambda *_: None)
    assert not (tmp_path / "results" / name).exists()
    with pytest.raises(WeightsError, match="is not in it"):
        fetch_weights(name, tmp_path / "results" / name, local_dir=tmp_path / "empty", log=lambda *_: None)
    # a file already in torch.hub's cache is checked here (torch.hub would load it unchecked)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / name).write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="does not start with f37072fd"):
        fetch_weights(name, tmp_path / "results" / name, log=lambda *_: None)


def test_download_goes_through_torchvisions_weights_api_with_its_hash_check(tmp_path):
    from torchvision.models import Weights, WeightsEnum

    good = hashed_weights(tmp_path / "served", "resnet18")
    wrong = f"resnet18-{'0' * 8}.pth"  # a name whose hash the served bytes do not have
    with MirrorServer({good.name: good.read_bytes(), wrong: good.read_bytes()}) as server:
        Served = WeightsEnum(  # noqa: N806 (an enum made by the test: torchvision's API on a local URL)
            "Served",
            {
                "GOOD": Weights(url=f"{server.url}/{good.name}", transforms=None, meta={}),
                "WRONG": Weights(url=f"{server.url}/{wrong}", transforms=None, meta={}),
            },
        )
        dest = download_weights(Served.GOOD, tmp_path / "results" / good.name, log=lambda *_: None)
        assert dest.read_bytes() == good.read_bytes()
        with pytest.raises(RuntimeError, match="invalid hash value"):
            download_weights(Served.WRONG, tmp_path / "results" / wrong, log=lambda *_: None)
    assert not (tmp_path / "results" / wrong).exists()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [good.name]


# --- the SnapMix file pipeline ----------------------------------------------------------------------------


def _windows(big: torch.Tensor, crop: int) -> list[torch.Tensor]:
    h, w = big.shape[-2:]
    return [big[:, i : i + crop, j : j + crop] for i in range(h - crop + 1) for j in range(w - crop + 1)]


@pytest.mark.parametrize("warp", [True, False])
def test_snapmix_transforms_resize_then_crop_and_flip(warp):
    from torchvision.transforms import functional as F

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (30, 60, 3), dtype=np.uint8))  # 60 wide, 30 high
    spec = {"name": "snapmix", "resize": 40, "crop": 32, "warp": warp}
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    resized = F.to_tensor(F.resize(img, [40, 40] if warp else 40))
    assert tuple(resized.shape[-2:]) == ((40, 40) if warp else (40, 80))  # warped: aspect ratio not kept
    evaluation = file_transforms(spec, False, mean, std)(img)
    torch.testing.assert_close(evaluation, F.center_crop(resized, [32, 32]))
    windows = _windows(resized, 32)
    torch.manual_seed(0)
    flips = 0
    for _ in range(12):
        out = file_transforms(spec, True, mean, std)(img)
        assert out.shape == (3, 32, 32)
        plain = any(torch.equal(out, w) for w in windows)
        mirrored = any(torch.equal(out.flip(-1), w) for w in windows)
        assert plain or mirrored
        flips += int(mirrored and not plain)
    assert 0 < flips < 12
    assert file_pipeline_size(spec) == 32
    with pytest.raises(ValueError, match="crop 64 exceeds resize 40"):
        check_file_pipeline({**spec, "crop": 64})
    with pytest.raises(ValueError, match="missing key"):
        check_file_pipeline({"name": "snapmix", "resize": 40})


# --- a few fine-tuning steps end to end --------------------------------------------------------------------


def tiny_file_dataset(folder: Path, classes: int = 3, per_class: int = 4, test_per_class: int = 2) -> Path:
    rng = np.random.default_rng(5)
    files, labels = {"train": [], "test": []}, {"train": [], "test": []}
    for split, n in (("train", per_class), ("test", test_per_class)):
        for c in range(classes):
            for i in range(n):
                path = folder / "images" / split / f"{c:03d}_{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                size = (int(rng.integers(70, 110)), int(rng.integers(70, 110)))
                Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
                files[split].append(str(path))
                labels[split].append(c)
    data = PreparedData(
        None,
        np.asarray(labels["train"]),
        None,
        np.asarray(labels["test"]),
        [f"class{c}" for c in range(200)],
        train_files=np.asarray(files["train"]),
        test_files=np.asarray(files["test"]),
    )
    save_prepared(data, folder / "data.npz")
    return folder / "data.npz"


def snapmix_run(method="snapmix", epochs=2, **recipe) -> dict:
    protocols = load_protocols(ROOT / "config" / "protocols.yaml")
    values = resolve_protocol(protocols, "snapmix_finegrained", "cub200")
    values.pop("title", None)
    methods = values.pop("methods")
    values.update(
        epochs=epochs,
        batch_size=4,
        milestones=[1],
        pipeline={"name": "snapmix", "resize": 72, "crop": 64, "warp": False},
    )
    values.update(recipe)
    return {
        "protocol": "snapmix_finegrained",
        "dataset": "cub200",
        "dataset_key": "cub200+",
        "traditional": True,
        "model": "resnet18",
        "augmentation": method,
        "method": method,
        "seed": 1,
        "method_params": methods.get(method, {}),
        "recipe": values,
    }


def test_snapmix_fine_tunes_a_pretrained_resnet_on_a_file_dataset(tmp_path):
    npz = tiny_file_dataset(tmp_path / "data")
    weights = hashed_weights(tmp_path / "pretrained", "resnet18")
    run = snapmix_run()
    assert run["method_params"] == {"beta": 5.0, "prob": 1.0}
    with pytest.raises(ValueError, match="give the file resnet18-f37072fd.pth"):
        train_run(run, npz, tmp_path / "nofile", {"device": "cpu", "workers": 0}, threads=2)
    result = train_run(
        run, npz, tmp_path / "out", {"device": "cpu", "workers": 2, "eval_batch_size": 4}, threads=2, pretrained=weights
    )
    rows = result["metrics"]
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) and np.isfinite(r["test_loss"]) for r in rows)
    assert [r["lr"] for r in rows] == pytest.approx([0.001, 0.0001])  # the backbone's group, x0.1 after epoch 1
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["pretrained"]["file"] == weights.name and meta["pretrained"]["name"] == "imagenet1k_v1"
    assert meta["pipeline"]["name"] == "snapmix" and meta["pipeline"]["transforms"] == "training"
    assert meta["method"]["params"] == {"beta": 5.0, "prob": 1.0}
    saved = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)["model"]
    assert saved["fc.weight"].shape == (200, 512)


def test_per_group_rates_keep_a_frozen_backbone_at_the_pretrained_weights(tmp_path):
    """With a vanishing backbone lr only the head moves: the backbone got the file's weights, the head was new."""
    npz = tiny_file_dataset(tmp_path / "data", per_class=2, test_per_class=1)
    weights = hashed_weights(tmp_path / "pretrained", "resnet18")
    state = torch.load(weights, weights_only=True)
    run = snapmix_run("baseline", epochs=1, lr_groups={"backbone": 1e-30, "head": 0.5})
    train_run(
        run, npz, tmp_path / "out", {"device": "cpu", "workers": 0, "eval_batch_size": 4}, threads=2, pretrained=weights
    )
    saved = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)["model"]
    torch.manual_seed(run["seed"])
    fresh = build_model("resnet18", 200, architecture="imagenet")
    for key, value in saved.items():
        if key.startswith("fc."):
            assert not torch.allclose(value, fresh.state_dict()[key])  # the head trained from its fresh init
        elif "running_" not in key and "num_batches" not in key:  # BatchNorm statistics follow the data
            torch.testing.assert_close(value, state[key], rtol=0, atol=1e-12)


def test_previews_decode_a_file_dataset(tmp_path):
    npz = tiny_file_dataset(tmp_path / "data", per_class=1, test_per_class=1)
    from augrepro.report.preview import render_preview

    out = render_preview(npz, "cub200", "cutout", tmp_path / "cutout.png", params={"per_batch": True}, count=3)
    assert out.is_file() and out.stat().st_size > 1000
    images = decode_files(sorted((tmp_path / "data" / "images" / "train").glob("*.jpg"))[:2], 48)
    assert images.shape == (2, 3, 48, 48) and images.dtype == torch.uint8


# --- the study in the workflow -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_study_dry_runs_with_local_archives(project, tmp_path):
    local = tmp_path / "archives"
    local.mkdir()
    result = snakemake(
        project, "--dry-run", "--config", "studies=[snapmix_finegrained]", f"data={{local_dir: {local}}}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["train"] == 180
    assert counts["download"] == 1 + 4 + 1  # CUB, Stanford Cars' four files, Aircraft
    assert counts["prepare"] == 3 and counts["pretrained"] == 4 and counts["preview"] == 15
    for file in ("resnet18-f37072fd.pth", "resnet34-b627a593.pth", "resnet50-0676ba61.pth", "resnet101-63fe2227.pth"):
        assert f"results/pretrained/{file}" in result.stdout
    assert "results/downloads/cars/cars_test_annos_withlabels.mat" in result.stdout
    assert re.search(r"snapmix_finegrained\s+180\s+0\s+0\s+[\d,.]+", result.stderr)
