"""BlazePose person-detector output decoding, as MediaPipe's pose_detection graph does it.

The SSD head gives, per anchor (2254 over a 224x224 input), 12 numbers: a box
``[dx, dy, w, h]`` and 4 keypoints ``[kx, ky]`` (hip centre, full-body scale point, shoulder
centre, upper-body scale point), all in input pixels relative to the anchor centre, plus one
score logit. Steps (MediaPipe's calculators in brackets):

1. anchors (``SsdAnchorsCalculator``: 5 layers, strides 8/16/32/32/32, fixed size);
2. boxes and keypoints (``TensorsToDetectionsCalculator``, reverse output order, scale 224),
   scores = sigmoid(clip(logit, +-100)), kept at >= 0.5;
3. weighted NMS (``NonMaxSuppressionCalculator`` WEIGHTED, IoU 0.3): each kept detection is the
   score-weighted mean of the detections it absorbs;
4. the landmark ROI (``AlignmentPointsRectsCalculator`` + ``RectTransformationCalculator``):
   centre = hip centre, side = 2 x |scale point - hip centre| x 1.25, rotation so that
   hip -> shoulder... points up (90 degrees target).

All coordinates here are normalised to the input square ([0, 1]), as MediaPipe's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..track import iou_matrix

INPUT_SIZE = 224
NUM_ANCHORS = 2254
NUM_KEYPOINTS = 4
#: keypoint indices
HIP_CENTRE, FULL_BODY_SCALE, SHOULDER_CENTRE, UPPER_BODY_SCALE = range(NUM_KEYPOINTS)
# --- SsdAnchorsCalculatorOptions of pose_detection_cpu.pbtxt
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHOR_MIN_SCALE = 0.1484375
ANCHOR_MAX_SCALE = 0.75
# --- TensorsToDetectionsCalculatorOptions / NonMaxSuppressionCalculatorOptions
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3
# --- pose_detection_to_roi.pbtxt
ROI_TARGET_ANGLE = np.pi / 2
ROI_SCALE = 1.25


@dataclass(frozen=True)
class RawDetections:
    """Detections of one image, normalised to its input square.

    boxes (K, 4) [xmin, ymin, xmax, ymax] (the face-and-shoulders box the SSD regresses);
    keypoints (K, 4, 2) [x, y]; scores (K,).
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> RawDetections:
        return RawDetections(np.zeros((0, 4)), np.zeros((0, NUM_KEYPOINTS, 2)), np.zeros(0))

    def select(self, index: np.ndarray) -> RawDetections:
        return RawDetections(self.boxes[index], self.keypoints[index], self.scores[index])


def anchor_groups() -> list[int]:
    """Anchors per feature map, in output order: [1568, 392, 294] (strides 8, 16, 32)."""
    groups = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride, per_cell = ANCHOR_STRIDES[layer], 0
        while layer < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer] == stride:
            per_cell += 2
            layer += 1
        groups.append(int(np.ceil(INPUT_SIZE / stride)) ** 2 * per_cell)
    return groups


def unfold_batch(tensor: np.ndarray, n: int) -> np.ndarray:
    """The network's (1, n * 2254, C) output for a batch of n -> (n, 2254, C).

    The network reshapes each feature map's head to (1, n * anchors, C) before concatenating
    the maps, so the rows are [map 1 of every image, map 2 of every image, ...].
    """
    flat = np.asarray(tensor).reshape(n * NUM_ANCHORS, -1)
    parts, offset = [], 0
    for count in anchor_groups():
        parts.append(flat[offset:offset + n * count].reshape(n, count, -1))
        offset += n * count
    return np.concatenate(parts, axis=1)


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """(2254, 2) anchor centres [x, y] in [0, 1], in the model's output order.

    Layers of equal stride share one feature map; every layer adds two anchors per cell
    (aspect 1 and the interpolated scale), so per cell: 2 (stride 8), 2 (16), 6 (32).
    """
    centres = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride = ANCHOR_STRIDES[layer]
        per_cell = 0
        while layer < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer] == stride:
            per_cell += 2
            layer += 1
        cells = int(np.ceil(INPUT_SIZE / stride))
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    out = np.concatenate(centres)
    assert len(out) == NUM_ANCHORS
    return out


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, min_score: float = MIN_SCORE
           ) -> RawDetections:
    """One image's network outputs (2254, 12) and (2254,) or (2254, 1) -> detections above
    ``min_score`` (before NMS), normalised to the input square."""
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = np.flatnonzero(scores >= min_score)
    if len(keep) == 0:
        return RawDetections.empty()
    raw = np.asarray(raw_boxes, np.float64).reshape(-1, 12)[keep] / INPUT_SIZE
    centre = anchors()[keep]
    xy = raw[:, :2] + centre
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    kps = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + centre[:, None, :]
    return RawDetections(boxes, kps, scores[keep])


def weighted_nms(dets: RawDetections, iou_threshold: float = NMS_IOU) -> RawDetections:
    """MediaPipe's WEIGHTED non-max suppression: visiting by decreasing score, each detection
    absorbs the remaining ones with IoU > ``iou_threshold`` (itself included); its box and
    keypoints become their score-weighted mean, its score stays its own."""
    if len(dets) == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    boxes, kps, scores = dets.boxes[order], dets.keypoints[order], dets.scores[order]
    out_b, out_k, out_s = [], [], []
    while len(scores):
        near = iou_matrix(boxes[:1], boxes)[0] > iou_threshold  # MediaPipe's OverlapSimilarity
        near[0] = True
        w = scores[near]
        out_b.append((w[:, None] * boxes[near]).sum(0) / w.sum())
        out_k.append((w[:, None, None] * kps[near]).sum(0) / w.sum())
        out_s.append(scores[0])
        boxes, kps, scores = boxes[~near], kps[~near], scores[~near]
    return RawDetections(np.array(out_b), np.array(out_k), np.array(out_s))


def normalize_radians(angle: np.ndarray) -> np.ndarray:
    """Angle in [-pi, pi) (MediaPipe's NormalizeRadians)."""
    return angle - 2 * np.pi * np.floor((angle + np.pi) / (2 * np.pi))


def rois_from_keypoints(keypoints: np.ndarray, centre: int = HIP_CENTRE,
                        scale: int = FULL_BODY_SCALE) -> np.ndarray:
    """(K, >=2, 2) keypoints in PIXELS -> (K, 5) rotated square ROIs [cx, cy, side, side_unscaled,
    rotation] in pixels / radians: MediaPipe's full-body landmark ROI (side = 2.5 x the
    centre-to-scale-point distance, rotated so the body axis points up).

    ``side_unscaled`` = 2 x that distance, the body's circle before the 1.25 margin.
    """
    kp = np.asarray(keypoints, np.float64)
    c, s = kp[:, centre], kp[:, scale]
    d = s - c
    size = 2.0 * np.hypot(d[:, 0], d[:, 1])
    rotation = normalize_radians(ROI_TARGET_ANGLE - np.arctan2(-d[:, 1], d[:, 0]))
    return np.column_stack([c[:, 0], c[:, 1], size * ROI_SCALE, size, rotation])


def roi_to_square_box(rois: np.ndarray) -> np.ndarray:
    """(K, 5) ROIs -> (K, 4) axis-aligned square boxes [x1, y1, x2, y2] for the tracker:
    centred on the hip centre, side = the body circle's diameter (no margin, any rotation)."""
    cx, cy, half = rois[:, 0], rois[:, 1], rois[:, 3] / 2
    return np.column_stack([cx - half, cy - half, cx + half, cy + half])
