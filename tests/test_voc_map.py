"""VOC average precision: hand-computed cases, and agreement with pycocotools on random boxes (the same
interpolation: COCOeval with the VOC07 recall points, or with one recall point per positive for all-point)."""

from __future__ import annotations

import numpy as np
import pytest

from augrepro.evaluate.voc_map import COCO_THRESHOLDS, evaluate_voc, iou_matrix, voc_ap


def image(boxes=(), labels=(), difficult=None):
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return {
        "boxes": boxes,
        "labels": np.asarray(labels, dtype=int),
        "difficult": np.zeros(len(boxes), bool) if difficult is None else np.asarray(difficult, bool),
    }


def dets(boxes=(), scores=(), labels=()):
    return {
        "boxes": np.asarray(boxes, dtype=float).reshape(-1, 4),
        "scores": np.asarray(scores, float),
        "labels": np.asarray(labels, int),
    }


A, B, C = (0, 0, 10, 10), (20, 20, 40, 40), (50, 0, 60, 30)


def ap50(d, g, classes=1, use_07=True):
    return evaluate_voc(d, g, classes, (0.5,), use_07).ap[0]


def test_perfect_detections_give_ap_one_for_both_interpolations():
    g = [image([A, B], [0, 0]), image([C], [0])]
    d = [dets([A, B], [0.9, 0.8], [0, 0]), dets([C], [0.7], [0])]
    assert ap50(d, g)[0] == pytest.approx(1.0) and ap50(d, g, use_07=False)[0] == pytest.approx(1.0)


def test_a_missed_box_caps_recall():
    # 2 of 3 boxes found, both ranked first: precision 1 up to recall 2/3, nothing after.
    g = [image([A, B, C], [0, 0, 0])]
    d = [dets([A, B], [0.9, 0.8], [0, 0])]
    assert ap50(d, g, use_07=False)[0] == pytest.approx(2 / 3)
    assert ap50(d, g)[0] == pytest.approx(7 / 11)  # t = 0, 0.1, ..., 0.6 reach recall 2/3


def test_a_duplicate_is_a_false_positive():
    # A found twice (0.9, 0.8), then B (0.7): TP FP TP -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
    g = [image([A, B], [0, 0])]
    d = [dets([A, (0, 0, 10, 9), B], [0.9, 0.8, 0.7], [0, 0, 0])]
    assert ap50(d, g, use_07=False)[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert ap50(d, g)[0] == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)


def test_difficult_boxes_are_ignored_not_counted():
    # B is difficult: finding it is no TP and no FP; not finding it costs no recall.
    g = [image([A, B], [0, 0], [False, True])]
    found = [dets([B, A], [0.9, 0.8], [0, 0])]  # the difficult hit ranks first and is ignored
    assert ap50(found, g, use_07=False)[0] == pytest.approx(1.0)
    missed = [dets([A], [0.8], [0])]
    assert ap50(missed, g, use_07=False)[0] == pytest.approx(1.0)
    res = evaluate_voc(found, g, 1)
    assert res.positives.tolist() == [1]


def test_iou_threshold_is_strict_and_classes_do_not_mix():
    # IoU exactly 0.5 is no match (the devkit: ovmax > 0.5); a box of another class is a false positive.
    half = (0, 0, 10, 5)  # IoU with A = 50 / 100
    assert iou_matrix([half], [A])[0, 0] == pytest.approx(0.5)
    g = [image([A], [0])]
    assert ap50([dets([half], [0.9], [0])], g)[0] == 0.0
    two = evaluate_voc([dets([A, A], [0.9, 0.8], [1, 0])], [image([A], [0])], 2)
    assert two.ap[0, 0] == pytest.approx(1.0) and np.isnan(two.ap[0, 1])  # class 1 has no positives
    assert two.map_at(0.5) == pytest.approx(1.0)


def test_voc_ap_matches_the_devkit_formulas_on_a_known_curve():
    rec = np.array([0.1, 0.2, 0.2, 0.5, 0.65])
    prec = np.array([1.0, 1.0, 0.6, 0.8, 0.5])
    # 11-point: t = 0..0.2 -> 1.0 (3 points); t = 0.3..0.5 -> 0.8 (3); t = 0.6 -> 0.5; t = 0.7..1 -> 0
    assert voc_ap(rec, prec, True) == pytest.approx((3 * 1.0 + 3 * 0.8 + 0.5) / 11)
    # all-point: 0.2 x 1 + 0.3 x 0.8 + 0.15 x 0.5
    assert voc_ap(rec, prec, False) == pytest.approx(0.2 + 0.24 + 0.075)
    # the devkit's thresholds are np.arange(0, 1.1, 0.1): its "0.6" is 0.6000000000000001, which a recall of
    # exactly 0.6 does not reach (kept, as in the faster-rcnn.pytorch and Detectron2 ports)
    assert voc_ap(np.array([0.6]), np.array([1.0]), True) == pytest.approx(6 / 11)


# --- against pycocotools ------------------------------------------------------------------------------


def random_set(seed: int, images: int = 40, classes: int = 4, per_class_each: int | None = None):
    """Disjoint ground-truth boxes on a grid (so that no detection overlaps two boxes by more than half,
    where VOC's and COCO's matching rules coincide), detections jittered from them plus random ones,
    continuous distinct scores."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for _ in range(images):
        n = int(rng.integers(1, 6))
        cells = rng.choice(16, n, replace=False)
        boxes, labels = [], []
        for cell in cells:
            cx, cy = (cell % 4) * 100.0, (cell // 4) * 100.0
            x0, y0 = cx + rng.uniform(0, 20), cy + rng.uniform(0, 20)
            boxes.append((x0, y0, x0 + rng.uniform(30, 75), y0 + rng.uniform(30, 75)))
            labels.append(int(rng.integers(0, classes)))
        if per_class_each is not None:
            labels = [i % classes for i in range(n)]
        gts.append(image(boxes, labels))
        db, ds, dl = [], [], []
        for box, label in zip(boxes, labels):
            for _ in range(int(rng.integers(0, 3))):  # 0, 1 or 2 (a duplicate) detections of the box
                jitter = rng.normal(0, 6, 4)
                db.append(tuple(np.asarray(box) + jitter))
                ds.append(rng.uniform())
                dl.append(label if rng.uniform() < 0.85 else int(rng.integers(0, classes)))
        for _ in range(int(rng.integers(0, 4))):  # background detections
            x0, y0 = rng.uniform(0, 350, 2)
            db.append((x0, y0, x0 + rng.uniform(5, 60), y0 + rng.uniform(5, 60)))
            ds.append(rng.uniform())
            dl.append(int(rng.integers(0, classes)))
        dts.append(dets(db, ds, dl))
    return dts, gts


def coco_ap(dts, gts, classes, thresholds, rec_thresholds):
    """pycocotools' per-class AP (IoU thresholds x classes) with the given recall points."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns = [], []
    for i, g in enumerate(gts):
        images.append({"id": i + 1, "width": 1000, "height": 1000})
        for box, label in zip(g["boxes"], g["labels"]):
            x0, y0, x1, y1 = map(float, box)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(label) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c + 1} for c in range(classes)]}
    gt.createIndex()
    results = [
        {"image_id": i + 1, "category_id": int(label) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(s)}
        for i, d in enumerate(dts)
        for (x0, y0, x1, y1), s, label in zip(d["boxes"].tolist(), d["scores"], d["labels"])
    ]
    ev = COCOeval(gt, gt.loadRes(results), "bbox")
    ev.params.iouThrs = np.asarray(thresholds, dtype=float)
    ev.params.recThrs = np.asarray(rec_thresholds, dtype=float)
    ev.params.areaRng, ev.params.areaRngLbl = [[0.0, 1e10]], ["all"]
    ev.params.maxDets = [1000]
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, 0]  # T x R x K
    return precision.mean(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_voc07_11_point_equals_pycocotools_with_the_voc07_recall_points(seed):
    dts, gts = random_set(seed)
    ours = evaluate_voc(dts, gts, 4, COCO_THRESHOLDS, use_07_metric=True)
    theirs = coco_ap(dts, gts, 4, COCO_THRESHOLDS, np.arange(0.0, 1.1, 0.1))
    np.testing.assert_allclose(ours.ap, theirs, rtol=0, atol=1e-12)
    assert 0.05 < ours.map_at(0.5) < 0.95 and ours.map_at(0.5) > ours.map_at(0.75)  # not a trivial case
    assert ours.summary()["map"] == pytest.approx(100 * theirs.mean(axis=1).mean(), abs=1e-10)


@pytest.mark.parametrize("seed", [3, 4])
def test_all_point_equals_pycocotools_with_one_recall_point_per_positive(seed):
    # every class has the same number of positives, so one set of recall points k / positives serves all
    dts, gts = random_set(seed, images=30, classes=3)
    ours = evaluate_voc(dts, gts, 3, (0.5, 0.75), use_07_metric=False)
    n = ours.positives
    if len(set(n.tolist())) != 1:  # rebalance: keep the first k boxes of each class
        k = int(n.min())
        seen = {c: 0 for c in range(3)}
        for g in gts:
            keep = []
            for label in g["labels"]:
                keep.append(seen[int(label)] < k)
                seen[int(label)] += 1
            keep = np.asarray(keep, bool)
            g["boxes"], g["labels"], g["difficult"] = g["boxes"][keep], g["labels"][keep], g["difficult"][keep]
        ours = evaluate_voc(dts, gts, 3, (0.5, 0.75), use_07_metric=False)
    npos = int(ours.positives[0])
    assert set(ours.positives.tolist()) == {npos}
    points = np.arange(1, npos + 1) / npos - 1e-9
    theirs = coco_ap(dts, gts, 3, (0.5, 0.75), points)
    np.testing.assert_allclose(ours.ap, theirs, rtol=0, atol=1e-12)
