"""Synthetic test videos: real files written with OpenCV, with ground-truth boxes per frame.

Figures are filled dark human silhouettes (head, neck, shoulders, torso, swinging arms and
legs, proportions of an adult, soft anti-aliased edges) on a light textured background.
OpenCV's default HOG people detector finds them (measured: every frame of
``walking_video`` at 180-260 px tall), so whole-pipeline tests can run the real detector.

Usage (other test folders import this module as ``import synthetic_video``)::

    vid = synthetic_video.crossing_video(tmp_path / "cross.mp4", num_frames=60)
    vid.path, vid.fps, vid.num_frames, vid.width, vid.height
    vid.boxes[person_id]     # (num_frames, 4) float [x1, y1, x2, y2], NaN where absent
    vid.visible[person_id]   # (num_frames,) fraction of the silhouette not hidden

The container follows the suffix: ``.mp4`` -> mp4v, ``.avi`` -> MJPG. Nothing is kept in
memory but one frame at a time, so long 720p videos for benchmarks are cheap to make.
Helpers at the bottom write bad inputs: not-a-video, zero frames, truncated and corrupt files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

FIGURE_COLOR_BGR = (48, 44, 40)  # dark clothes; background is ~180-240 grey-green
OCCLUDER_COLOR_BGR = (120, 150, 170)
EDGE_BLUR_SIGMA = 1.2  # px, soft silhouette edges
CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


@dataclass(frozen=True)
class Figure:
    """A person walking in a straight line between two positions.

    ``start``/``end`` are (x of the body centre, y of the feet) in pixels at ``first_frame`` and
    ``last_frame`` (inclusive); ``height`` is the standing height in pixels (head top to feet),
    optionally ``end_height`` to walk towards/away from the camera. ``depth`` orders drawing:
    larger depth is drawn first (farther away). ``stride_px`` is the walking distance per leg
    swing cycle (sets the limb animation speed).
    """

    start: tuple[float, float]
    end: tuple[float, float]
    height: float
    first_frame: int = 0
    last_frame: int | None = None
    end_height: float | None = None
    depth: float = 0.0
    color: tuple[int, int, int] = FIGURE_COLOR_BGR
    stride_px: float = 120.0

    def state(self, frame: int, num_frames: int) -> tuple[float, float, float, float] | None:
        """(cx, foot_y, height, phase) at ``frame`` or None when the figure is absent."""
        last = num_frames - 1 if self.last_frame is None else self.last_frame
        if frame < self.first_frame or frame > last:
            return None
        t = (
            0.0
            if last == self.first_frame
            else (frame - self.first_frame) / (last - self.first_frame)
        )
        cx = self.start[0] + t * (self.end[0] - self.start[0])
        fy = self.start[1] + t * (self.end[1] - self.start[1])
        h1 = self.height if self.end_height is None else self.end_height
        h = self.height + t * (h1 - self.height)
        dist = math.hypot(cx - self.start[0], fy - self.start[1])
        phase = 2.0 * math.pi * dist / max(self.stride_px, 1e-6)
        return cx, fy, h, phase


@dataclass(frozen=True)
class Occluder:
    """A rectangle drawn in front of every figure (a pillar, a wall): [x1, y1, x2, y2] px."""

    box: tuple[int, int, int, int]
    color: tuple[int, int, int] = OCCLUDER_COLOR_BGR


@dataclass
class SyntheticVideo:
    """A written video and its ground truth.

    boxes: person id -> (num_frames, 4) float64 [x1, y1, x2, y2] of the whole silhouette
        (clipped to the frame), NaN rows where the person is not in the video.
    visible: person id -> (num_frames,) float64, fraction of the silhouette's pixels that
        are neither hidden by an occluder/another figure nor outside the frame (0 when absent).
    """

    path: Path
    fps: float
    width: int
    height: int
    num_frames: int
    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    visible: dict[int, np.ndarray] = field(default_factory=dict)

    def present(self, person_id: int, min_visible: float = 0.0) -> np.ndarray:
        """(num_frames,) bool: frames where the person is in the video and visible enough."""
        vis = self.visible[person_id]
        return ~np.isnan(self.boxes[person_id][:, 0]) & (vis > min_visible)


# --------------------------------------------------------------------------- drawing


def draw_silhouette(
    mask: np.ndarray, cx: float, foot_y: float, height: float, phase: float
) -> None:
    """Draw a human silhouette (value 255) into the uint8 ``mask``; coordinates in mask px.

    Proportions follow the classic 8-head canon: head 1/8, shoulders 1.4/8 down, hips at 4/8,
    legs 4/8. Arms and legs swing with ``sin(phase)``.
    """
    u = height / 8.0
    swing = math.sin(phase)
    top = foot_y - height
    neck_y, sh_y, hip_y = top + 1.0 * u, top + 1.4 * u, top + 4.0 * u
    sh_w, hip_w = 1.0 * u, 0.66 * u
    aa = cv2.LINE_AA

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x), round(y)

    def thick(k: float) -> int:
        return max(2, round(k * u))

    cv2.circle(mask, pt(cx, top + 0.5 * u), max(2, int(0.45 * u)), 255, -1, aa)
    cv2.line(mask, pt(cx, neck_y - 0.2 * u), pt(cx, sh_y), 255, thick(0.35), aa)
    torso = np.array(
        [pt(cx - sh_w, sh_y), pt(cx + sh_w, sh_y), pt(cx + hip_w, hip_y), pt(cx - hip_w, hip_y)],
        np.int32,
    )
    cv2.fillConvexPoly(mask, torso, 255, aa)
    for side in (-1.0, 1.0):
        shoulder = pt(cx + side * (sh_w - 0.15 * u), sh_y + 0.15 * u)
        elbow = pt(cx + side * (sh_w + 0.3 * u) + 0.4 * u * swing * side, sh_y + 1.45 * u)
        wrist = pt(cx + side * (sh_w + 0.45 * u) + 0.8 * u * swing * side, sh_y + 2.8 * u)
        cv2.line(mask, shoulder, elbow, 255, thick(0.32), aa)
        cv2.line(mask, elbow, wrist, 255, thick(0.26), aa)
        hip = pt(cx + side * hip_w * 0.6, hip_y - 0.1 * u)
        knee = pt(cx + side * (0.55 * u + 0.6 * u * swing), hip_y + 2.0 * u)
        foot = pt(cx + side * (0.7 * u + 1.0 * u * swing), foot_y - 0.18 * u)
        cv2.line(mask, hip, knee, 255, thick(0.45), aa)
        cv2.line(mask, knee, foot, 255, thick(0.36), aa)


def make_background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(height, width, 3) uint8 light background: smooth gradient blobs plus fine noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy = rng.uniform(60.0, 120.0, size=2)
    base = 205.0 + 28.0 * np.sin(xx / fx) * np.cos(yy / fy) + 15.0 * (yy / height)
    noise = cv2.GaussianBlur(rng.normal(0.0, 12.0, (height, width)).astype(np.float32), (0, 0), 2)
    img = np.clip(base + noise, 0, 255)
    return np.dstack([img * 0.95, img, img * 0.9]).astype(np.uint8)


def _figure_mask(
    fig_state: tuple[float, float, float, float], width: int, height: int
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Rasterise one figure into a tight ROI: (alpha float32 (h, w) in 0..1, (x0, y0)) or None."""
    cx, fy, h, phase = fig_state
    margin = int(0.5 * h) + 8
    x0, x1 = max(0, int(cx - margin)), min(width, int(cx + margin))
    y0, y1 = max(0, int(fy - h - 8)), min(height, int(fy + 8))
    if x1 <= x0 or y1 <= y0:
        return None
    roi = np.zeros((y1 - y0, x1 - x0), np.uint8)
    draw_silhouette(roi, cx - x0, fy - y0, h, phase)
    return roi, (x0, y0)


def render_frame(
    background: np.ndarray,
    figures: Sequence[Figure],
    occluders: Sequence[Occluder],
    frame: int,
    num_frames: int,
) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, float]]:
    """Render one frame: (BGR image, person id -> [x1,y1,x2,y2] (NaN if absent), id -> visible).

    Person ids are 1-based positions in ``figures``.
    """
    H, W = background.shape[:2]
    img = background.astype(np.float32)
    occupancy = np.zeros((H, W), np.int16)  # id of the front-most figure per pixel
    boxes: dict[int, np.ndarray] = {}
    areas: dict[int, int] = {}
    order = sorted(range(len(figures)), key=lambda i: -figures[i].depth)
    for i in order:
        pid = i + 1
        boxes[pid] = np.full(4, np.nan)
        areas[pid] = 0
        state = figures[i].state(frame, num_frames)
        if state is None:
            continue
        # full-size ROI (unclipped) to know how much of the figure lies outside the frame
        full_area = _silhouette_area(state[2], state[3])
        drawn = _figure_mask(state, W, H)
        if drawn is None:
            continue
        roi, (x0, y0) = drawn
        ys, xs = np.nonzero(roi > 127)
        if len(xs) == 0:
            continue
        boxes[pid] = np.array(
            [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float64
        )
        areas[pid] = full_area
        sl = (slice(y0, y0 + roi.shape[0]), slice(x0, x0 + roi.shape[1]))
        occupancy[sl][roi > 127] = pid
        alpha = cv2.GaussianBlur(roi, (0, 0), EDGE_BLUR_SIGMA).astype(np.float32)[..., None] / 255.0
        color = np.asarray(figures[i].color, np.float32)
        img[sl] = img[sl] * (1.0 - alpha) + color * alpha
    for occ in occluders:
        x1, y1, x2, y2 = occ.box
        img[y1:y2, x1:x2] = np.asarray(occ.color, np.float32)
        occupancy[y1:y2, x1:x2] = 0
    counts = np.bincount(occupancy.ravel(), minlength=len(figures) + 1)
    visible = {
        pid: (float(min(1.0, counts[pid] / areas[pid])) if areas[pid] else 0.0) for pid in boxes
    }
    return img.astype(np.uint8), boxes, visible


def _silhouette_area(height: float, phase: float) -> int:
    """Pixel area of the whole (unclipped, unoccluded) silhouette of this height and phase."""
    size = int(height) + 20
    canvas = np.zeros((size, 2 * size), np.uint8)
    draw_silhouette(canvas, size, height + 10, height, phase)
    return int(np.count_nonzero(canvas > 127))


# --------------------------------------------------------------------------- writing


def write_video(
    path: Path | str,
    figures: Sequence[Figure],
    *,
    num_frames: int,
    size: tuple[int, int] = (640, 480),
    fps: float = 25.0,
    occluders: Sequence[Occluder] = (),
    seed: int = 0,
) -> SyntheticVideo:
    """Write ``num_frames`` frames of ``figures`` walking; returns the ground truth.

    ``size`` is (width, height). The codec follows the suffix (.mp4 mp4v, .avi MJPG).
    """
    path = Path(path)
    width, height = size
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"unsupported suffix {path.suffix!r}: use one of {sorted(CODECS)}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with codec {codec}")
    bg = make_background(width, height, seed)
    ids = range(1, len(figures) + 1)
    boxes = {pid: np.full((num_frames, 4), np.nan) for pid in ids}
    visible = {pid: np.zeros(num_frames) for pid in ids}
    try:
        for f in range(num_frames):
            img, fb, fv = render_frame(bg, figures, occluders, f, num_frames)
            writer.write(img)
            for pid in ids:
                boxes[pid][f] = fb[pid]
                visible[pid][f] = fv[pid]
    finally:
        writer.release()
    return SyntheticVideo(path, fps, width, height, num_frames, boxes, visible)


def walking_video(
    path: Path | str,
    num_frames: int = 40,
    *,
    size: tuple[int, int] = (640, 480),
    fps: float = 25.0,
    person_height: float = 220.0,
    seed: int = 0,
) -> SyntheticVideo:
    """One person walking left to right across the middle of the frame."""
    w, h = size
    foot = h / 2 + person_height / 2 + 10
    fig = Figure(start=(w * 0.3, foot), end=(w * 0.7, foot), height=person_height)
    return write_video(path, [fig], num_frames=num_frames, size=size, fps=fps, seed=seed)


def crossing_video(
    path: Path | str,
    num_frames: int = 60,
    *,
    size: tuple[int, int] = (640, 480),
    fps: float = 25.0,
    seed: int = 0,
) -> SyntheticVideo:
    """Two people walking towards each other and crossing in the middle.

    Person 1 (nearer, taller, drawn in front) walks left -> right; person 2 (farther) walks
    right -> left, so around the middle frame person 2 is partly hidden behind person 1.
    """
    w, h = size
    s = h / 480.0
    near = Figure(
        start=(w * 0.18, h * 0.5 + 130 * s),
        end=(w * 0.82, h * 0.5 + 130 * s),
        height=230 * s,
        depth=1.0,
    )
    far = Figure(
        start=(w * 0.82, h * 0.5 + 105 * s),
        end=(w * 0.18, h * 0.5 + 105 * s),
        height=200 * s,
        depth=2.0,
        color=(70, 40, 30),
    )
    return write_video(path, [near, far], num_frames=num_frames, size=size, fps=fps, seed=seed)


def occlusion_video(
    path: Path | str,
    num_frames: int = 60,
    *,
    size: tuple[int, int] = (640, 480),
    fps: float = 25.0,
    pillar_width: int = 150,
    seed: int = 0,
) -> SyntheticVideo:
    """One person walking left to right behind a pillar in the middle of the frame.

    With the defaults the person is fully hidden for several frames in the middle
    (see ``visible``), then reappears on the other side.
    """
    w, h = size
    s = h / 480.0
    fig = Figure(
        start=(w * 0.12, h * 0.5 + 120 * s), end=(w * 0.88, h * 0.5 + 120 * s), height=220 * s
    )
    x1 = int(w / 2 - pillar_width / 2)
    pillar = Occluder((x1, 0, x1 + pillar_width, h))
    return write_video(
        path, [fig], num_frames=num_frames, size=size, fps=fps, occluders=[pillar], seed=seed
    )


def person_image(
    size: tuple[int, int] = (640, 480),
    person_height: float = 240.0,
    *,
    seed: int = 0,
    phase: float = 0.6,
) -> tuple[np.ndarray, np.ndarray]:
    """One BGR frame with one person in the middle: (image (H, W, 3) uint8, box [x1, y1, x2, y2]).

    ``phase`` sets the arm/leg swing (0 = standing straight).
    """
    w, h = size
    foot = h / 2 + person_height / 2
    # a zero-length walk whose stride makes the phase come out as asked
    fig = Figure(
        start=(w / 2 - 1.0, foot),
        end=(w / 2, foot),
        height=person_height,
        first_frame=0,
        last_frame=1,
        stride_px=2.0 * math.pi / max(phase, 1e-9),
    )
    img, boxes, _ = render_frame(make_background(w, h, seed), [fig], [], 1, 2)
    return img, boxes[1]


# --------------------------------------------------------------------------- bad inputs


def write_not_a_video(path: Path | str) -> Path:
    """A file with a video suffix whose content is text."""
    path = Path(path)
    path.write_text("this is not a video, just text with a .mp4 name\n" * 50)
    return path


def write_zero_frame_video(path: Path | str, size: tuple[int, int] = (320, 240)) -> Path:
    """A container opened and closed by OpenCV's writer without any frame."""
    path = Path(path)
    codec = CODECS[path.suffix.lower()]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25.0, size)
    writer.release()
    return path


def write_truncated_copy(src: Path | str, dst: Path | str, keep_fraction: float = 0.5) -> Path:
    """Copy the first ``keep_fraction`` of ``src``'s bytes to ``dst`` (an interrupted download)."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def write_corrupt_copy(
    src: Path | str, dst: Path | str, start_fraction: float = 0.5, seed: int = 0
) -> Path:
    """Copy ``src`` to ``dst`` and overwrite everything after ``start_fraction`` with random bytes,
    keeping the file size (a damaged disk or a broken transfer)."""
    data = bytearray(Path(src).read_bytes())
    start = int(len(data) * start_fraction)
    rng = np.random.default_rng(seed)
    data[start:] = rng.integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst


def set_mp4_rotation(path: Path | str, degrees: int) -> Path:
    """Write a rotation into an .mp4's track header matrix, as phones do (in place).

    Only for files with one video track (OpenCV's mp4v writer). ``degrees`` in {0, 90, 180, 270}
    clockwise display rotation, which players (and OpenCV's auto-rotation) apply.
    """
    path = Path(path)
    data = bytearray(path.read_bytes())
    idx = data.find(b"tkhd")
    if idx < 0:
        raise ValueError(f"{path} has no track header (tkhd box)")
    version = data[idx + 4]
    # tkhd: [version/flags 4] [times + track id + reserved ...] then layer/group/volume, matrix
    matrix_off = idx + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    one = 0x00010000
    # (a, b, c, d) of the 16.16 display matrix; the file stores a b u / c d v / x y w
    mats = {
        0: (one, 0, 0, one),
        90: (0, one, -one, 0),
        180: (-one, 0, 0, -one),
        270: (0, -one, one, 0),
    }
    if degrees not in mats:
        raise ValueError("degrees must be 0, 90, 180 or 270")
    a, b, c, d = mats[degrees]
    values = [a, b, 0, c, d, 0, 0, 0, 0x40000000]
    blob = b"".join(int(v).to_bytes(4, "big", signed=True) for v in values)
    data[matrix_off : matrix_off + 36] = blob
    path.write_bytes(bytes(data))
    return path
