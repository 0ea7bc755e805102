"""Tracking metrics computed in the tests: ID switches and IDF1 against ground-truth boxes, and
ground-truth-derived detections with noise, dropouts and false positives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from inference_server.track import Track, iou_matrix, xyxy_to_square_cxcywh

MATCH_IOU = 0.5


@dataclass(frozen=True)
class IdMetrics:
    """idf1: 2 IDTP / (GT boxes + predicted boxes) with the best global id mapping;
    id_switches: frames where a GT person's matched track id differs from its previous one;
    recall: fraction of GT boxes matched by some track box (IoU >= MATCH_IOU)."""

    idf1: float
    id_switches: int
    recall: float
    mapping: dict[int, int]  # GT id -> track id


def square_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) [x1, y1, x2, y2] -> the demo's square box, as [x1, y1, x2, y2]."""
    return cxcywh_to_xyxy(xyxy_to_square_cxcywh(boxes))


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.column_stack(
        [b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2]
    )


def id_metrics(gt: dict[int, np.ndarray], tracks: Sequence[Track]) -> IdMetrics:
    """gt: person id -> (F, 4) [x1, y1, x2, y2] with NaN rows where absent. Track boxes are
    squares, so GT boxes are squared the same way before IoU."""
    num_frames = len(next(iter(gt.values())))
    gt_ids = sorted(gt)
    gt_sq = {g: square_xyxy(np.nan_to_num(gt[g])) for g in gt_ids}
    present = {g: ~np.isnan(gt[g][:, 0]) for g in gt_ids}
    pred: dict[int, dict[int, np.ndarray]] = {f: {} for f in range(num_frames)}
    for t in tracks:
        for f, box in zip(t.frame_ids, cxcywh_to_xyxy(t.bboxes)):
            pred[int(f)][t.track_id] = box
    co = np.zeros((len(gt_ids), len(tracks)))
    col = {t.track_id: j for j, t in enumerate(tracks)}
    last: dict[int, int] = {}
    switches = matched = 0
    for f in range(num_frames):
        g_here = [g for g in gt_ids if present[g][f]]
        p_here = sorted(pred[f])
        if not g_here or not p_here:
            continue
        iou = iou_matrix(
            np.array([gt_sq[g][f] for g in g_here]), np.array([pred[f][p] for p in p_here])
        )
        for i, g in enumerate(g_here):  # global IDF1 counts every co-occurrence
            for j, p in enumerate(p_here):
                if iou[i, j] >= MATCH_IOU:
                    co[gt_ids.index(g), col[p]] += 1
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] < MATCH_IOU:
                continue
            g, p = g_here[r], p_here[c]
            matched += 1
            if g in last and last[g] != p:
                switches += 1
            last[g] = p
    n_gt = int(sum(present[g].sum() for g in gt_ids))
    n_pred = int(sum(len(t) for t in tracks))
    mapping: dict[int, int] = {}
    idtp = 0.0
    if co.size:
        rows, cols = linear_sum_assignment(-co)
        idtp = float(co[rows, cols].sum())
        mapping = {gt_ids[r]: tracks[c].track_id for r, c in zip(rows, cols) if co[r, c] > 0}
    idf1 = 2 * idtp / max(n_gt + n_pred, 1)
    return IdMetrics(idf1, switches, matched / max(n_gt, 1), mapping)


def noisy_detections(
    gt: dict[int, np.ndarray],
    visible: dict[int, np.ndarray],
    *,
    seed: int = 0,
    noise: float = 0.02,
    drop: float = 0.05,
    min_visible: float = 0.5,
    false_positive_rate: float = 0.0,
    frame_size: tuple[int, int] = (640, 480),
) -> list[np.ndarray]:
    """Per frame (K, 5) detections from GT: each person seen when at least ``min_visible`` of
    them is visible, minus random dropouts, with box noise (fraction of the box height) and
    single-frame false positives at random places."""
    rng = np.random.default_rng(seed)
    num_frames = len(next(iter(gt.values())))
    out = []
    for f in range(num_frames):
        rows = []
        for g, boxes in gt.items():
            if np.isnan(boxes[f, 0]) or visible[g][f] < min_visible or rng.random() < drop:
                continue
            h = boxes[f, 3] - boxes[f, 1]
            rows.append([*(boxes[f] + rng.normal(0, noise * h, 4)), rng.uniform(0.75, 1.0)])
        if rng.random() < false_positive_rate:
            w, h = frame_size
            x, y, s = rng.uniform(0, w - 60), rng.uniform(0, h - 120), rng.uniform(40, 120)
            rows.append([x, y, x + s / 2, y + s, rng.uniform(0.71, 0.8)])
        out.append(np.asarray(rows, np.float64).reshape(-1, 5))
    return out
