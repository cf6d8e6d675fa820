"""Pascal VOC average precision: VOC07 11-point and all-point AP, at one or several IoU thresholds.

The definition is the VOC devkit's (VOCevaldet.m), as the Python ports that the detection papers used
implement it: faster-rcnn.pytorch ``lib/datasets/voc_eval.py`` (the code of the CutMix paper's detection
experiments, App. C) and Detectron2 ``evaluation/pascal_voc_evaluation.py`` (SalfMix section 5.1):

* per class, all detections of the test set sorted by decreasing score;
* a detection is matched to the ground-truth box of its image and class with the largest IoU; if that IoU is
  above the threshold (strictly), the detection is a true positive when the box is not yet matched, a false
  positive when it is (a duplicate), and ignored (neither) when the box is *difficult*; else it is a false
  positive. Difficult boxes do not count in the number of positives;
* recall = TP / positives, precision = TP / (TP + FP) along the sorted list;
* VOC07 11-point AP (``use_07_metric``; the devkit of 2007, used for the VOC 2007 test set by both codes):
  the mean over t = 0, 0.1, ..., 1 of the largest precision at recall >= t (0 where no recall reaches t);
  all-point AP (the devkit from 2010 on): the area under the precision envelope, summed where recall changes;
* mAP: the mean AP over the classes that have positives. Detectron2 reports "AP" = the mean of mAP over IoU
  0.50, 0.55, ..., 0.95, "AP50" and "AP75" (its VOC evaluator, with the 11-point AP on VOC 2007: what SalfMix
  Table 8 prints as mAP, mAP50 and mAP75).

Coordinates: boxes are continuous 0-based ``(x0, y0, x1, y1)`` (the annotation index's convention,
``augrepro.data.voc``; torchvision's detector outputs). The devkit works on 1-based inclusive pixel boxes and
adds 1 to every width and height; a box ``(x0, y0, x1, y1)`` here is the pixel box ``(x0 + 1, y0 + 1, x1,
y1)`` there, whose devkit width ``x1 - (x0 + 1) + 1 = x1 - x0`` is the continuous one, so plain continuous IoU
here equals the devkit's IoU.

Ties in score are ordered stably (the order given); the devkit's quicksort leaves their order unspecified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COCO_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # Detectron2: range(50, 100, 5) / 100


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    """AP from a class's recall and precision along its sorted detections (VOC07 11-point or all-point)."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):  # the devkit's thresholds, these exact floats
            reached = recall >= t
            ap += (float(np.max(precision[reached])) if reached.any() else 0.0) / 11.0
        return ap
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the precision envelope
    changes = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N x 4) with every box of ``b`` (M x 4), continuous coordinates."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@dataclass
class VocResult:
    """AP per IoU threshold and class (NaN for a class without positives), and the summaries."""

    thresholds: tuple[float, ...]
    ap: np.ndarray  # thresholds x classes, in [0, 1]
    positives: np.ndarray  # non-difficult ground-truth boxes per class
    use_07_metric: bool

    def map_at(self, threshold: float) -> float:
        """mAP (in [0, 1]) at one IoU threshold: the mean over the classes with positives."""
        i = [round(t, 6) for t in self.thresholds].index(round(threshold, 6))
        row = self.ap[i][self.positives > 0]
        return float(np.mean(row)) if len(row) else float("nan")

    def map_mean(self) -> float:
        """The mean of mAP over every threshold (Detectron2's "AP" over 0.50:0.05:0.95)."""
        return float(np.mean([self.map_at(t) for t in self.thresholds]))

    def summary(self) -> dict[str, float]:
        """Percent, as the papers print them: map50, map75 where computed, map (over the thresholds given)."""
        out = {}
        for name, t in (("map50", 0.5), ("map75", 0.75)):
            if any(abs(t - x) < 1e-9 for x in self.thresholds):
                out[name] = 100.0 * self.map_at(t)
        out["map"] = 100.0 * self.map_mean()
        return out


def evaluate_voc(
    detections: list[dict],
    ground_truth: list[dict],
    num_classes: int,
    thresholds=(0.5,),
    use_07_metric: bool = True,
) -> VocResult:
    """AP of ``detections`` against ``ground_truth``, both one dict per image, in the same order.

    A detection dict holds ``boxes`` (K x 4), ``scores`` (K) and ``labels`` (K, 0-based class); a
    ground-truth dict ``boxes``, ``labels`` and ``difficult`` (bool).
    """
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} detection entries for {len(ground_truth)} images")
    thresholds = tuple(float(t) for t in thresholds)
    ap = np.full((len(thresholds), num_classes), np.nan)
    positives = np.zeros(num_classes, dtype=np.int64)
    # Per class: every detection's image-level best IoU and best ground-truth box (a global id). The best box is
    # the same at every threshold, so matching is computed once and only compared with each threshold.
    per_class: list[list[tuple]] = [[] for _ in range(num_classes)]
    gt_offset = 0
    gt_difficult_all = []
    for det, gt in zip(detections, ground_truth):
        gt_boxes = np.asarray(gt["boxes"], dtype=np.float64).reshape(-1, 4)
        gt_labels = np.asarray(gt["labels"], dtype=np.int64).reshape(-1)
        gt_diff = np.asarray(gt.get("difficult", np.zeros(len(gt_labels), bool)), dtype=bool).reshape(-1)
        det_boxes = np.asarray(det["boxes"], dtype=np.float64).reshape(-1, 4)
        det_scores = np.asarray(det["scores"], dtype=np.float64).reshape(-1)
        det_labels = np.asarray(det["labels"], dtype=np.int64).reshape(-1)
        for cls in np.unique(np.concatenate([gt_labels, det_labels])):
            cls = int(cls)
            if not 0 <= cls < num_classes:
                raise ValueError(f"class {cls} outside 0..{num_classes - 1}")
            gmask = gt_labels == cls
            positives[cls] += int(np.sum(~gt_diff[gmask]))
            dmask = det_labels == cls
            if not dmask.any():
                continue
            gidx = np.nonzero(gmask)[0]
            if len(gidx):
                ious = iou_matrix(det_boxes[dmask], gt_boxes[gidx])
                best = np.argmax(ious, axis=1)  # first maximum, as np.argmax in the devkit ports
                ovmax = ious[np.arange(len(best)), best]
                gt_id = gt_offset + gidx[best]
            else:
                ovmax = np.full(int(dmask.sum()), -np.inf)
                gt_id = np.full(int(dmask.sum()), -1)
            per_class[cls].append((det_scores[dmask], ovmax, gt_id))
        gt_offset += len(gt_labels)
        gt_difficult_all.append(gt_diff)
    difficult = np.concatenate(gt_difficult_all) if gt_difficult_all else np.zeros(0, bool)
    for cls in range(num_classes):
        if positives[cls] == 0:
            continue
        if not per_class[cls]:
            ap[:, cls] = 0.0
            continue
        scores = np.concatenate([entry[0] for entry in per_class[cls]])
        ovmax = np.concatenate([entry[1] for entry in per_class[cls]])
        gt_id = np.concatenate([entry[2] for entry in per_class[cls]])
        order = np.argsort(-scores, kind="stable")
        ovmax, gt_id = ovmax[order], gt_id[order]
        hits_difficult = np.where(gt_id >= 0, difficult[np.maximum(gt_id, 0)], False)
        for row, threshold in enumerate(thresholds):
            above = ovmax > threshold
            ignored = above & hits_difficult
            candidate = above & ~hits_difficult
            tp = np.zeros(len(order), dtype=bool)
            positions = np.nonzero(candidate)[0]
            if len(positions):  # the first (highest-scoring) detection of each box is its true positive
                _, first = np.unique(gt_id[positions], return_index=True)
                tp[positions[first]] = True
            fp = ~tp & ~ignored
            keep = ~ignored
            ctp, cfp = np.cumsum(tp[keep]), np.cumsum(fp[keep])
            recall = ctp / float(positives[cls])
            precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
            ap[row, cls] = voc_ap(recall, precision, use_07_metric)
    return VocResult(thresholds, ap, positives, use_07_metric)
