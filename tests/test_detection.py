"""Detection transfer end to end on a fixture: a backbone checkpoint trained by the engine (an ImageNet-style
ResNet-18 on tiny images), VOC archives in the real format, a few Faster R-CNN iterations, the test-set mAP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_download import md5_bytes
from voc_fixture import voc_archives

from augrepro.data.datasets import get_spec, with_checksum
from augrepro.data.prepare import prepare
from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.evaluate.detection_data import iteration_batch
from augrepro.evaluate.detection_finetune import lr_at, parameter_groups, run_detection
from augrepro.evaluate.detection_model import RoIPooler, build_detector
from augrepro.studies.evaluations import check_detection, load_evaluations
from augrepro.train.engine import train_run

TINY_RECIPE = {
    "name": "tiny_voc",
    "checkpoint": "final",
    "batch_size": 2,
    "lr": 0.002,
    "iterations": 4,
    "milestones": [3],
    "warmup_iters": 2,
    "min_size": [64, 80],
    "max_size": 128,
    "test_min_size": 80,
    "test_max_size": 128,
    "metric": "voc07",
    "iou_thresholds": [0.5, 0.75],
    "numerics": "fp32",
    "test_batch_size": 2,
    "rois_per_image": 32,  # CPU-sized (the recipes: 256 or 512)
    "proposals_train": 64,
    "proposals_test": 32,
}


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    """A finished run's checkpoint: torchvision's ResNet-18 (architecture imagenet), one epoch on 32 images."""
    from test_engine import make_run

    folder = tmp_path_factory.mktemp("backbone")
    rng = np.random.default_rng(0)
    labels = np.arange(48) % 10
    images = rng.integers(0, 256, size=(48, 3, 32, 32), dtype=np.uint8)
    save_prepared(
        PreparedData(images[:32], labels[:32], images[32:], labels[32:], [str(i) for i in range(10)]),
        folder / "data.npz",
    )
    run = make_run("baseline", epochs=1)
    run.update(model="resnet18")
    run["recipe"].update(architecture="imagenet", milestones=[1], batch_size=16, max_test_images=8)
    train_run(
        run, folder / "data.npz", folder / "run", execution={"device": "cpu", "eval_batch_size": 16}, log=lambda m: None
    )
    return folder / "run" / "checkpoint.pt"


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voc")
    archives, _ = voc_archives(seed=5, per_part=(4, 3, 3), size=(96, 72))
    spec = get_spec("voc")
    paths = []
    for name, payload in archives.items():
        (folder / name).write_bytes(payload)
        spec = with_checksum(spec, md5_bytes(payload), name)
        paths.append(folder / name)
    prepare(spec, paths, folder / "data" / "data.npz", log=lambda m: None)
    return folder / "data" / "data.npz"


@pytest.mark.parametrize("head", ["c4", "fpn"])
def test_fine_tuning_runs_end_to_end_and_writes_the_voc_map(backbone, voc, tmp_path, head):
    out = tmp_path / "det" / "detection.json"
    logs = []
    result = run_detection(
        backbone,
        voc,
        out,
        {**TINY_RECIPE, "head": head},
        seed=1,
        execution={"device": "cpu", "workers": 0},
        threads=2,
        log=logs.append,
    )
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result, default=str))
    for metric in ("map50", "map75", "map"):
        assert 0.0 <= written[metric] <= 100.0
    assert written["map"] == pytest.approx((written["map50"] + written["map75"]) / 2)  # the mean over the thresholds
    assert written["iterations"] == 4 and written["detection_seed"] == 1 and written["recipe"] == "tiny_voc"
    assert written["checkpoint"] == {"kind": "final", "file": "checkpoint.pt", "epoch": 1}
    assert written["run"]["model"] == "resnet18" and written["run"]["seed"] == 3
    assert written["run"] == json.loads((backbone.parent / "meta.json").read_text())["run"]  # as training wrote it
    assert written["train_images"] == 7 and written["test_images"] == 3
    assert set(written["ap_per_class"]) == {"0.50", "0.75"}
    assert "VOC07 11-point" in written["metric"] and "difficult objects ignored" in written["metric"]
    assert all(np.isfinite(row[1]) for row in written["losses"]) and written["losses"][-1][0] == 4
    assert any("iteration 4/4" in m for m in logs) and any("head " + head in m for m in logs)
    assert not (out.parent / "resume.pt").exists()


def test_the_detector_takes_over_the_checkpoints_weights_and_freezes_stem_layer1_and_batchnorm(backbone):
    from augrepro.evaluate.checkpoint import load_run_model

    state = torch.load(backbone, weights_only=True)["model"]
    _run, resnet = load_run_model(backbone, torch.device("cpu"))
    model = build_detector(resnet, check_detection(TINY_RECIPE), (0.5,) * 3, (0.25,) * 3)
    trunk = model.backbone.body
    torch.testing.assert_close(trunk[0].weight, state["conv1.weight"])
    torch.testing.assert_close(trunk[6][0].conv1.weight, state["layer3.0.conv1.weight"])
    torch.testing.assert_close(model.roi_heads.box_head.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    torch.testing.assert_close(trunk[1].running_mean, state["bn1.running_mean"])  # frozen with its statistics
    assert not trunk[0].weight.requires_grad and not trunk[4][0].conv1.weight.requires_grad  # stem, layer1
    assert trunk[5][0].conv1.weight.requires_grad and model.roi_heads.box_head.layer4[0].conv1.weight.requires_grad
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model.roi_heads.box_predictor.cls_score.out_features == 21
    assert list(model.transform.image_mean) == [0.5] * 3  # the backbone run's normalization
    with pytest.raises(ValueError, match="torchvision \\(ImageNet-style\\) ResNet"):
        from augrepro.models import build_model

        build_detector(build_model("resnet8", 10), check_detection(TINY_RECIPE), (0.5,) * 3, (0.25,) * 3)


def test_the_schedule_and_the_data_order():
    recipe = check_detection({**TINY_RECIPE, "iterations": 100, "milestones": [60, 80], "warmup_iters": 10, "lr": 0.02})
    assert lr_at(recipe, 0) == pytest.approx(0.02 * 0.001)
    assert lr_at(recipe, 5) == pytest.approx(0.02 * (0.001 * 0.5 + 0.5))
    assert lr_at(recipe, 10) == pytest.approx(0.02) and lr_at(recipe, 59) == pytest.approx(0.02)
    assert lr_at(recipe, 60) == pytest.approx(0.002) and lr_at(recipe, 99) == pytest.approx(0.0002)
    # the order is a function of (seed, iteration): one pass sees every image once
    seen = [i for it in range(5) for i, _ in iteration_batch(10, 2, 7, it)]
    assert sorted(seen) == list(range(10))
    assert iteration_batch(10, 2, 7, 3) == iteration_batch(10, 2, 7, 3) != iteration_batch(10, 2, 8, 3)
    with pytest.raises(
        ValueError,
        match="milestones is \\[120\\]; expected an increasing list of iterations below 'iterations' \\(4\\)",
    ):
        check_detection({**TINY_RECIPE, "milestones": [120]})
    with pytest.raises(ValueError, match="head: 'c5' is not valid; valid: c4, fpn"):
        check_detection({**TINY_RECIPE, "head": "c5"})
    with pytest.raises(ValueError, match="roi_pool: 'max' is not valid; valid: align, align_v2, crop"):
        check_detection({**TINY_RECIPE, "roi_pool": "max"})
    with pytest.raises(ValueError, match="'checkpoint' is required: Which weights of the run"):
        check_detection({k: v for k, v in TINY_RECIPE.items() if k != "checkpoint"})


# --- the recipes as their codes ran them: RoI pooling, test settings, parameter groups ------------------------


def shipped_recipe(name: str, **overrides) -> dict:
    """A detection recipe of config/evaluations.yaml (checked), with CPU-sized overrides."""
    recipes = load_evaluations(Path(__file__).resolve().parents[1] / "config/evaluations.yaml")["detection"]
    return check_detection({**recipes[name], **overrides})


def test_the_roi_poolings_sample_where_their_codes_do():
    """On a feature map whose value is its column (f(y, x) = x), each pooled cell is the mean column of its
    samples: RoIAlign's bin centres (faster-rcnn.pytorch's ROIAlign, no half-pixel shift), half a cell lower with
    Detectron2's ROIAlignV2, and for faster-rcnn.pytorch's crop-and-resize the larger of two neighbouring points of
    a 2 size x 2 size grid spanning the box corner to corner."""
    features = {"0": torch.arange(40, dtype=torch.float32).repeat(30, 1)[None, None]}  # 30 x 40 cells
    boxes = [torch.tensor([[2.0, 3.0, 10.0, 9.0]]) * 16]  # feature cells x 2..10, y 3..9 (stride 16)
    align = RoIPooler("align", 4)(features, boxes)[0, 0]
    centres = 2 + (torch.arange(4) + 0.5) * 8 / 4
    torch.testing.assert_close(align, centres.expand(4, 4))
    torch.testing.assert_close(RoIPooler("align_v2", 4)(features, boxes)[0, 0], (centres - 0.5).expand(4, 4))
    crop = RoIPooler("crop", 7)(features, boxes)
    assert crop.shape == (1, 1, 7, 7)
    grid = 2 + 8 * torch.arange(14) / 13  # 14 points from x = 2 to x = 10
    torch.testing.assert_close(crop[0, 0], grid[1::2].expand(7, 7))  # 2 x 2 max-pool: the right point of each pair
    # two images: each box samples its own image
    two = {"0": torch.cat([features["0"], -features["0"]])}
    pooled = RoIPooler("crop", 7)(two, [boxes[0], boxes[0]])
    torch.testing.assert_close(pooled[1, 0], -(grid[0::2].expand(7, 7)))


def test_each_recipe_builds_the_pooling_and_parameter_groups_of_its_code(backbone):
    """saliencymix_voc as faster-rcnn.pytorch (res50.yml) trains it: RoIAlign 7 x 7, no weight decay on biases,
    the biases' lr not doubled (DOUBLE_BIAS False); salfmix_voc as Detectron2: ROIAlignV2 14 x 14, weight decay on
    biases. Every trainable parameter is in one group; the biases are the parameters named *bias."""
    from augrepro.evaluate.checkpoint import load_run_model

    expected = {"saliencymix_voc": ("align", 7, 0.0), "salfmix_voc": ("align_v2", 14, 1e-4)}
    for name, (mode, size, bias_decay) in expected.items():
        values = shipped_recipe(name)
        _run, resnet = load_run_model(backbone, torch.device("cpu"))
        model = build_detector(resnet, values, (0.5,) * 3, (0.25,) * 3)
        pooler = model.roi_heads.box_roi_pool
        assert (pooler.mode, pooler.size) == (mode, size)
        weights, biases = parameter_groups(model, values)
        assert weights["weight_decay"] == 1e-4 and biases["weight_decay"] == bias_decay
        assert weights["lr_factor"] == biases["lr_factor"] == 1.0
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert len(weights["params"]) + len(biases["params"]) == len(trainable)
        assert any(p is model.roi_heads.box_predictor.cls_score.bias for p in biases["params"])
        assert any(p is model.roi_heads.box_predictor.cls_score.weight for p in weights["params"])
        assert all(p.ndim == 1 for p in biases["params"])
        # the lr schedule reaches each group through its factor
        doubled = parameter_groups(model, {**values, "bias_lr_factor": 2.0})[1]
        assert doubled["lr_factor"] == 2.0


def test_the_saliencymix_recipe_tests_without_a_score_threshold_and_with_nms_0_3(backbone):
    """faster-rcnn.pytorch's test: every score kept (thresh 0.0), per-class NMS at 0.3, at most 100 boxes; on a
    fresh head (scores near 1/21) Detectron2's 0.05 threshold keeps fewer."""
    from torchvision.ops import box_iou

    from augrepro.evaluate.checkpoint import load_run_model

    small = dict(min_size=[64], max_size=128, test_min_size=80, test_max_size=128, proposals_test=64)
    values = shipped_recipe("saliencymix_voc", **small)
    _run, resnet = load_run_model(backbone, torch.device("cpu"))
    torch.manual_seed(0)
    model = build_detector(resnet, values, (0.5,) * 3, (0.25,) * 3).eval()
    assert (model.roi_heads.score_thresh, model.roi_heads.nms_thresh, model.roi_heads.detections_per_img) == (
        0.0,
        0.3,
        100,
    )
    images = [torch.rand(3, 72, 96, generator=torch.Generator().manual_seed(1))]
    with torch.no_grad():
        out = model(images)[0]
    assert 0 < len(out["scores"]) <= 100 and float(out["scores"].min()) < 0.05
    for label in out["labels"].unique():
        same = out["boxes"][out["labels"] == label]
        iou = box_iou(same, same).fill_diagonal_(0)
        assert float(iou.max()) <= 0.3 + 1e-6
    model.roi_heads.score_thresh, model.roi_heads.nms_thresh = 0.05, 0.5  # Detectron2's (salfmix_voc)
    with torch.no_grad():
        assert len(model(images)[0]["scores"]) < len(out["scores"])


def test_a_killed_fine_tuning_resumes_from_its_resume_file_and_a_foreign_one_is_refused(
    backbone, voc, tmp_path, monkeypatch
):
    from augrepro.train import resumable

    recipe = {**TINY_RECIPE, "checkpoint_every": 2}
    out = tmp_path / "det" / "detection.json"
    real_save = resumable.atomic_torch_save

    def killed_after_the_save(path, obj):
        real_save(path, obj)
        raise KeyboardInterrupt

    monkeypatch.setattr(resumable, "atomic_torch_save", killed_after_the_save)
    with pytest.raises(KeyboardInterrupt):
        run_detection(backbone, voc, out, recipe, seed=1, execution={"device": "cpu", "workers": 0}, log=print)
    saved = torch.load(out.parent / "resume.pt", weights_only=True)
    assert saved["iteration"] == 2 and saved["format"] == {"kind": "detection", "version": 1}
    monkeypatch.setattr(resumable, "atomic_torch_save", real_save)

    with pytest.raises(RuntimeError, match=r"different configuration \(seed is 1 in the file, 2 here\)"):
        run_detection(backbone, voc, out, recipe, seed=2, execution={"device": "cpu", "workers": 0}, log=print)
    logs = []
    written = run_detection(
        backbone, voc, out, recipe, seed=1, execution={"device": "cpu", "workers": 0}, log=logs.append
    )
    assert any("at iteration 2" in m and "resuming from" in m for m in logs)
    assert [row[0] for row in written["losses"]] == [4] and written["iterations"] == 4
    assert not (out.parent / "resume.pt").exists()
    # the resumed fine-tuning is the uninterrupted one, bit for bit: its last loss and its test (the samplers of the
    # RPN and the RoI head draw from torch's global generator, saved in the resume file)
    whole = run_detection(
        backbone, voc, tmp_path / "whole" / "detection.json", recipe, seed=1, execution={"device": "cpu", "workers": 0}
    )
    assert whole["losses"] == written["losses"]
    assert (whole["map"], whole["ap_per_class"]) == (written["map"], written["ap_per_class"])

    # a training run's resume file where a detection job writes its own
    resumable.ResumeFile(out.parent / "resume.pt", "training", 1, {"run": {}}).save({"epoch": 1})
    with pytest.raises(RuntimeError, match="resume file of training, not of detection: delete it"):
        run_detection(backbone, voc, out, recipe, seed=1, execution={"device": "cpu", "workers": 0}, log=print)
