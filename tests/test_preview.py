"""The preview (library, `augrepro preview`, the workflow rule) and the README's worked example of adding a
method (docs/adding_a_method.md), run as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, copy_project, job_counts, snakemake, write_config

from augrepro.augment import AUGMENTATIONS, Context, build_augmentation, catalog
from augrepro.augment.boxes import box_masks
from augrepro.cli import main
from augrepro.data import get_spec
from augrepro.data.demo import build_arrays
from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.report.preview import label_captions, render_preview, spread_over_classes

DOC = ROOT / "docs" / "adding_a_method.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_npz(tmp_path_factory) -> Path:
    train_x, train_y, test_x, test_y = build_arrays(train_size=40, test_size=10)
    path = tmp_path_factory.mktemp("data") / "data.npz"
    save_prepared(PreparedData(train_x, train_y, test_x, test_y, [f"digit{i}" for i in range(10)]), path)
    return path


def test_spread_over_classes_takes_the_classes_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert spread_over_classes(labels, 5).tolist() == [0, 3, 5, 1, 4]
    assert spread_over_classes(labels, 50).tolist() == [0, 3, 5, 1, 4, 2]


def test_captions_list_every_label_with_its_weight():
    from augrepro.augment.base import MixResult

    res = MixResult(torch.zeros(2, 3, 4, 4), torch.tensor([1, 0]), torch.tensor([0.75, 1.0]))
    captions = label_captions(res, torch.tensor([3, 5]), [f"c{i}" for i in range(10)])
    assert captions[0] == "c3 #0: 0.75\nc5 #1: 0.25"
    assert captions[1] == "c5 #1: 1.00"  # the zero partner weight is left out


@pytest.mark.parametrize("method,params", [("cutmix", {"prob": 1.0}), ("salfmix", {}), ("ricap", {})])
def test_render_preview_writes_a_png_atomically(demo_npz, tmp_path, method, params):
    out = render_preview(demo_npz, "demo", method, tmp_path / "p" / f"{method}.png", params=params, count=4)
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in out.parent.iterdir()] == [f"{method}.png"]  # no temporary file left


def test_preview_refuses_bad_input_before_reading_data(tmp_path):
    with pytest.raises(ValueError, match="unknown parameter"):
        render_preview(tmp_path / "missing.npz", "demo", "cutmix", tmp_path / "x.png", params={"btea": 1})
    with pytest.raises(FileNotFoundError, match="not found"):
        render_preview(tmp_path / "missing.npz", "demo", "cutmix", tmp_path / "x.png")
    with pytest.raises(ValueError, match="count"):
        render_preview(tmp_path / "missing.npz", "demo", "cutmix", tmp_path / "x.png", count=0)


def test_cli_preview_and_methods(demo_npz, tmp_path, capsys):
    out = tmp_path / "snap.png"
    rc = main(
        [
            "preview",
            "--data",
            str(demo_npz),
            "--dataset",
            "demo",
            "--method",
            "snapmix",
            "--params",
            '{"prob": 1.0}',
            "--out",
            str(out),
            "--count",
            "3",
        ]
    )
    assert rc == 0 and out.read_bytes()[:8] == PNG_MAGIC
    assert (
        main(["preview", "--data", str(demo_npz), "--dataset", "demo", "--method", "nomethod", "--out", str(out)]) == 2
    )
    assert "valid augmentation methods" in capsys.readouterr().err
    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    assert "salfmix(n=None, r=0.3, saliency=True, pool=True, first_epoch=2)" in listing and "hybridmix_v3(" in listing


def preview_project(tmp_path: Path, demo_npz: Path) -> Path:
    project = copy_project(tmp_path / "project")
    target = project / "results/data/demo/data.npz"
    target.parent.mkdir(parents=True)
    target.write_bytes(demo_npz.read_bytes())
    return project


@pytest.mark.slow
def test_workflow_rule_writes_a_preview_per_augmentation(tmp_path, demo_npz):
    project = preview_project(tmp_path, demo_npz)
    study = yaml.safe_load((project / "config/studies/demo.yaml").read_text())
    study.update(
        augmentations=["cutmix", "sm_paper"], methods={"sm_paper": {"method": "saliencymix", "variant": "paper"}}
    )
    study.pop("claims"), study.pop("published")  # the demo's claim is about methods this study does not run
    write_config(project / "config/studies/previews.yaml", study)
    result = snakemake(
        project,
        "results/preview/demo/cutmix.png",
        "results/preview/demo/sm_paper.png",
        "--cores",
        "1",
        "--config",
        "studies=[previews]",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for aug in ("cutmix", "sm_paper"):
        assert (project / f"results/preview/demo/{aug}.png").read_bytes()[:8] == PNG_MAGIC


# --- the worked example of docs/adding_a_method.md ---------------------------------------------------------


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def halfmix_module():
    code = doc_blocks("python")[0]
    if "halfmix" not in AUGMENTATIONS:
        exec(compile(doc_blocks("python")[1], str(DOC), "exec"), vars(catalog))  # the declaration, with its cost
        module = types.ModuleType("augrepro.augment.halfmix_doc_example")
        sys.modules[module.__name__] = module  # dataclasses look the module up while the class is built
        exec(compile(code, str(DOC), "exec"), module.__dict__)
    return code


def test_doc_example_builds_runs_and_weights_equal_the_kept_area(halfmix_module):
    study = yaml.safe_load(doc_blocks("yaml")[0])
    params = {k: v for k, v in study["methods"]["halfmix_narrow"].items() if k != "method"}
    aug = build_augmentation("halfmix", params, get_spec("cifar10"))
    x = torch.randn(5, 3, 32, 32)
    y = torch.arange(5)
    spec = get_spec("cifar10")
    res = aug(x, y, Context(spec.mean, spec.std, torch.Generator().manual_seed(0), np.random.default_rng(0)))
    inside = box_masks(res.boxes, 32, 32).expand_as(x)
    assert torch.equal(res.images[inside], x[res.index].expand_as(x)[inside])
    area = (res.boxes[:, 2] - res.boxes[:, 0]) * (res.boxes[:, 3] - res.boxes[:, 1])
    assert torch.allclose(res.lam, 1 - area.float() / 1024)
    with pytest.raises(ValueError, match="valid parameters: alpha, prob"):
        build_augmentation("halfmix", {"alpah": 0.5}, get_spec("cifar10"))


@pytest.mark.slow
def test_doc_example_config_dry_runs_in_the_workflow(tmp_path, demo_npz):
    project = copy_project(tmp_path / "project")
    (project / "src/augrepro/augment/halfmix.py").write_text(doc_blocks("python")[0])
    declarations = project / "src/augrepro/augment/catalog.py"
    declarations.write_text(declarations.read_text() + doc_blocks("python")[1])
    write_config(project / "config/studies/halfmix_demo.yaml", yaml.safe_load(doc_blocks("yaml")[0]))
    result = snakemake(project, "--dry-run", "--config", "studies=[demo,halfmix_demo]")
    assert result.returncode == 0, result.stderr[-3000:]
    # the demo's 4 methods x 4 seeds, and the two new names x demo x resnet8 x 2 seeds; baseline is shared
    assert job_counts(result.stdout)["train"] == 4 * 4 + 2 * 2
    assert "augmentation=halfmix_narrow" in result.stdout
