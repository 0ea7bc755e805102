"""BlazePose and HOG together (what ``--detector auto`` runs without the YOLOv3 files).

BlazePose finds people in any pose but keys on faces, so a person walking away can be missed;
OpenCV's HOG finds upright pedestrians from any side but draws boxes up to twice the person's
size, or one box around two people walking together. The union keeps every BlazePose person and
adds the HOG boxes that stand on nobody BlazePose found:

- a HOG box covering most of a BlazePose person's body (intersection over the smaller area >=
  ``UNION_OVERLAP``) is the same person, or a loose box around them and someone else: it is
  dropped, the tighter BlazePose box stays;
- scores stay on one scale: both detectors give a probability-like score in 0..1 (BlazePose a
  sigmoid, HOG sigmoid(2 x SVM margin), see detect.py); a person both see gets
  1 - (1 - s_blazepose)(1 - s_hog) (two independent detectors agreeing), one seen by one of them
  keeps that detector's score.

The body rectangle used for the overlap is the BlazePose body circle's diameter along the body
axis by ``BODY_WIDTH`` x it across (the tracker's square box is much wider than a body, so two
people side by side would overlap in it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .detector import BlazePoseDetector, PoseDetections

UNION_OVERLAP = 0.6
BODY_WIDTH = 0.6


def body_rects(people: PoseDetections) -> np.ndarray:
    """(K, 4) axis-aligned bounds of each person's body rectangle (diameter x BODY_WIDTH x
    diameter, turned with the ROI)."""
    rois = people.rois
    d, rot = rois[:, 3], rois[:, 4]
    c, s = np.abs(np.cos(rot)), np.abs(np.sin(rot))
    half_w = (c * BODY_WIDTH * d + s * d) / 2  # rotation 0: upright body, narrow in x
    half_h = (s * BODY_WIDTH * d + c * d) / 2
    return np.column_stack([rois[:, 0] - half_w, rois[:, 1] - half_h,
                            rois[:, 0] + half_w, rois[:, 1] + half_h])


def overlap_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over the smaller area of [x1, y1, x2, y2] boxes."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    ix, iy = np.clip(hi - lo, 0, None).transpose(2, 0, 1)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return ix * iy / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)


def union_merge(people: PoseDetections, hog: np.ndarray) -> np.ndarray:
    """BlazePose people + HOG (M, 5) boxes of one frame -> (K, 5) [x1, y1, x2, y2, score]."""
    ours = people.as_array().astype(np.float64)
    hog = np.asarray(hog, np.float64).reshape(-1, 5)
    if len(ours) == 0 or len(hog) == 0:
        return np.concatenate([ours, hog]).astype(np.float32).reshape(-1, 5)
    same = overlap_smaller(hog[:, :4], body_rects(people)) >= UNION_OVERLAP  # (M, K)
    for k in range(len(ours)):
        if same[:, k].any():
            s_hog = hog[same[:, k], 4].max()
            ours[k, 4] = 1.0 - (1.0 - ours[k, 4]) * (1.0 - s_hog)
    extra = hog[~same.any(axis=1)]
    return np.concatenate([ours, extra]).astype(np.float32).reshape(-1, 5)


class UnionDetector:
    """BlazePose (whole frame + tiles) and OpenCV's HOG, merged by :func:`union_merge`."""

    name = "blazepose+hog"

    def __init__(self, blazepose: BlazePoseDetector, hog) -> None:
        self.blazepose = blazepose
        self.hog = hog

    def detect(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        people = self.blazepose.detect_people(frames)
        hog = self.hog.detect(frames)
        return [union_merge(p, h) for p, h in zip(people, hog)]
