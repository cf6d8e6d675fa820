"""Protocols, studies, the union of their runs and the plan: the library under the workflow's grid."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from augrepro.results.published import load_published
from augrepro.runs import PilotKey, RunKey, identity_record, read_identity
from augrepro.studies import ConfigError, load_protocols, resolve_protocol, select_from_config
from augrepro.studies.costs import REFERENCE, forward_gmacs, load_costs
from augrepro.studies.plan import plan_rows
from augrepro.studies.study import parse_study

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted(p.stem for p in (ROOT / "config/studies").glob("*.yaml"))


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """Every shipped study chosen, ImageNet's folder and a folder for Stanford Cars' files pretended present."""
    imagenet = tmp_path_factory.mktemp("imagenet")
    data = {"imagenet_path": str(imagenet), "local_dir": str(imagenet)}
    return select_from_config({"studies": STUDIES, "data": data}, ROOT)


# --- protocols ------------------------------------------------------------------------------------------


def test_a_protocol_derives_from_its_base_and_overrides_per_dataset():
    protocols = load_protocols(ROOT / "config/protocols.yaml")
    batch256 = resolve_protocol(protocols, "saliencymix_cifar_batch256", "cifar10")
    assert batch256["batch_size"] == 256 and batch256["epochs"] == 200 and batch256["milestones"] == [60, 120, 160]
    salf_cifar = resolve_protocol(protocols, "salfmix", "cifar100")
    salf_tiny = resolve_protocol(protocols, "salfmix", "tinyimagenet")
    assert (salf_cifar["batch_size"], salf_tiny["batch_size"]) == (64, 128)  # SalfMix section 5.1
    assert (salf_cifar["milestones"], salf_tiny["milestones"]) == ([150, 225], [75, 150, 225])
    assert salf_cifar["pipeline"]["name"] == "random_resized_crop_flip"
    assert salf_tiny["pipeline"]["name"] == "random_resized_crop_flip_jitter"
    # method defaults merge key by key: Cutout's length per dataset, the other methods kept
    assert (salf_cifar["methods"]["cutout"]["length"], salf_tiny["methods"]["cutout"]["length"]) == (16, 32)
    assert salf_tiny["methods"]["resizemix"] == {"alpha": 0.1, "beta": 0.8}
    sm = resolve_protocol(protocols, "saliencymix_cifar", "cifar100")
    assert sm["methods"]["cutout"] == {"length": 8} and sm["methods"]["cutmix"]["prob"] == 0.5
    imagenet = resolve_protocol(protocols, "saliencymix_imagenet", "imagenet")
    assert imagenet["methods"]["saliencymix"]["prob"] == imagenet["methods"]["cutmix"]["prob"] == 1.0
    assert "base" not in batch256 and "per_dataset" not in salf_tiny


def test_every_protocol_value_cites_its_source():
    """Each line that sets a value in config/protocols.yaml carries a one-line comment saying where from."""
    uncited = []
    for number, line in enumerate((ROOT / "config/protocols.yaml").read_text().splitlines(), start=1):
        if not line.startswith(" ") or not line.strip() or line.strip().startswith("#"):
            continue
        key, _, value = line.strip().partition(":")
        if value.split("#")[0].strip() and key not in ("title", "base") and "#" not in value:
            uncited.append(f"{number}: {line.strip()}")
    assert not uncited, "values without a source:\n" + "\n".join(uncited)


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"a": {"base": "b"}, "b": {"base": "a"}}, "protocol cycle through 'base:': a -> b -> a"),
        ({"a": {"base": "nowhere"}}, "unknown protocol 'nowhere' (the base of protocol 'a')"),
        ({"a": {"base": "demo", "epoch": 3}}, "unknown key(s) epoch"),
        ({"a": {"base": "demo", "numerics": "fp16"}}, "a.numerics: 'fp16' is not valid; valid: auto, fp32, tf32, bf16"),
        ({"a": {"base": "demo", "milestones": [16, 12]}}, "an increasing list"),
        (
            {"a": {"base": "demo", "per_dataset": {"cifar10": {"base": "demo"}}}},
            "a.per_dataset.cifar10: unknown key(s) base; valid keys: title",
        ),
        ({"a": {"base": "demo", "eval_transform": {"resize": 32, "crop": 64}}}, "eval_transform"),
    ],
)
def test_bad_protocols_are_refused_naming_the_key(tmp_path, entries, message):
    base = yaml.safe_load((ROOT / "config/protocols.yaml").read_text())
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump({"demo": base["demo"], **entries}))
    with pytest.raises(ConfigError) as err:
        load_protocols(path)
    assert message in str(err.value)


# --- numerics -------------------------------------------------------------------------------------------

DATASETS_OF_PROTOCOLS = ("cifar10", "cifar100", "tinyimagenet", "imagenet", "cub200", "cars", "aircraft")


@pytest.fixture
def tf32_switches():
    """PyTorch's TF32 switches, restored after the test (they are process-wide)."""
    import torch

    saved = torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    yield
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


def test_each_paper_protocol_computes_as_its_source_in_fp32_with_tf32_off(tf32_switches):
    """The sources trained in fp32 on GPUs without TF32: every protocol but the demo and the named fast variants
    resolves to fp32 on every dataset, and fp32 on a GPU means no autocast, no channels-last and TF32 off for
    cuDNN's convolutions (which PyTorch otherwise allows) and for matrix products."""
    import torch

    from augrepro.train.numerics import Numerics

    protocols = load_protocols(ROOT / "config/protocols.yaml")
    paper = [name for name in protocols if name != "demo" and not name.endswith("_bf16")]
    assert {"saliencymix_cifar", "saliencymix_imagenet", "salfmix", "snapmix_finegrained", "puzzlemix_1200"} <= set(
        paper
    )
    for name in paper:
        for dataset in DATASETS_OF_PROTOCOLS:
            assert resolve_protocol(protocols, name, dataset)["numerics"] == "fp32", (name, dataset)
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # PyTorch's default
    fp32 = Numerics(torch.device("cuda"), "fp32").apply()
    assert (fp32.bf16, fp32.channels_last, fp32.tf32) == (False, False, False)
    described = fp32.describe()
    assert described["cuda_matmul_fp32_precision"] == described["cudnn_conv_fp32_precision"] == "ieee"
    assert described["setting"] == "fp32" and described["tf32"] is False
    # the named variants: TF32 on a GPU, nothing of it on the CPU; bf16 with channels-last
    tf32 = Numerics(torch.device("cuda"), "tf32").apply().describe()
    assert tf32["tf32"] and tf32["cuda_matmul_fp32_precision"] == tf32["cudnn_conv_fp32_precision"] == "tf32"
    assert not Numerics(torch.device("cpu"), "tf32").tf32
    bf16 = Numerics(torch.device("cuda"), "bf16").apply()
    assert (bf16.bf16, bf16.channels_last, bf16.tf32) == (True, True, False)
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    auto = Numerics(torch.device("cpu"), "auto")  # the demo's: fp32 on the CPU
    assert (auto.bf16, auto.tf32) == (False, False)


def test_a_bf16_variant_is_its_recipe_in_bf16_and_trains_in_its_own_folders(everything, tf32_switches):
    """Each <protocol>_bf16 differs from its recipe in numerics alone (bf16 autocast and channels-last on a GPU);
    its runs are other runs, in other folders, never matched with a published cell. The numerics study runs one
    cell of each family in both, the fp32 runs being the paper studies' own, and tests each pair with a claim."""
    import torch

    from augrepro.train.numerics import Numerics

    protocols = everything.protocols
    variants = sorted(name for name in protocols if name.endswith("_bf16"))
    assert len(variants) == 9  # one per paper recipe family
    for name in variants:
        base = protocols[name]["base"]
        assert name == f"{base}_bf16"
        for dataset in DATASETS_OF_PROTOCOLS:
            fast, source = resolve_protocol(protocols, name, dataset), resolve_protocol(protocols, base, dataset)
            assert fast["numerics"] == "bf16" and source["numerics"] == "fp32"
            assert {k: v for k, v in fast.items() if k not in ("numerics", "name", "title")} == {
                k: v for k, v in source.items() if k not in ("numerics", "name", "title")
            }
    bf16 = Numerics(torch.device("cuda"), "bf16").apply()
    assert (bf16.bf16, bf16.channels_last, bf16.tf32) == (True, True, False)

    study = next(s for s in everything.studies if s.name == "numerics")
    pairs = [(g.protocol, h.protocol) for g, h in zip(study.grids[::2], study.grids[1::2])]
    assert (
        {f"{fp32}_bf16" for fp32, _ in pairs}
        == {bf16 for _, bf16 in pairs}
        == set(variants) - {"saliencymix_imagenet_bf16"}
    )
    runs = set(study.runs())
    claims = {tuple(c["protocols"]) for c in study.claims}
    assert claims == set(pairs) and all(c["kind"] == "equivalent" for c in study.claims)
    for key in runs:
        if key.protocol.endswith("_bf16"):
            twin = RunKey(key.protocol[: -len("_bf16")], key.dataset_key, key.model, key.augmentation, key.seed)
            assert (
                twin in runs and twin.run_dir != key.run_dir and key.run_dir.startswith(f"results/runs/{key.protocol}/")
            )
            assert everything.resolved(key)["recipe"]["numerics"] == "bf16"
            assert everything.resolved(twin)["recipe"]["numerics"] == "fp32"
    shared = {k for k in runs if not k.protocol.endswith("_bf16")} & {
        k for s in everything.studies if s.name != "numerics" for k in s.runs()
    }
    assert RunKey("saliencymix_cifar", "cifar10+", "resnet18", "saliencymix", 4) in shared  # trained once
    published = load_published(ROOT / "resources/published")
    assert not published["protocol"].str.endswith("_bf16").any()


# --- studies --------------------------------------------------------------------------------------------


def test_study_files_parse_into_grids():
    raw = yaml.safe_load((ROOT / "config/studies/salfmix_table5.yaml").read_text())
    study = parse_study("salfmix_table5", raw, "salfmix_table5.yaml")
    assert [g.protocol for g in study.grids] == ["salfmix", "puzzlemix_1200", "salfmix"]
    assert all(g.seeds == (0, 1, 2, 3, 4) for g in study.grids)  # top-level seeds reach every grid
    assert study.runs()[0] == RunKey("salfmix", "cifar100+", "preactresnet18", "baseline", 0)
    # a top-level grid comes first, the grids after it; an incomplete top-level grid is refused by its missing key
    with pytest.raises(ConfigError, match="x.yaml, grid 1: 'protocol' is required"):
        parse_study("x", dict(raw, datasets=["cifar10"]), "x.yaml")
    both = parse_study(
        "x", dict(raw, protocol="salfmix", datasets=["cifar10+"], models=["resnet18"], augmentations=["mixup"]), "x"
    )
    assert [g.protocol for g in both.grids] == ["salfmix", "salfmix", "puzzlemix_1200", "salfmix"]
    assert both.grids[0].datasets == ("cifar10+",) and both.grids[0].augmentations == ("mixup",)
    cifar = parse_study("c", yaml.safe_load((ROOT / "config/studies/saliencymix_cifar.yaml").read_text()), "c")
    assert [(g.protocol, g.models) for g in cifar.grids] == [
        ("saliencymix_cifar", ("resnet18", "resnet50", "wrn28_10")),
        ("cutout_cifar", ("resnet18", "wrn28_10")),
    ]


@pytest.mark.parametrize("gpus, nodes, refused", [(4, 1, False), (1, 1, False), (2, 4, True), (8, 1, True)])
def test_dataparallel_replicas_must_match_the_ranks_of_a_multi_gpu_study(gpus, nodes, refused):
    """SaliencyMix-ImageNet's BatchNorm saw a quarter of the batch (DataParallel on 4 GPUs): one process emulates
    the 4 replicas, 4 ranks are them; any other world size would change the statistics, refused before work."""
    from augrepro.studies.checks import validate_studies

    raw = yaml.safe_load((ROOT / "config/studies/saliencymix_imagenet.yaml").read_text())
    raw["resources"] = {**raw["resources"], "gpus": gpus, "nodes": nodes}
    study = parse_study("saliencymix_imagenet", raw, "saliencymix_imagenet.yaml")
    protocols = load_protocols(ROOT / "config/protocols.yaml")
    if not refused:
        validate_studies({study.name: study}, protocols)
        return
    with pytest.raises(ConfigError, match=f"batchnorm_replicas is 4 .* but the run has {gpus * nodes} processes"):
        validate_studies({study.name: study}, protocols)
    synced = {**protocols, "saliencymix_imagenet": {**protocols["saliencymix_imagenet"], "batchnorm": "sync"}}
    validate_studies({study.name: study}, synced)  # SyncBatchNorm: any world size


def test_a_world_size_that_does_not_divide_the_batch_is_refused_before_any_job():
    """Each rank takes batch / (gpus x nodes) images: a study whose GPUs do not divide its protocol's batch is refused
    when the studies are checked (before, the first training step refused it, on the cluster)."""
    from augrepro.studies.checks import validate_studies

    raw = yaml.safe_load((ROOT / "config/studies/saliencymix_imagenet.yaml").read_text())
    protocols = load_protocols(ROOT / "config/protocols.yaml")
    synced = {**protocols, "saliencymix_imagenet": {**protocols["saliencymix_imagenet"], "batchnorm": "sync"}}
    batch = resolve_protocol(synced, "saliencymix_imagenet", "imagenet")["batch_size"]
    for gpus, refused in ((8, False), (3, True)):
        raw["resources"] = {**raw["resources"], "gpus": gpus, "nodes": 1}
        study = parse_study("saliencymix_imagenet", raw, "saliencymix_imagenet.yaml")
        assert bool(batch % gpus) == refused
        if not refused:
            validate_studies({study.name: study}, synced)
            continue
        with pytest.raises(ConfigError, match=f"with resources of 3 GPUs: batch size {batch} is not a multiple of"):
            validate_studies({study.name: study}, synced)


# Cutout's train.py (uoguelph-mlrg/Cutout@287f934), value by value, with its lines
CUTOUT_TRAIN_PY = {
    "epochs": 200,  # train.py:35 --epochs default 200
    "batch_size": 128,  # train.py:33 --batch_size default 128
    "lr": 0.1,  # train.py:37 --learning_rate default 0.1
    "momentum": 0.9,  # train.py:156-157 SGD(momentum=0.9, nesterov=True, weight_decay=5e-4)
    "nesterov": True,
    "weight_decay": 5e-4,
    "lr_schedule": "multistep",  # train.py:162 MultiStepLR(milestones=[60, 120, 160], gamma=0.2)
    "milestones": [60, 120, 160],
    "gamma": 0.2,
    "lr_decay_delay": 1,  # train.py:223 scheduler.step(epoch) after the test (tests/test_engine.py checks the lrs)
    "pipeline": {"name": "pad_crop_flip", "padding": 4},  # train.py:74-75 RandomCrop(32, padding=4), flip
    "numerics": "fp32",  # no autocast
    "reported": "final",  # train.py:229 saves the final model; no best epoch is kept
}


def test_the_cutout_protocol_is_cutouts_train_py(everything):
    """The recipe of the 16 cells quoted from the Cutout paper: Cutout's train.py value by value, one GPU (BatchNorm
    over the whole batch, where the SaliencyMix code's two replicas see 64 each), its normalization and hole."""
    import torch

    from augrepro.data import get_spec
    from augrepro.data.normalization import Normalization
    from augrepro.resolved import Protocol
    from augrepro.studies.protocols import replicas_per_process

    for dataset, length in (("cifar10", 16), ("cifar100", 8)):  # train.py:1-2 and the README's commands
        recipe = resolve_protocol(everything.protocols, "cutout_cifar", dataset)
        assert {k: recipe[k] for k in CUTOUT_TRAIN_PY} == CUTOUT_TRAIN_PY
        assert recipe["methods"]["cutout"] == {"length": length, "n_holes": 1}  # train.py:43 --n_holes 1
        protocol = Protocol.of_values(recipe)
        assert replicas_per_process(protocol, 1) == 1  # train.py:154 cnn.cuda(): one GPU, no DataParallel
        saliencymix = resolve_protocol(everything.protocols, "saliencymix_cifar", dataset)
        assert replicas_per_process(Protocol.of_values(saliencymix), 1) == 2
        norm = Normalization.of(protocol.normalize, get_spec(dataset))  # train.py:69-70
        mean, std = torch.tensor([125.3, 123.0, 113.9]) / 255, torch.tensor([63.0, 62.1, 66.7]) / 255
        torch.testing.assert_close(torch.as_tensor(norm.mean).float(), mean)
        torch.testing.assert_close(torch.as_tensor(norm.std).float(), std)
    run = everything.resolved(RunKey("cutout_cifar", "cifar10+", "wrn28_10", "cutout", 0))
    assert run["method_params"] == {"length": 16, "n_holes": 1} and run["recipe"]["reported"] == "final"


def test_the_cells_quoted_from_cutouts_code_compare_only_with_runs_of_its_recipe(everything):
    """The SaliencyMix CIFAR table's baseline and Cutout cells of ResNet-18 and WideResNet-28-10 are the Cutout
    paper's: they are cells of protocol cutout_cifar, run by the study in that recipe, and a run of the SaliencyMix
    recipe never fills them (while it fills the ResNet-50 cells, the authors' own)."""
    from augrepro.results.compare import compare
    from augrepro.results.margins import check_rules

    published = load_published(ROOT / "resources/published")
    table = published[published["file"] == "saliencymix_cifar.csv"]
    quoted = table[table["protocol"] == "cutout_cifar"]
    assert len(quoted) == 16 and set(quoted["model"]) == {"resnet18", "wrn28_10"}
    assert set(quoted["augmentation"]) == {"baseline", "cutout"} and set(quoted["reported"]) == {"final"}
    study = next(s for s in everything.studies if s.name == "saliencymix_cifar")
    for cell in quoted.itertuples():
        key = cell.dataset + ("+" if cell.traditional else "")
        assert RunKey("cutout_cifar", key, cell.model, cell.augmentation, 0) in study.runs()

    def ours(protocol, model, mean):
        return {
            "protocol": protocol,
            "dataset": "cifar10",
            "traditional": True,
            "model": model,
            "augmentation": "cutout",
            "method": "cutout",
            "variant": None,
            "n": 5,
            "epochs": 200,
            **{f"{c}_mean": mean for c in ("best_top1_error", "final_top1_error", "median_last10_top1_error")},
            **{f"{c}_std": 0.1 for c in ("best_top1_error", "final_top1_error", "median_last10_top1_error")},
        }

    cells = table[(table["dataset"] == "cifar10") & table["traditional"] & (table["augmentation"] == "cutout")]
    summary = pd.DataFrame(
        [ours("saliencymix_cifar", "resnet18", 9.0), ours("cutout_cifar", "resnet18", 4.0)]
        + [ours("saliencymix_cifar", "resnet50", 3.5), ours("cutout_cifar", "resnet50", 7.0)]
    )
    reported = {p: resolve_protocol(everything.protocols, p)["reported"] for p in ("saliencymix_cifar", "cutout_cifar")}
    margin = check_rules({"value": 0.5, "reason": "a test margin"}, "test")
    result = compare(summary, cells, margin, reported=reported).set_index("model")
    assert result.loc["resnet18", "protocol"] == "cutout_cifar" and result.loc["resnet18", "ours_mean"] == 4.0
    assert result.loc["resnet18", "reported"] == "final"
    assert result.loc["resnet50", "protocol"] == "saliencymix_cifar" and result.loc["resnet50", "ours_mean"] == 3.5
    alone = compare(summary[summary["protocol"] == "saliencymix_cifar"], cells, margin, reported=reported)
    assert alone.set_index("model").loc["resnet18", "verdict"] == "missing"


def test_every_published_cell_of_a_study_is_run_or_said_not_runnable(everything):
    """Each study answers its tables: every cell of its published CSVs is in its grid (its protocol, dataset
    key, model and method, or an alias named like the cell) or named in not_runnable; the CSV's epochs agree
    with the protocol's."""
    published = load_published(ROOT / "resources/published")
    for study in everything.studies:
        grid = {(k.protocol, k.dataset_key, k.model, k.augmentation) for k in study.runs()}
        names = {(p, d, m, everything.method_of(a)[0]) for p, d, m, a in grid} | grid
        cells = published[published["file"].isin(study.published)]
        assert set(cells["protocol"]) <= set(study.protocols), study.name
        for cell in cells.itertuples():
            key = (cell.protocol, cell.dataset + ("+" if cell.traditional else ""), cell.model, cell.augmentation)
            covered = key in names or cell.augmentation in study.not_runnable or cell.model in study.not_runnable
            assert covered, f"{study.name}: published cell {key} is neither run nor said not runnable"
            if key in names and not pd.isna(cell.epochs):
                assert resolve_protocol(everything.protocols, cell.protocol, cell.dataset)["epochs"] == cell.epochs
    files = {f for s in everything.studies for f in s.published}
    assert files == set(published["file"])  # every published table is answered by a study


def test_shared_runs_and_resources(everything):
    key = RunKey("saliencymix_cifar", "cifar10+", "resnet18", "baseline", 0)
    owners = {s.name for s in everything.studies_of(key)}
    assert owners == {
        "saliencymix_cifar",
        "saliencymix_time",
        "team000",
        "saliencymix_saliency_ablation",
        "saliencymix_mixing_ablation",
    }
    assert everything.runs.count(key) == 1
    # the largest request of the studies that need it (the ablations ask for 8 threads)
    assert everything.resources(key)["threads"] == 8 and everything.resources(key)["gpus"] == 1
    imagenet = RunKey("saliencymix_imagenet", "imagenet+", "resnet50", "saliencymix", 0)
    assert everything.resources(imagenet)["gpus"] == 4
    run = everything.resolved(imagenet)
    assert run["method_params"]["prob"] == 1.0 and run["recipe"]["architecture"] == "imagenet"


def test_the_owner_index_equals_a_scan_of_every_study(everything):
    """Selection indexes each run's studies and each evaluation job's requests once; the index answers as a scan of
    every chosen study would, for every run any of them may train and every evaluation job."""
    for key in {k for s in everything.studies for k in s.potential_runs()}:
        assert everything.studies_of(key) == [s for s in everything.studies if key in s.potential_runs()]
    assert everything.studies_of(RunKey("saliencymix_cifar", "cifar10+", "resnet18", "baseline", 99)) == []
    for job in everything.evaluation_jobs:
        requests = [
            e.resources
            for s in everything.studies
            for e in s.evaluations
            if (e.kind, e.recipe) == (job.kind, job.recipe) and job.run in s.runs()
        ]
        assert everything.evaluation_resources(job) == {k: max(r[k] for r in requests) for k in requests[0]}


def test_a_study_is_skipped_when_its_data_is_not_available():
    selection = select_from_config({"studies": ["saliencymix_imagenet", "team000"], "data": {}}, ROOT)
    assert [s.name for s in selection.studies] == ["team000"]
    assert "data.imagenet_path" in selection.skipped["saliencymix_imagenet"]
    with pytest.raises(ConfigError, match="no chosen study can run here"):
        select_from_config({"studies": ["saliencymix_imagenet"], "data": {"imagenet_path": "/no/such/folder"}}, ROOT)


def test_all_means_every_study_but_the_demo():
    selection = select_from_config({"studies": "all", "data": {}}, ROOT)
    chosen = {s.name for s in selection.studies} | set(selection.skipped)
    assert chosen == set(STUDIES) - {"demo"}


# --- a run's identity ----------------------------------------------------------------------------------


def test_a_run_key_round_trips_through_wildcards_and_meta():
    key = RunKey("salfmix", "tinyimagenet+", "preactresnet18", "hybridmix_v3_nopool", 3)
    assert RunKey.from_wildcards(key.wildcards()) == key
    assert key.run_dir == "results/runs/salfmix/tinyimagenet+/preactresnet18/hybridmix_v3_nopool/seed3"
    ident = read_identity({"run": identity_record(key, "hybridmix_v3", None)})
    assert ident.key == key and ident.traditional is True and ident.dataset == "tinyimagenet"
    with pytest.raises(ValueError, match="lacks 'protocol'.*older augrepro"):
        read_identity(
            {"run": {"dataset": "cifar10", "model": "resnet18", "augmentation": "cutmix", "seed": 0}}, "x/meta.json"
        )


def test_a_key_from_wildcards_refuses_a_missing_wildcard():
    """A mapping without one of the key's wildcards fails by its name (it made a key holding None before)."""
    wildcards = RunKey("saliencymix", "cifar10+", "resnet18", "cutmix", 0).wildcards()
    del wildcards["protocol"]
    with pytest.raises(KeyError, match="wildcard 'protocol' is missing"):
        RunKey.from_wildcards(wildcards)
    with pytest.raises(KeyError, match="wildcard 'gpus' is missing"):
        PilotKey.from_wildcards({"protocol": "saliencymix", "dataset": "cifar10", "model": "resnet18", "nodes": "1"})


# --- the plan ------------------------------------------------------------------------------------------


def test_the_cost_table_covers_every_study_and_matches_a_recount(everything):
    from augrepro.studies.costs import cost_entries

    costs = load_costs()
    demo = select_from_config({"studies": ["demo"]}, ROOT)
    missing = set(cost_entries(everything)) | set(cost_entries(demo))
    missing -= set(costs)
    assert not missing, f"run `augrepro plan --write-costs`: no cost for {sorted(missing)}"
    for shape in [("resnet18", "cifar", 32, 10), ("resnet8", "cifar", 32, 10), ("regnet200m", "cifar", 32, 100)]:
        assert costs[shape] == pytest.approx(forward_gmacs(*shape)[0], rel=1e-5)
    assert costs[tuple(REFERENCE[k] for k in ("model", "architecture", "image_size", "num_classes"))] > 0


def test_the_detection_cost_table_covers_every_detection_job_and_matches_a_recount(everything):
    """The plan prices a detection job from resources/detection_costs.csv (no torch): every shape of the paper's
    detection jobs is there, with the GMACs that counting on the meta device gives, exactly."""
    from augrepro.studies.costs import detection_entries, detection_gmacs, load_detection_costs

    costs = load_detection_costs()
    needed = detection_entries(everything)
    assert needed and not set(needed) - set(costs), "run `augrepro plan --write-costs`"
    assert costs[needed[0]] == detection_gmacs(*needed[0])


def test_the_plan_counts_runs_done_and_shared_and_calibrates_on_the_published_hours(tmp_path):
    project = tmp_path / "project"
    for item in ("config", "resources"):
        import shutil

        shutil.copytree(ROOT / item, project / item)
    config = {"studies": ["saliencymix_time", "saliencymix_cifar"]}
    done = RunKey("saliencymix_cifar", "cifar10+", "resnet18", "baseline", 0)
    for name in ("metrics.csv", "timing.json", "meta.json"):
        (project / done.path(name)).parent.mkdir(parents=True, exist_ok=True)
        (project / done.path(name)).write_text("x")
    rows = {r.study: r for r in plan_rows(select_from_config(config, project))}
    time, cifar, total = rows["saliencymix_time"], rows["saliencymix_cifar"], rows["all chosen studies (each run once)"]
    assert (time.runs, time.done, time.shared) == (25, 1, 20)  # mixup is the time table's own
    # the CIFAR table: 3 models x 4 methods x 4 datasets x 5 seeds, and the 16 Cutout-code cells' 2 x 2 x 4 x 5
    assert (cifar.runs, cifar.done, cifar.shared) == (240 + 80, 1, 20)
    assert total.runs == 240 + 80 + 5 and total.done == 1
    # the reference run is the published 0.83 h; the time table's five methods follow its ratios
    per_run = time.gpu_hours / 25
    assert 0.83 < per_run < 0.91
    assert total.gpu_hours == pytest.approx(cifar.gpu_hours + 5 * 0.87 / 0.83 * 0.83, rel=1e-3)
    assert total.gpu_hours - total.gpu_hours_left == pytest.approx(0.83, rel=1e-3)  # the baseline run done


def test_plan_command_prints_the_table(capsys):
    from augrepro.cli import main

    assert main(["plan", "--studies", "saliencymix_cifar,team000", "--root", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"saliencymix_cifar\s+320\s+\d+\s+45", out)  # with the 80 runs of the Cutout-code cells
    assert "all chosen studies (each run once)    320" in out
    assert main(["plan", "--studies", "nosuch", "--root", str(ROOT)]) == 2
    assert "unknown study 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "protocol, dataset, length",
    [
        ("saliencymix_cifar", "cifar10", 16),
        ("saliencymix_cifar", "cifar100", 8),  # Cutout README
        ("salfmix", "cifar100", 16),
        ("salfmix", "tinyimagenet", 32),
    ],  # SalfMix §5.1: half the image side
)
def test_cutouts_hole_follows_the_protocol(everything, protocol, dataset, length):
    import numpy as np
    import torch

    from augrepro.augment import Context, build_augmentation
    from augrepro.data import get_spec

    run = everything.resolved(RunKey(protocol, f"{dataset}+", "preactresnet18", "cutout", 0))
    spec = get_spec(dataset)
    cutout = build_augmentation("cutout", run["method_params"], spec)
    size = spec.image_size
    x = torch.ones(64, 3, size, size)
    res = cutout(
        x,
        torch.zeros(64, dtype=torch.long),
        Context(spec.mean, spec.std, torch.Generator().manual_seed(0), np.random.default_rng(0)),
    )
    sides = (res.boxes[:, 2] - res.boxes[:, 0]).tolist()
    assert max(sides) == length  # an unclipped hole has the protocol's side


@pytest.mark.parametrize(
    "protocol, dataset",
    [
        ("saliencymix_cifar", "cifar10"),
        ("salfmix", "cifar10"),
        ("salfmix", "tinyimagenet"),
        ("puzzlemix_1200", "cifar100"),
        ("saliencymix_tinyimagenet", "tinyimagenet"),
    ],
)
def test_each_protocols_pipeline_on_a_batchs_pixels(everything, protocol, dataset):
    """Constant grey images through each protocol's '+' pipeline: pad-and-crop leaves zero borders (the padding),
    random-resized-crop never does (its crops lie inside the image), colour jitter moves the grey level; the
    output side is the protocol's."""
    import torch

    from augrepro.data import get_spec
    from augrepro.data.pipelines import build_pipeline

    spec = get_spec(dataset)
    recipe = resolve_protocol(everything.protocols, protocol, dataset)
    pipeline = build_pipeline(recipe["pipeline"], spec.image_size)
    x = torch.full((64, 3, spec.image_size, spec.image_size), 128, dtype=torch.uint8)
    out = pipeline(x, torch.Generator().manual_seed(0))
    values = out.float() / (255.0 if out.dtype == torch.uint8 else 1.0)
    name = recipe["pipeline"]["name"]
    assert out.shape[-1] == recipe["pipeline"].get("size", spec.image_size)
    if name == "pad_crop_flip":
        padding = recipe["pipeline"]["padding"]
        zero_rows = (values == 0).all(1).all(-1).sum(1)  # per image: rows that are all padding
        assert zero_rows.max() == padding and (zero_rows > 0).any()
    else:
        assert (values > 0.1).all()  # no padding anywhere
        jittered = values.mean((1, 2, 3))
        moved = (jittered - 128 / 255).abs().max()
        assert (moved > 0.02) == (name == "random_resized_crop_flip_jitter")


def test_the_plan_shows_the_seeds_each_study_needs_for_power_and_its_margins(capsys):
    from augrepro.cli import main

    assert main(["plan", "--studies", "saliencymix_cifar,salfmix_table6", "--root", str(ROOT)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "seeds" in header and "power 80%" in header and "adaptive" in header
    # the CIFAR table: five seeds run; most cells need 5 for 80 % power; a few cells never reach it; adaptive seeds
    # are expected to cost less than its five seeds
    row = re.search(r"saliencymix_cifar\s+320(\s+\S+){4}\s+([\d,.]+)\s+([\d,.]+)\s+5\s+5 / \d+ \(\d+ never\)", out)
    assert row and float(row.group(3).replace(",", "")) < float(row.group(2).replace(",", ""))
    # SalfMix Table 6 prints single runs: no number of seeds shows them reproduced within 2 run-to-run stds
    assert re.search(r"salfmix_table6\s+30(\s+\S+){6}\s+5\s+never", out)
    assert "cells decided, simulated with the published numbers as the truth:" in out
    assert "margins: 2 σ = ±" in out
    assert main(["plan", "--studies", "saliencymix_cifar", "--margins", "--root", str(ROOT)]) == 0
    margins = capsys.readouterr().out
    assert "cifar10+ / resnet18 / top1_error (saliencymix_cifar): ±0.292 = 2 σ; seeds for 80 % power: 5" in margins
    assert "reason: a mean within two run-to-run standard deviations" in margins
