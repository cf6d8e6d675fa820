"""Evaluations of a finished run's checkpoint: FGSM robustness (``fgsm``), transfer to object detection with
Faster R-CNN on Pascal VOC (``detection``) and VOC's average precision (``voc_map``)."""
