"""Pascal VOC through the download machinery: three archives in the real format, served from 127.0.0.1,
fetched and verified one by one, prepared into the annotation index; bad archives refused with nothing
half-prepared."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import copy_project, snakemake, write_config
from test_download import MirrorServer, md5_bytes
from voc_fixture import annotation_xml, voc_archives

from augrepro.data.datasets import get_spec, with_checksum
from augrepro.data.download import ChecksumError, fetch
from augrepro.data.prepare import prepare
from augrepro.data.voc import PARTS, VOC_CLASSES, VocAnnotationError, load_voc_index, parse_annotation


def quiet(*_args) -> None:
    pass


def spec_for(archives: dict[str, bytes]):
    """The voc spec with the md5s of the test's archives (the real ones are pinned to the official files)."""
    spec = get_spec("voc")
    for name, payload in archives.items():
        spec = with_checksum(spec, md5_bytes(payload), name)
    return spec


def fetch_all(spec, mirror, folder):
    return [fetch(spec, folder / a.name, mirror=mirror.url, log=quiet) for a in spec.archives()]


def test_the_voc_spec_names_the_official_archives_and_md5s():
    spec = get_spec("voc")
    assert [(a.name, a.md5) for a in spec.archives()] == [
        ("VOCtrainval_06-Nov-2007.tar", "c52e279531787c972589f7e41ab4ae64"),  # torchvision voc.py "2007"
        ("VOCtest_06-Nov-2007.tar", "b6e924de25625d8de591ea690078ad9f"),  # "2007-test"
        ("VOCtrainval_11-May-2012.tar", "6cd6e144f989b92b3379bac3b3de84fd"),  # "2012"
    ]
    assert spec.archives()[2].url.endswith("/voc2012/VOCtrainval_11-May-2012.tar")
    with pytest.raises(ValueError, match="no archive named 'VOC2007.zip'; its files are VOCtrainval_06-Nov-2007.tar"):
        spec.archive_named("VOC2007.zip")
    # a checksum override replaces one archive's md5 only
    other = with_checksum(spec, "a" * 32, "VOCtest_06-Nov-2007.tar")
    assert [a.md5 for a in other.archives()] == [
        "c52e279531787c972589f7e41ab4ae64",
        "a" * 32,
        "6cd6e144f989b92b3379bac3b3de84fd",
    ]
    with pytest.raises(ValueError, match=r"data.checksums.voc.VOCtest_06-Nov-2007.tar is 'nope'"):
        with_checksum(spec, "nope", "VOCtest_06-Nov-2007.tar")


def test_voc_is_fetched_from_a_mirror_verified_and_prepared_into_the_index(tmp_path):
    archives, content = voc_archives(seed=1)
    spec = spec_for(archives)
    with MirrorServer(archives) as mirror:
        paths = fetch_all(spec, mirror, tmp_path / "downloads")
        assert sorted(r[0] for r in mirror.requests) == sorted(archives)
    index = prepare(spec, paths, tmp_path / "data" / "data.npz", log=quiet)
    back = load_voc_index(tmp_path / "data" / "data.npz")
    assert back.classes == list(VOC_CLASSES)
    # train: VOC 2007 trainval then 2012 trainval; test: VOC 2007 test
    by_split = {"train": [], "test": []}
    for archive, year, _listing, split in PARTS:
        by_split[split] += [(archive, year, i) for i in content[archive]]
    for split in ("train", "test"):
        ids = [str(back.image_ids[i]) for i in getattr(back, split)]
        assert ids == [f"{year}/{i}" for _a, year, i in by_split[split]]
        for k, (archive, _year, image_id) in zip(getattr(back, split), by_split[split]):
            pixels, objects = content[archive][image_id]
            boxes, labels, difficult = back.objects(int(k))
            # 1-based inclusive (x1, y1, x2, y2) -> continuous 0-based (x1 - 1, y1 - 1, x2, y2)
            expected = np.asarray(
                [[o["box"][0] - 1, o["box"][1] - 1, o["box"][2], o["box"][3]] for o in objects], np.float32
            )
            np.testing.assert_array_equal(boxes, expected)
            assert [VOC_CLASSES[c] for c in labels] == [o["name"] for o in objects]
            assert difficult.tolist() == [bool(o["difficult"]) for o in objects]  # kept for the metric
            assert (back.width[k], back.height[k]) == (pixels.shape[1], pixels.shape[0])
            assert back.path(int(k)).endswith(f"/JPEGImages/{image_id}.jpg")
            from PIL import Image

            with Image.open(back.path(int(k))) as img:
                assert img.size == (pixels.shape[1], pixels.shape[0])
    assert back.difficult.any() and (~back.difficult).any()
    assert len(index.labels) == len(back.labels)


def test_a_bad_checksum_is_refused_and_nothing_is_kept(tmp_path):
    archives, _ = voc_archives(seed=2)
    spec = spec_for(archives)
    spec = with_checksum(spec, "0" * 32, "VOCtest_06-Nov-2007.tar")
    with MirrorServer(archives) as mirror:
        with pytest.raises(
            ChecksumError, match=r"VOCtest_06-Nov-2007.tar from .* does not match the expected 0{32}"
        ) as err:
            fetch(spec, tmp_path / "dl" / "VOCtest_06-Nov-2007.tar", mirror=mirror.url, log=quiet)
    assert "data.checksums.voc (a mapping: {VOCtest_06-Nov-2007.tar: <md5>})" in str(err.value)
    assert list((tmp_path / "dl").iterdir()) == []  # neither the archive nor a .part


@pytest.mark.parametrize("damage", ["truncated", "malformed xml", "unknown class", "missing image"])
def test_damaged_archives_are_refused_and_nothing_is_half_prepared(tmp_path, damage):
    override = None
    if damage == "malformed xml":
        override = {"VOCtrainval_11-May-2012.tar": {"2008_000001": b"<annotation><size><width>8</width></size"}}
    elif damage == "unknown class":
        bad = annotation_xml("000002", "VOC2007", 80, 64, [{"name": "unicorn", "box": (1, 1, 9, 9), "difficult": 0}])
        override = {"VOCtrainval_06-Nov-2007.tar": {"000002": bad}}
    archives, _ = voc_archives(seed=3, xml_override=override)
    if damage == "truncated":
        name = "VOCtest_06-Nov-2007.tar"
        archives[name] = archives[name][: len(archives[name]) // 2]
    if damage == "missing image":
        import io
        import tarfile

        name = "VOCtrainval_06-Nov-2007.tar"
        src, out = tarfile.open(fileobj=io.BytesIO(archives[name])), io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as dst:
            for member in src.getmembers():
                if not member.name.endswith("JPEGImages/000003.jpg"):
                    dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        archives[name] = out.getvalue()
    spec = spec_for(archives)  # a mirror that publishes the md5 of its damaged copy: preparation must refuse it
    with MirrorServer(archives) as mirror:
        paths = fetch_all(spec, mirror, tmp_path / "downloads")
    data = tmp_path / "data"
    data.mkdir()
    expected = {
        "truncated": "VOCtest_06-Nov-2007.tar: not a readable tar archive",
        "malformed xml": "VOCtrainval_11-May-2012.tar: VOCtrainval_11-May-2012/VOCdevkit/VOC2012/Annotations/2008_000001.xml: malformed XML",
        "unknown class": "Annotations/000002.xml <object> 1: unknown class 'unicorn'",
        "missing image": "JPEGImages/000003.jpg is missing",
    }[damage]
    with pytest.raises((VocAnnotationError, ValueError), match=expected.replace("(", r"\(").replace(".", r"\.")):
        prepare(spec, paths, data / "data.npz", log=quiet)
    assert list(data.iterdir()) == []  # no index, no images folder, no temporary folder


def test_annotation_fields(tmp_path):
    path = tmp_path / "a.xml"
    path.write_bytes(
        annotation_xml(
            "x",
            "VOC2012",
            500,
            375,
            [
                {"name": "dog", "box": (48, 240, 195, 371)},  # no <difficult>: 0, as faster-rcnn.pytorch reads it
                {"name": "person", "box": (8, 12, 352, 498), "difficult": 1},
            ],
        )
    )
    ann = parse_annotation(path)
    assert (ann["width"], ann["height"]) == (500, 375)
    np.testing.assert_array_equal(ann["boxes"], [[47, 239, 195, 371], [7, 11, 352, 498]])
    assert ann["labels"].tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")]
    assert ann["difficult"].tolist() == [False, True]
    path.write_bytes(annotation_xml("x", "VOC2012", 500, 375, [{"name": "dog", "box": (50, 20, 40, 30)}]))
    with pytest.raises(VocAnnotationError, match="max below its min"):
        parse_annotation(path)


@pytest.mark.slow
def test_workflow_downloads_the_three_archives_and_prepares_voc(tmp_path):
    archives, _ = voc_archives(seed=4)
    project = copy_project(tmp_path / "project")
    with MirrorServer(archives) as mirror:
        config = write_config(
            tmp_path / "voc.yaml",
            {
                "data": {
                    "mirror": mirror.url,
                    "checksums": {"voc": {name: md5_bytes(payload) for name, payload in archives.items()}},
                }
            },
        )
        run = snakemake(project, "results/data/voc/data.npz", "--cores", "1", "--configfile", str(config))
        assert run.returncode == 0, run.stderr[-3000:]
        assert sorted(r[0] for r in mirror.requests) == sorted(archives)
    index = load_voc_index(project / "results/data/voc/data.npz")
    assert len(index.train) == 3 + 2 and len(index.test) == 3
    assert index.root == str((project / "results/data/voc/images").resolve())
    log = (project / "results/logs/prepare/voc.log").read_text()
    assert "prepared 5 training and 3 test images" in log
