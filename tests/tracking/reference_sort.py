"""A reference of the official demo's tracking, written from the specification
(shared/design/glot-reference.md section 3 and SORT's published algorithm) in the shape of the
original code: filterpy-style Kalman filter, SORT(max_age=1, min_hits=3, iou 0.3), the
multi-person-tracker loop that skips frames without detections, square boxes, 25-frame filter.
Used only to check ``TrackerConfig.demo()`` against it."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _iou(bb_test: np.ndarray, bb_gt: np.ndarray) -> float:
    xx1, yy1 = max(bb_test[0], bb_gt[0]), max(bb_test[1], bb_gt[1])
    xx2, yy2 = min(bb_test[2], bb_gt[2]), min(bb_test[3], bb_gt[3])
    wh = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
    return wh / (
        (bb_test[2] - bb_test[0]) * (bb_test[3] - bb_test[1])
        + (bb_gt[2] - bb_gt[0]) * (bb_gt[3] - bb_gt[1])
        - wh
    )


def _to_z(b: np.ndarray) -> np.ndarray:
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2.0, b[1] + h / 2.0, w * h, w / float(h)]).reshape(4, 1)


def _to_bbox(x: np.ndarray) -> np.ndarray:
    w = np.sqrt(x[2, 0] * x[3, 0])
    h = x[2, 0] / w
    return np.array([x[0, 0] - w / 2.0, x[1, 0] - h / 2.0, x[0, 0] + w / 2.0, x[1, 0] + h / 2.0])


class _KalmanBoxTracker:
    count = 0

    def __init__(self, bbox: np.ndarray) -> None:
        self.F = np.array(
            [
                [1, 0, 0, 0, 1, 0, 0],
                [0, 1, 0, 0, 0, 1, 0],
                [0, 0, 1, 0, 0, 0, 1],
                [0, 0, 0, 1, 0, 0, 0],
                [0, 0, 0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 0, 0, 1],
            ],
            float,
        )
        self.H = np.array(
            [
                [1, 0, 0, 0, 0, 0, 0],
                [0, 1, 0, 0, 0, 0, 0],
                [0, 0, 1, 0, 0, 0, 0],
                [0, 0, 0, 1, 0, 0, 0],
            ],
            float,
        )
        self.R = np.eye(4)
        self.R[2:, 2:] *= 10.0
        self.P = np.eye(7)
        self.P[4:, 4:] *= 1000.0
        self.P *= 10.0
        self.Q = np.eye(7)
        self.Q[-1, -1] *= 0.01
        self.Q[4:, 4:] *= 0.01
        self.x = np.zeros((7, 1))
        self.x[:4] = _to_z(bbox)
        self.time_since_update = 0
        self.id = _KalmanBoxTracker.count
        _KalmanBoxTracker.count += 1
        self.hits = 0
        self.hit_streak = 0

    def update(self, bbox: np.ndarray) -> None:
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        y = _to_z(bbox) - self.H @ self.x
        S = self.H @ self.P @ self.H.T + self.R
        K = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        A = np.eye(7) - K @ self.H
        self.P = A @ self.P @ A.T + K @ self.R @ K.T

    def predict(self) -> np.ndarray:
        if (self.x[6] + self.x[2]) <= 0:
            self.x[6] *= 0.0
        self.x = self.F @ self.x
        self.P = self.F @ self.P @ self.F.T + self.Q
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return _to_bbox(self.x)


class _Sort:
    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3) -> None:
        self.max_age, self.min_hits, self.iou_threshold = max_age, min_hits, iou_threshold
        self.trackers: list[_KalmanBoxTracker] = []
        self.frame_count = 0

    def update(self, dets: np.ndarray) -> np.ndarray:
        self.frame_count += 1
        trks = np.array([t.predict() for t in self.trackers]).reshape(-1, 4)
        valid = ~np.any(np.isnan(trks), axis=1)
        self.trackers = [t for t, ok in zip(self.trackers, valid) if ok]
        trks = trks[valid]
        matched, unmatched = [], set(range(len(dets)))
        if len(trks) and len(dets):
            iou = np.array([[_iou(d, t) for t in trks] for d in dets])
            for r, c in zip(*linear_sum_assignment(-iou)):
                if iou[r, c] >= self.iou_threshold:
                    matched.append((r, c))
                    unmatched.discard(r)
        for r, c in matched:
            self.trackers[c].update(dets[r, :4])
        for r in sorted(unmatched):
            self.trackers.append(_KalmanBoxTracker(dets[r, :4]))
        ret = []
        for trk in reversed(list(self.trackers)):
            if trk.time_since_update < 1 and (
                trk.hit_streak >= self.min_hits or self.frame_count <= self.min_hits
            ):
                ret.append([*_to_bbox(trk.x), trk.id + 1])
        self.trackers = [t for t in self.trackers if t.time_since_update <= self.max_age]
        return np.array(ret).reshape(-1, 5)


def demo_tracks(detections: list[np.ndarray], min_frames: int = 25) -> list[dict]:
    """The demo's tracks for per-frame (K, 5) detections: list of {frames (n,), bbox (n, 4)
    square [cx, cy, w, h]}, ordered by SORT id, tracks shorter than ``min_frames`` dropped."""
    sort = _Sort()
    people: dict[int, dict[str, list]] = {}
    for f, dets in enumerate(detections):
        if len(dets) == 0:
            continue  # multi-person-tracker does not call SORT on such frames
        for x1, y1, x2, y2, pid in sort.update(dets):
            w, h = x2 - x1, y2 - y1
            side = max(w, h)
            entry = people.setdefault(int(pid), {"frames": [], "bbox": []})
            entry["frames"].append(f)
            entry["bbox"].append([x1 + w / 2, y1 + h / 2, side, side])
    return [
        {"frames": np.array(p["frames"]), "bbox": np.array(p["bbox"])}
        for _, p in sorted(people.items())
        if len(p["frames"]) >= min_frames
    ]
