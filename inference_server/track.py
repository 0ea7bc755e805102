"""Multi-person tracking: the official demo's SORT, made robust to occlusion.

The core is SORT exactly as the demo uses it (multi-person-tracker): a constant-velocity
Kalman filter on [cx, cy, area, aspect], Hungarian matching (scipy) of detections to predicted
boxes at IoU >= 0.3, a track confirmed after 3 consecutive hits, and the emitted box is the
Kalman state after the update. On top of it, where the demo is weak (long occlusions):

- a lost track stays alive for ``max_age`` processed frames (the demo: 1);
- it is re-linked when the person reappears: by IoU with its predicted box, or, for longer
  gaps, by centre distance and size gating against its last seen box, the gates growing with
  the time the person was hidden (a join the person could not have walked, or a box that
  changed size too much for the gap, is refused);
- gaps up to ``max_fill_gap`` frames are filled by linear interpolation and marked ``filled``;
- these limits are set in seconds and turned into analysed frames by
  ``TrackerConfig.for_fps(fps)`` (1.5 s is 15 frames of a 10 fps clip, 90 of a 60 fps one);
- a confirmed track keeps the frames of its first (tentative) hits;
- tracks shorter than ``min_track_len`` frames are dropped;
- the detector may run only every k-th frame (``update(frame, None)`` in between); boxes of the
  frames in between are interpolated (and held after the last detection).

``TrackerConfig.demo()`` reproduces the demo's behaviour (no re-link, no filling, frames
without any detection skipped) for comparison.

Use: ``tracker = Tracker(config)``; per processed frame ``tracker.update(frame_index, dets)``
with dets (K, 5) [x1, y1, x2, y2, score] or None when the detector did not run on that frame;
finally ``tracker.finish()`` -> list[Track], ids 1, 2, ... in order of appearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

# --- the demo's SORT settings
SORT_IOU_THRESHOLD = 0.3
SORT_MIN_HITS = 3
DEMO_MAX_AGE = 1
MIN_TRACK_LEN = 25  # the demo's MIN_NUM_FRAMES
# --- our additions, in seconds (turned into analysed frames by TrackerConfig.for_fps)
MAX_AGE_S = 1.5  # a lost track is kept this long
MAX_FILL_GAP_S = 1.5  # gaps up to this long are filled by interpolation
RELINK_DIST_PER_S = 1.2  # the re-link gate grows by this many box heights per hidden second
REFERENCE_FPS = 30.0  # the frame-count defaults below are these limits at 30 fps
# --- in analysed frames (calls to update)
MAX_AGE = round(MAX_AGE_S * REFERENCE_FPS)
MAX_FILL_GAP = round(MAX_FILL_GAP_S * REFERENCE_FPS)
TENTATIVE_MAX_MISSES = 1  # an unconfirmed track dies at its first miss (as in the demo)
RELINK_MIN_GAP = 1  # lost tracks (missed at least once) are re-linked by gating
RELINK_DIST_BASE = 0.6  # max centre distance at re-link, in box heights ...
RELINK_DIST_PER_FRAME = RELINK_DIST_PER_S / REFERENCE_FPS  # ... growing with the gap ...
RELINK_DIST_MAX = 2.5  # ... up to this
RELINK_SIZE_RATIO = 1.5  # max ratio between the heights of the last seen and the new box ...
RELINK_SIZE_BASE = 1.2  # ... allowed right after the loss, growing to the max in ...
RELINK_SIZE_GROWTH_S = 1.0  # ... this many seconds (walking towards the camera)
MIN_OBSERVED_RATIO = 0.5  # a track detected in fewer of the frames the detector ran on in its
# span is stray boxes joined by gap filling, not a person: dropped
# what happened at a processed frame
_RAN, _NOT_RUN, _SKIPPED = 0, 1, 2  # detector ran / did not run / demo skipped an empty frame


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings; lengths are counted in processed frames (calls to ``update``).

    iou_threshold, min_hits: SORT matching and confirmation.
    max_age: frames a confirmed track survives without a detection.
    relink: re-link lost tracks by centre distance/size gating after ``RELINK_MIN_GAP`` frames.
    max_fill_gap: longest gap filled by interpolation (longer gaps stay holes in frame_ids).
    min_track_len: tracks with fewer frames (filled ones included) are dropped.
    backfill: a confirmed track keeps its tentative first frames (the demo drops them).
    skip_empty_frames: the demo's quirk: frames without any detection do not step the tracker.
    relink_dist_per_frame: growth of the re-link distance gate per frame of gap (box heights).
    relink_size_growth: frames of gap over which the allowed size change grows from
        ``RELINK_SIZE_BASE`` to ``RELINK_SIZE_RATIO``.
    min_observed_ratio: tracks matched in fewer of the detector's frames within their span
        are dropped.
    """

    iou_threshold: float = SORT_IOU_THRESHOLD
    min_hits: int = SORT_MIN_HITS
    max_age: int = MAX_AGE
    relink: bool = True
    max_fill_gap: int = MAX_FILL_GAP
    min_track_len: int = MIN_TRACK_LEN
    backfill: bool = True
    skip_empty_frames: bool = False
    relink_dist_per_frame: float = RELINK_DIST_PER_FRAME
    relink_size_growth: float = RELINK_SIZE_GROWTH_S * REFERENCE_FPS
    min_observed_ratio: float = MIN_OBSERVED_RATIO

    @classmethod
    def for_fps(cls, fps: float, min_track_len: int = MIN_TRACK_LEN) -> TrackerConfig:
        """Our tracker with its time limits for a clip analysed at ``fps`` frames/s."""
        fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else REFERENCE_FPS
        return cls(
            max_age=max(1, round(MAX_AGE_S * fps)),
            max_fill_gap=max(1, round(MAX_FILL_GAP_S * fps)),
            min_track_len=min_track_len,
            relink_dist_per_frame=RELINK_DIST_PER_S / fps,
            relink_size_growth=RELINK_SIZE_GROWTH_S * fps,
        )

    @classmethod
    def demo(cls, min_track_len: int = MIN_TRACK_LEN) -> TrackerConfig:
        """The official demo's tracker: SORT(max_age=1, min_hits=3), no gap handling."""
        return cls(
            max_age=DEMO_MAX_AGE,
            relink=False,
            max_fill_gap=0,
            min_track_len=min_track_len,
            backfill=False,
            skip_empty_frames=True,
            min_observed_ratio=0.0,
        )


@dataclass
class Track:
    """One person followed through the video.

    track_id: 1, 2, ... in order of first appearance.
    frame_ids: (N,) int64 increasing video frame indices.
    bboxes: (N, 4) float64 square boxes [cx, cy, w, h] with w = h = max(box w, box h).
    filled: (N,) bool, frames filled by interpolation across a gap where the detector ran and
        did not see the person (occlusion).
    det_score: (N,) float64 detector score of the matched detection, 0 where not observed.
    observed: (N,) bool, frames with a matched detection (False: filled, or interpolated
        between frames the detector skipped).
    """

    track_id: int
    frame_ids: np.ndarray
    bboxes: np.ndarray
    filled: np.ndarray
    det_score: np.ndarray
    observed: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_ids)


# --------------------------------------------------------------------------- geometry


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between (N, 4) and (M, 4) [x1, y1, x2, y2] boxes -> (N, M) (SORT's formula)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def xyxy_to_square_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) [x1, y1, x2, y2] -> (N, 4) [cx, cy, s, s] with s = max(w, h) (the demo's bbox)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    return np.column_stack([boxes[:, 0] + w / 2, boxes[:, 1] + h / 2, side, side])


# --------------------------------------------------------------------------- Kalman filter


class KalmanBoxFilter:
    """SORT's constant-velocity Kalman filter on z = [cx, cy, s = w*h, r = w/h].

    State x (7,) = [cx, cy, s, r, vcx, vcy, vs]; matrices exactly as SORT's KalmanBoxTracker
    (filterpy defaults scaled: R[2:,2:] *= 10, P[4:,4:] *= 1000, P *= 10, Q[-1,-1] *= 0.01,
    Q[4:,4:] *= 0.01).
    """

    F = np.eye(7) + np.eye(7, k=4)
    H = np.eye(4, 7)
    R = np.diag([1.0, 1.0, 10.0, 10.0])
    Q = np.diag([1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 0.0001])

    def __init__(self, box: np.ndarray) -> None:
        self.x = np.zeros(7)
        self.x[:4] = self.to_z(box)
        self.P = np.diag([10.0, 10.0, 10.0, 10.0, 10000.0, 10000.0, 10000.0])

    @staticmethod
    def to_z(box: np.ndarray) -> np.ndarray:
        w, h = box[2] - box[0], box[3] - box[1]
        return np.array([box[0] + w / 2, box[1] + h / 2, w * h, w / max(h, 1e-9)])

    def box(self) -> np.ndarray:
        """Current state as [x1, y1, x2, y2] (NaN if the area went negative)."""
        s, r = self.x[2], self.x[3]
        w = np.sqrt(s * r) if s * r >= 0 else np.nan
        h = s / w if w and np.isfinite(w) else np.nan
        cx, cy = self.x[0], self.x[1]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])

    def predict(self) -> np.ndarray:
        if self.x[6] + self.x[2] <= 0:
            self.x[6] = 0.0
        self.x = self.F @ self.x
        self.P = self.F @ self.P @ self.F.T + self.Q
        return self.box()

    def update(self, box: np.ndarray) -> None:
        y = self.to_z(box) - self.H @ self.x
        S = self.H @ self.P @ self.H.T + self.R
        K = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        I_KH = np.eye(7) - K @ self.H
        # filterpy's Joseph form, as SORT gets it
        self.P = I_KH @ self.P @ I_KH.T + K @ self.R @ K.T


# --------------------------------------------------------------------------- tracker


@dataclass
class _Live:
    """A track while the tracker runs (internal)."""

    kf: KalmanBoxFilter
    order: int  # creation order
    hits: int = 0  # SORT: a new track has no hit yet (its first detection initialises it)
    hit_streak: int = 0
    misses: int = 0  # detection frames since the last match (SORT's time_since_update)
    last_step: int = 0
    last_box: np.ndarray = field(default_factory=lambda: np.zeros(4))
    confirmed: bool = False
    steps: list[int] = field(default_factory=list)  # steps with a matched detection
    boxes: list[np.ndarray] = field(default_factory=list)  # emitted xyxy box per step
    scores: list[float] = field(default_factory=list)
    emitted: list[bool] = field(default_factory=list)  # the demo's output rule per step


class Tracker:
    """Streaming multi-person tracker: ``update`` per processed frame, then ``finish``."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._frames: list[int] = []  # frame index of each step
        self._kind: list[int] = []  # _RAN, _NOT_RUN or _SKIPPED per step
        self._live: list[_Live] = []
        self._done: list[_Live] = []
        self._created = 0
        self._kalman_steps = 0  # SORT's frame_count

    # ------------------------------------------------------------------ streaming

    def update(self, frame_index: int, detections: np.ndarray | None) -> np.ndarray:
        """Feed one processed frame.

        detections: (K, 5) [x1, y1, x2, y2, score] persons, or None if the detector did not
        run on this frame (detect every k-th frame). Returns the confirmed tracks matched in
        this frame as (T, 5) [x1, y1, x2, y2, provisional id] (final ids are given by finish).
        """
        if self._frames and frame_index <= self._frames[-1]:
            raise ValueError(f"frame {frame_index} comes after frame {self._frames[-1]}")
        self._frames.append(int(frame_index))
        self._kind.append(_RAN if detections is not None else _NOT_RUN)
        step = len(self._frames) - 1
        if detections is None:
            return np.zeros((0, 5))
        dets = np.asarray(detections, np.float64).reshape(-1, 5)
        dets = dets[
            np.all(np.isfinite(dets), axis=1)
            & (dets[:, 2] > dets[:, 0])
            & (dets[:, 3] > dets[:, 1])
        ]
        if len(dets) == 0 and self.config.skip_empty_frames:
            self._kind[-1] = _SKIPPED  # the demo never calls SORT on such frames
            return np.zeros((0, 5))
        self._kalman_steps += 1
        predicted = self._predict()
        matches = self._associate(dets, predicted, step)
        matched_dets = {d for d, _ in matches}
        free_dets = [d for d in range(len(dets)) if d not in matched_dets]
        out = []
        for d, t in matches:
            trk = self._live[t]
            self._hit(trk, dets[d], step)
            if trk.confirmed and trk.emitted[-1]:
                out.append([*trk.boxes[-1], trk.order])
        for d in free_dets:
            self._start(dets[d], step)
        self._retire(step)
        return np.asarray(out, np.float64).reshape(-1, 5)

    def _predict(self) -> np.ndarray:
        boxes = np.zeros((len(self._live), 4))
        keep = []
        for i, trk in enumerate(self._live):
            box = trk.kf.predict()
            if trk.misses > 0:
                trk.hit_streak = 0
            trk.misses += 1
            if np.all(np.isfinite(box)):
                keep.append(i)
                boxes[i] = box
        if len(keep) < len(self._live):  # SORT drops trackers whose state became invalid
            self._done += [t for i, t in enumerate(self._live) if i not in keep]
            self._live = [self._live[i] for i in keep]
            boxes = boxes[keep]
        return boxes

    def _associate(
        self, dets: np.ndarray, predicted: np.ndarray, step: int
    ) -> list[tuple[int, int]]:
        """(detection, live track) pairs for this frame.

        The demo (relink off): one Hungarian matching on IoU over all tracks. Ours: confirmed
        tracks first (IoU), then lost confirmed tracks by gating, then tentative tracks (IoU)
        on what is left, so a track just born from a stray detection cannot take a person
        away from the track that has followed them.
        """
        everyone = list(range(len(self._live)))
        if not self.config.relink:
            return self._match_iou(dets, list(range(len(dets))), predicted, everyone)
        confirmed = [t for t in everyone if self._live[t].confirmed]
        tentative = [t for t in everyone if not self._live[t].confirmed]
        matches = self._match_iou(dets, list(range(len(dets))), predicted, confirmed)
        matches = [(d, t) for d, t in matches if self._plausible(dets[d], self._live[t], step)]
        free = [d for d in range(len(dets)) if d not in {m for m, _ in matches}]
        matches += self._match_relink(dets, free, predicted, step, matches)
        free = [d for d in free if d not in {m for m, _ in matches}]
        return matches + self._match_iou(dets, free, predicted, tentative)

    def _match_iou(
        self, dets: np.ndarray, det_idx: list[int], predicted: np.ndarray, trk_idx: list[int]
    ) -> list[tuple[int, int]]:
        """Hungarian matching on IoU between the given detections and tracks; pairs below
        the threshold are not matched. Returns (detection, track) index pairs."""
        if not det_idx or not trk_idx:
            return []
        iou = iou_matrix(dets[det_idx, :4], predicted[trk_idx])
        rows, cols = linear_sum_assignment(-iou)
        return [
            (det_idx[r], trk_idx[c])
            for r, c in zip(rows, cols)
            if iou[r, c] >= self.config.iou_threshold
        ]

    def _match_relink(
        self,
        dets: np.ndarray,
        free_dets: list[int],
        predicted: np.ndarray,
        step: int,
        matches: list[tuple[int, int]],
    ) -> list[tuple[int, int]]:
        """Re-link lost confirmed tracks to unmatched detections by centre distance and size."""
        taken = {t for _, t in matches}
        lost = [
            t
            for t, trk in enumerate(self._live)
            if t not in taken and trk.confirmed and step - trk.last_step >= RELINK_MIN_GAP
        ]
        if not lost or not free_dets:
            return []
        cost = np.full((len(free_dets), len(lost)), np.inf)
        for j, t in enumerate(lost):
            trk = self._live[t]
            last_h = trk.last_box[3] - trk.last_box[1]
            gap = step - trk.last_step
            gate, size_ratio = self._relink_gates(gap)
            gate *= last_h
            anchors = np.array([_centre(trk.last_box), _centre(predicted[t])])
            for i, d in enumerate(free_dets):
                h = dets[d, 3] - dets[d, 1]
                if max(h, last_h) > size_ratio * min(h, last_h):
                    continue
                dist = np.min(np.linalg.norm(anchors - _centre(dets[d]), axis=1))
                if dist <= gate:
                    cost[i, j] = dist / gate
        if not np.isfinite(cost).any():
            return []
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
        return [(free_dets[r], lost[c]) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]

    def _plausible(self, det: np.ndarray, trk: _Live, step: int) -> bool:
        """Whether a lost track (unmatched for more than one step) may take this detection by
        IoU with its drifting prediction: the same distance and size gates as a re-link."""
        gap = step - trk.last_step
        if gap <= 1:
            return True
        dist, size_ratio = self._relink_gates(gap)
        last_h = trk.last_box[3] - trk.last_box[1]
        h = det[3] - det[1]
        if max(h, last_h) > size_ratio * min(h, last_h):
            return False
        return bool(np.linalg.norm(_centre(det) - _centre(trk.last_box)) <= dist * last_h)

    def _relink_gates(self, gap: int) -> tuple[float, float]:
        """(centre distance in box heights, height ratio) a re-link after ``gap`` frames may
        have: both grow with the time the person was hidden."""
        cfg = self.config
        dist = min(RELINK_DIST_BASE + cfg.relink_dist_per_frame * gap, RELINK_DIST_MAX)
        grow = min(gap / max(cfg.relink_size_growth, 1e-9), 1.0)
        return dist, RELINK_SIZE_BASE + (RELINK_SIZE_RATIO - RELINK_SIZE_BASE) * grow

    def _hit(self, trk: _Live, det: np.ndarray, step: int) -> None:
        trk.kf.update(det[:4])
        trk.misses = 0
        trk.hits += 1
        trk.hit_streak += 1
        self._record(trk, det, step)

    def _start(self, det: np.ndarray, step: int) -> None:
        trk = _Live(KalmanBoxFilter(det[:4]), order=self._created)
        self._created += 1
        trk.misses = 0
        self._record(trk, det, step)
        self._live.append(trk)

    def _record(self, trk: _Live, det: np.ndarray, step: int) -> None:
        cfg = self.config
        if trk.hit_streak >= cfg.min_hits or self._kalman_steps <= cfg.min_hits:
            trk.confirmed = True
        emitted = trk.hit_streak >= cfg.min_hits or self._kalman_steps <= cfg.min_hits
        trk.steps.append(step)
        trk.boxes.append(trk.kf.box())
        trk.scores.append(float(det[4]))
        trk.emitted.append(bool(emitted))
        trk.last_step = step
        trk.last_box = det[:4].copy()

    def _retire(self, step: int) -> None:
        cfg = self.config
        keep = []
        for trk in self._live:
            if trk.confirmed and cfg.relink:
                dead = step - trk.last_step > cfg.max_age
            elif trk.confirmed:
                dead = trk.misses > cfg.max_age
            else:
                dead = trk.misses > TENTATIVE_MAX_MISSES
            (self._done if dead else keep).append(trk)
        self._live = keep

    # ------------------------------------------------------------------ results

    def finish(self) -> list[Track]:
        """All tracks at least ``min_track_len`` frames long, ids 1.. in order of appearance."""
        candidates = [t for t in self._done + self._live if t.confirmed]
        self._done, self._live = [], []
        tracks = [self._build(t) for t in candidates]
        tracks = [t for t in tracks if t is not None and len(t) >= self.config.min_track_len]
        tracks.sort(key=lambda t: (int(t.frame_ids[0]), t.track_id))
        return [replace(t, track_id=i + 1) for i, t in enumerate(tracks)]

    def _build(self, trk: _Live) -> Track | None:
        cfg = self.config
        keep = [i for i in range(len(trk.steps)) if cfg.backfill or trk.emitted[i]]
        if not keep:
            return None
        steps = np.array([trk.steps[i] for i in keep])
        ran = sum(k == _RAN for k in self._kind[steps[0]:steps[-1] + 1])
        if len(steps) < cfg.min_observed_ratio * ran:
            return None
        boxes = np.array([trk.boxes[i] for i in keep])
        scores = np.array([trk.scores[i] for i in keep])
        out_steps: list[int] = []
        out_boxes: list[np.ndarray] = []
        filled: list[bool] = []
        for k, s in enumerate(steps):
            if k > 0:
                self._fill_gap(
                    steps[k - 1], s, boxes[k - 1], boxes[k], out_steps, out_boxes, filled
                )
            out_steps.append(s)
            out_boxes.append(boxes[k])
            filled.append(False)
        self._hold_tail(steps[-1], boxes[-1], out_steps, out_boxes, filled)
        step_arr = np.asarray(out_steps)
        observed = np.isin(step_arr, steps)
        out_scores = np.zeros(len(step_arr))
        out_scores[observed] = scores
        frames = np.asarray(self._frames, np.int64)[step_arr]
        return Track(
            trk.order,
            frames,
            xyxy_to_square_cxcywh(np.asarray(out_boxes)),
            np.asarray(filled, bool),
            out_scores,
            observed,
        )

    def _fill_gap(
        self,
        a: int,
        b: int,
        box_a: np.ndarray,
        box_b: np.ndarray,
        out_steps: list,
        out_boxes: list,
        filled: list,
    ) -> None:
        """Interpolate steps a+1..b-1 when the gap is short enough (or only skipped frames)."""
        if b - a <= 1:
            return
        missed = any(k != _NOT_RUN for k in self._kind[a + 1 : b])
        if missed and (b - a - 1 > self.config.max_fill_gap):
            return  # a hole: the frames stay out of the track
        fa, fb = self._frames[a], self._frames[b]
        for s in range(a + 1, b):
            t = (self._frames[s] - fa) / (fb - fa)
            out_steps.append(s)
            out_boxes.append((1 - t) * box_a + t * box_b)
            filled.append(missed)

    def _hold_tail(
        self, last: int, box: np.ndarray, out_steps: list, out_boxes: list, filled: list
    ) -> None:
        """Frames after the last match where the detector did not run keep the last box."""
        s = last + 1
        while s < len(self._frames) and self._kind[s] == _NOT_RUN:
            out_steps.append(s)
            out_boxes.append(box)
            filled.append(False)
            s += 1


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def is_detection_step(step: int, total_steps: int, every: int) -> bool:
    """Whether the detector should run at this processed frame when detecting every
    ``every``-th frame: steps 0, every, 2*every, ... and always the last one."""
    return every <= 1 or step % every == 0 or step == total_steps - 1
