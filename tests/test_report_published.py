"""The published tables as data: row counts per table, spot values, and the papers' own arithmetic."""

import math
from pathlib import Path

import pandas as pd
import pytest

from augrepro.results.published import load_published

PUBLISHED_DIR = Path(__file__).resolve().parents[1] / "resources" / "published"
MODELS = {
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "wrn28_10",
    "preactresnet18",
    "preactresnet50",
    "preactresnet101",
    "pyramidnet110",
    "pyramidnet200",
    "regnet200m",
}
AUGMENTATIONS = {
    "baseline",
    "cutout",
    "mixup",
    "cutmix",
    "saliencymix",
    "salfmix",
    "hybridmix_v1",
    "hybridmix_v2",
    "hybridmix_v3",
    "resizemix",
    "snapmix",
    "ricap",
    "autoaugment",
    "puzzlemix",
    "stochasticdepth",
    "manifoldmixup",
    "dropblock",
    # ablation variants of SalfMix Tables 9 and 10 (resources/published/README.md)
    "cutout_saliency",
    "salfmix_nosaliency",
    "hybridmix_v3_nopool",
}

# file -> (source, number of cells)
TABLES = {
    "saliencymix_cifar.csv": ("SaliencyMix ICLR 2021, CIFAR table", 51),
    "saliencymix_imagenet.csv": ("SaliencyMix ICLR 2021, ImageNet table", 30),
    "saliencymix_time.csv": ("SaliencyMix ICLR 2021, training time table", 5),
    "salfmix_table4.csv": ("SalfMix Sensors 2021, Table 4 (CIFAR-10)", 30),
    "salfmix_table5.csv": ("SalfMix Sensors 2021, Table 5 (CIFAR-100)", 34),
    "salfmix_table6.csv": ("SalfMix Sensors 2021, Table 6 (other architectures, CIFAR-100)", 12),
    "salfmix_table7.csv": ("SalfMix Sensors 2021, Table 7 (TinyImageNet-200)", 34),
    "salfmix_table9.csv": ("SalfMix Sensors 2021, Table 9 (saliency ablation, PreActResNet-101)", 12),
    "salfmix_table10.csv": ("SalfMix Sensors 2021, Table 10 (average pooling ablation, PreActResNet-101)", 6),
    "team000_results.csv": ("A student team's reproduction of SaliencyMix (Group 10 slides), results table", 9),
    "team000_time.csv": ("A student team's reproduction of SaliencyMix (Group 10 slides), training time table", 3),
    "demo_reference.csv": (
        "This project's reference run of the demo (augrepro commit 77ff31a; Intel Xeon, 2 cores, no GPU; "
        "bench/bench_paired_seeds.py --methods baseline cutout cutmix saliencymix --seeds 100 .. 109)",
        4,
    ),
    "snapmix_table1.csv": (
        "SnapMix AAAI 2021, Table 1 (mean accuracy, ResNet-18/34; as quoted in the literature review slides)",
        30,
    ),
    "snapmix_table2.csv": (
        "SnapMix AAAI 2021, Table 2 (mean accuracy, ResNet-50/101; as quoted in the literature review slides)",
        30,
    ),
    "saliencymix_robustness.csv": ("SaliencyMix ICLR 2021, Adversarial Robustness table", 5),
    "saliencymix_detection.csv": (
        "SaliencyMix ICLR 2021, Transfer Learning on Object Detection (Faster R-CNN, VOC 2007 test)",
        5,
    ),
    "salfmix_table8.csv": ("SalfMix Sensors 2021, Table 8 (Faster R-CNN, VOC 2007/2012)", 30),
}


@pytest.fixture(scope="module")
def pub():
    return load_published(PUBLISHED_DIR)


def cell(pub, source_file, model, aug, dataset, metric="top1_error", epochs=None, traditional=None):
    source = TABLES[source_file][0]
    sel = pub[
        (pub["source"] == source)
        & (pub["model"] == model)
        & (pub["augmentation"] == aug)
        & (pub["dataset"] == dataset)
        & (pub["metric"] == metric)
    ]
    if epochs is not None:
        sel = sel[sel["epochs"] == epochs]
    if traditional is not None:
        sel = sel[sel["traditional"] == traditional]
    assert len(sel) == 1, (source_file, model, aug, dataset, metric, len(sel))
    return sel.iloc[0]


def test_every_table_is_present_with_its_row_count(pub):
    files = sorted(p.name for p in PUBLISHED_DIR.glob("*.csv"))
    assert files == sorted(TABLES)
    for name, (source, count) in TABLES.items():
        assert len(pd.read_csv(PUBLISHED_DIR / name)) == count, name
        assert (pub["source"] == source).sum() == count, source
    assert len(pub) == sum(count for _, count in TABLES.values())


def test_names_follow_the_developers_vocabulary(pub):
    papers = pub[pub["file"] != "demo_reference.csv"]  # the demo's reference is this project's own run
    assert set(papers["dataset"]) == {"cifar10", "cifar100", "tinyimagenet", "imagenet", "cub200", "cars", "aircraft"}
    assert set(papers["model"]) <= MODELS
    assert set(pub["augmentation"]) <= AUGMENTATIONS
    assert set(pub["metric"]) == {"top1_error", "top5_error", "hours", "fgsm_top1_accuracy", "map", "map50", "map75"}
    assert pub["mean"].notna().all()


def test_saliencymix_spot_values(pub):
    c = cell(pub, "saliencymix_cifar.csv", "wrn28_10", "saliencymix", "cifar100", traditional=True)
    assert (c["mean"], c["std"], c["runs"]) == (pytest.approx(16.56), pytest.approx(0.17), 5)
    c = cell(pub, "saliencymix_cifar.csv", "resnet18", "baseline", "cifar10", traditional=True)
    assert (c["mean"], c["std"]) == (
        pytest.approx(4.72),
        pytest.approx(0.21),
    )  # the authors', not the literature review's 4.27
    c = cell(pub, "saliencymix_cifar.csv", "resnet50", "baseline", "cifar10", traditional=False)
    assert (c["mean"], c["std"]) == (pytest.approx(12.14), pytest.approx(0.95))
    c = cell(pub, "saliencymix_cifar.csv", "wrn28_10", "puzzlemix", "cifar100", traditional=True)
    assert c["mean"] == pytest.approx(16.23) and math.isnan(c["std"])
    c = cell(pub, "saliencymix_imagenet.csv", "resnet50", "puzzlemix", "imagenet", "top5_error")
    assert c["mean"] == pytest.approx(5.71) and c["epochs"] == 300
    c = cell(pub, "saliencymix_imagenet.csv", "resnet101", "saliencymix", "imagenet")
    assert c["mean"] == pytest.approx(20.09)
    c = cell(pub, "saliencymix_time.csv", "resnet18", "saliencymix", "cifar10", "hours")
    assert c["mean"] == pytest.approx(0.91)


def test_salfmix_spot_values(pub):
    c = cell(pub, "salfmix_table4.csv", "preactresnet18", "hybridmix_v3", "cifar10")
    assert (c["mean"], c["std"], c["epochs"]) == (pytest.approx(3.38), pytest.approx(0.07), 300)
    c = cell(pub, "salfmix_table5.csv", "preactresnet18", "hybridmix_v3", "cifar100", epochs=1200)
    assert (c["mean"], c["std"]) == (pytest.approx(18.96), pytest.approx(0.13))
    c = cell(pub, "salfmix_table5.csv", "preactresnet18", "puzzlemix", "cifar100")
    assert c["mean"] == pytest.approx(19.62) and math.isnan(c["std"]) and c["epochs"] == 1200
    c = cell(pub, "salfmix_table6.csv", "pyramidnet110", "cutmix", "cifar100", "top5_error")
    assert c["mean"] == pytest.approx(3.83)
    c = cell(pub, "salfmix_table6.csv", "regnet200m", "hybridmix_v3", "cifar100")
    assert c["mean"] == pytest.approx(24.99) and math.isnan(c["epochs"])
    c = cell(pub, "salfmix_table7.csv", "preactresnet50", "hybridmix_v3", "tinyimagenet")
    assert (c["mean"], c["std"]) == (pytest.approx(31.77), pytest.approx(0.06))
    c = cell(pub, "salfmix_table9.csv", "preactresnet101", "salfmix_nosaliency", "cifar100")
    assert c["mean"] == pytest.approx(20.7)
    c = cell(pub, "salfmix_table10.csv", "preactresnet101", "hybridmix_v3_nopool", "tinyimagenet")
    assert c["mean"] == pytest.approx(31.35)


def test_team_spot_values(pub):
    c = cell(pub, "team000_results.csv", "wrn28_10", "saliencymix", "cifar10")
    assert c["mean"] == pytest.approx(2.77) and c["runs"] == 1 and bool(c["traditional"])
    c = cell(pub, "team000_time.csv", "resnet18", "cutout", "cifar10", "hours")
    assert c["mean"] == pytest.approx(0.99)


def test_salfmix_text_agrees_with_the_transcribed_tables(pub):
    """Differences the SalfMix text states (sections 5.2, 5.3, 6.2, 6.5) recomputed from the cells."""

    def v(f, m, a, d, epochs=300):
        return cell(pub, f, m, a, d, epochs=epochs)["mean"]

    r101 = "preactresnet101"
    # 5.2: HybridMix v3 vs baseline and vs CutMix on CIFAR-10 for 18/50/101
    for m, vs_base, vs_cutmix in (("preactresnet18", 1.79, 0.58), ("preactresnet50", 1.71, 0.18), (r101, 1.74, 0.2)):
        assert v("salfmix_table4.csv", m, "baseline", "cifar10") - v(
            "salfmix_table4.csv", m, "hybridmix_v3", "cifar10"
        ) == pytest.approx(vs_base)
        assert v("salfmix_table4.csv", m, "cutmix", "cifar10") - v(
            "salfmix_table4.csv", m, "hybridmix_v3", "cifar10"
        ) == pytest.approx(vs_cutmix)
    # 5.2: 0.66 over PuzzleMix at 1200 epochs; 5.3: 7.33 over the baseline, 1.58 over CutMix
    assert v("salfmix_table5.csv", "preactresnet18", "puzzlemix", "cifar100", 1200) - v(
        "salfmix_table5.csv", "preactresnet18", "hybridmix_v3", "cifar100", 1200
    ) == pytest.approx(0.66)
    assert v("salfmix_table7.csv", r101, "baseline", "tinyimagenet") - v(
        "salfmix_table7.csv", r101, "hybridmix_v3", "tinyimagenet"
    ) == pytest.approx(7.33)
    assert v("salfmix_table7.csv", r101, "cutmix", "tinyimagenet") - v(
        "salfmix_table7.csv", r101, "hybridmix_v3", "tinyimagenet"
    ) == pytest.approx(1.58)
    # 6.2: Cutout with saliency improves Cutout by 0.11 / 0.59 / 0.31; 6.5: pooling by 0.05 / 0.11 / 0.64
    for d, sal, pool in (("cifar10", 0.11, 0.05), ("cifar100", 0.59, 0.11), ("tinyimagenet", 0.31, 0.64)):
        assert v("salfmix_table9.csv", r101, "cutout", d) - v(
            "salfmix_table9.csv", r101, "cutout_saliency", d
        ) == pytest.approx(sal)
        assert v("salfmix_table10.csv", r101, "hybridmix_v3_nopool", d) - v(
            "salfmix_table10.csv", r101, "hybridmix_v3", d
        ) == pytest.approx(pool)
    # Tables 9 and 10 repeat cells of Tables 4, 5, 7
    for f, d in (
        ("salfmix_table4.csv", "cifar10"),
        ("salfmix_table5.csv", "cifar100"),
        ("salfmix_table7.csv", "tinyimagenet"),
    ):
        assert v("salfmix_table9.csv", r101, "salfmix", d) == v(f, r101, "salfmix", d)
        assert v("salfmix_table10.csv", r101, "hybridmix_v3", d) == v(f, r101, "hybridmix_v3", d)


@pytest.mark.parametrize(
    "line, match",
    [
        ("x,p,cifar10,true,resnet18,baseline,200,top1_err,1.0,", "unknown metric 'top1_err'"),
        ("x,p,cifar10,maybe,resnet18,baseline,200,top1_error,1.0,", "traditional"),
        ("x,p,cifar10,true,resnet18,baseline,200,top1_error,,0.1", "'mean'"),
        ("x,p,cifar10,true,resnet18,baseline,200,top1_error,1.0,abc", "'std' is 'abc'"),
        ("x,p,,true,resnet18,baseline,200,top1_error,1.0,", "'dataset' is empty"),
        ("x,,cifar10,true,resnet18,baseline,200,top1_error,1.0,", "'protocol' is empty"),
    ],
)
def test_bad_published_rows_are_refused_with_file_and_line(tmp_path, line, match):
    (tmp_path / "bad.csv").write_text(
        "source,protocol,dataset,traditional,model,augmentation,epochs,metric,mean,std\n" + line + "\n"
    )
    with pytest.raises(ValueError, match=match) as err:
        load_published(tmp_path)
    assert "bad.csv, line 2" in str(err.value)


def test_duplicate_cells_are_refused(tmp_path):
    row = "x,p,cifar10,true,resnet18,baseline,200,top1_error,1.0,\n"
    header = "source,protocol,dataset,traditional,model,augmentation,epochs,metric,mean,std\n"
    (tmp_path / "dup.csv").write_text(header + row + row)
    with pytest.raises(ValueError, match="given twice"):
        load_published(tmp_path)


def test_the_authors_learning_curves_are_recorded_with_their_runs_arguments():
    from augrepro.results.curves import load_published_curves

    curves = load_published_curves(PUBLISHED_DIR)
    assert set(curves["curve"]) == {
        f"saliencymix_authors_{n}" for n in ("cifar100_resnet18", "cifar10_resnet18", "cifar10_resnet50")
    }
    c100 = curves[curves["curve"] == "saliencymix_authors_cifar100_resnet18"]
    assert list(c100["epoch"]) == list(range(1, 201))
    best = c100.loc[c100["test_top1_error"].idxmin()]
    # REFERENCE: best test accuracy 80.56 % at (0-based) epoch 195
    assert (round(100 - best["test_top1_error"], 2), int(best["epoch"])) == (80.56, 196)
    assert "batch_size 128" in best["args"] and best["protocol"] == "saliencymix_cifar" and bool(best["traditional"])
    # the first lr decay shows after 61 epochs at 0.1 (saliencymix.py steps the scheduler with the 0-based epoch)
    err = c100.set_index("epoch")["test_top1_error"]
    assert err[63] < err[61] - 5 and abs(err[61] - err[60]) < 5
    cifar10 = curves[curves["curve"] == "saliencymix_authors_cifar10_resnet18"]
    assert len(cifar10) == 146 and "learning_rate 0.25" in cifar10["args"].iloc[0]  # that log stops at epoch 146


def test_published_curves_are_drawn_only_on_their_cells_figure():
    from augrepro.report.figures import learning_curves
    from augrepro.results.curves import load_published_curves

    published = load_published_curves(PUBLISHED_DIR)
    ours = pd.DataFrame(
        [
            {
                "protocol": "saliencymix_cifar",
                "dataset": "cifar100",
                "traditional": True,
                "model": "resnet18",
                "augmentation": "saliencymix",
                "seed": s,
                "epoch": e,
                "train_loss": 1.0,
                "test_top1_error": 60.0 / e + s,
                "test_top5_error": 1.0,
            }
            for s in (0, 1)
            for e in range(1, 11)
        ]
    )
    plain = learning_curves(ours)
    assert learning_curves(ours, published)[0][1] != plain[0][1]  # the authors' log is drawn
    other = ours.assign(protocol="saliencymix_cifar_batch256")
    assert learning_curves(other, published)[0][1] == learning_curves(other)[0][1]  # another recipe: not drawn


def test_an_authors_log_of_another_recipe_is_drawn_apart_with_the_difference_named():
    """The authors' CIFAR-10 ResNet-18 log ran batch 256 and lr 0.25, its cell's protocol batch 128 and lr 0.1: its
    index entry says so (checked here against the protocol), and the figure draws it dotted, the difference in its
    label; a log of the cell's own recipe is the dashed black line."""
    import re

    from augrepro.report.figures import published_overlays
    from augrepro.results.curves import load_published_curves
    from augrepro.studies import load_protocols, resolve_protocol

    published = load_published_curves(PUBLISHED_DIR)
    protocols = load_protocols(PUBLISHED_DIR.parents[1] / "config/protocols.yaml")
    for row in published.drop_duplicates("curve").itertuples():
        args = dict(re.findall(r"(\w+) ([\d.]+)", row.args))
        recipe = resolve_protocol(protocols, row.protocol, row.dataset)
        same = (int(args["batch_size"]), float(args["learning_rate"]), int(args["epochs"])) == (
            recipe["batch_size"],
            recipe["lr"],
            recipe["epochs"],
        )
        assert (row.differs == "") == same, row.curve
    (own,) = published_overlays(published, ("saliencymix_cifar", "cifar100", True, "resnet18"), {"saliencymix"})
    assert own.linestyle == "--" and "another recipe" not in own.label and len(own.epochs) == 200
    (other,) = published_overlays(published, ("saliencymix_cifar", "cifar10", True, "resnet18"), {"saliencymix"})
    assert other.linestyle == ":" and "another recipe: batch 256 and lr 0.25" in other.label
    assert published_overlays(published, ("saliencymix_cifar", "cifar10", True, "resnet18"), {"cutmix"}) == []
