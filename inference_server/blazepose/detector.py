"""``--detector blazepose``: BlazePose's own person detector over the whole frame and overlapping
tiles, every view of a batch of frames in one network call.

A view is a square region of the frame (the letterboxed whole frame, or a tile) warped to the
224x224 input. Each view is decoded as MediaPipe does (:mod:`.decode`), its detections mapped
back to frame pixels, and the views of one frame merged: detections whose hip and shoulder
centres coincide, or whose faces coincide, are one person (the SSD's own boxes have a fixed
size per view, so they cannot be compared across views of different scale). Tiles let a person
1/6 of the frame high fill enough of the input to be found.

Per person: the rotated full-body ROI MediaPipe feeds its landmark model, and for the tracker an
axis-aligned square box (centre = hip centre, side = the body circle's diameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .decode import (
    FULL_BODY_SCALE,
    HIP_CENTRE,
    SHOULDER_CENTRE,
    UPPER_BODY_SCALE,
    INPUT_SIZE,
    MIN_SCORE,
    NMS_IOU,
    RawDetections,
    decode,
    roi_to_square_box,
    rois_from_keypoints,
    unfold_batch,
    weighted_nms,
)
from .model import TfliteModel, detector_path

#: a tile's side as a fraction of the frame's shorter side
TILE_FRACTION = 0.5
#: neighbouring tiles overlap by at least this fraction of their side
TILE_OVERLAP = 0.1
#: frames shorter than this (shorter side, pixels) are only seen whole: tiles would be upscaled
TILE_MIN_SIDE = 2 * INPUT_SIZE
#: two detections are one person when hips and shoulders are this close (x body diameter)
SAME_PERSON = 0.15
#: faces closer than this x a detection's upper-body radius are its own
FACE_MERGE = 0.5
#: score a detection needs in a view smaller than the whole frame
TILE_MIN_SCORE = 0.6
#: views per network call: small batches run faster per view on the CPU (cache-sized
#: activations; measured 2 cores, LiteRT/XNNPACK: 5.2 ms/view at 4 against 6.8 at 32)
VIEW_BATCH = 4


@dataclass(frozen=True)
class BlazePoseConfig:
    """min_score: sigmoid score a detection needs in the whole frame (MediaPipe: 0.5), and
    tile_min_score in the smaller views (more views, more chances for a false one); nms_iou:
    weighted-NMS IoU within a view; tiles: also run on overlapping tiles."""

    min_score: float = MIN_SCORE
    tile_min_score: float = TILE_MIN_SCORE
    nms_iou: float = NMS_IOU
    tiles: bool = True
    tile_fraction: float = TILE_FRACTION
    tile_overlap: float = TILE_OVERLAP
    mid_views: bool = True


@dataclass(frozen=True)
class PoseDetections:
    """People found in one frame, in frame pixels.

    boxes (K, 4) square [x1, y1, x2, y2] for the tracker; scores (K,); rois (K, 5) rotated
    full-body ROIs [cx, cy, side, body_diameter, rotation]; keypoints (K, 4, 2) hip centre,
    full-body scale point, shoulder centre, upper-body scale point; face_boxes (K, 4).
    """

    boxes: np.ndarray
    scores: np.ndarray
    rois: np.ndarray
    keypoints: np.ndarray
    face_boxes: np.ndarray

    def as_array(self) -> np.ndarray:
        """(K, 5) float32 [x1, y1, x2, y2, score]: the ``Detector`` output."""
        return np.column_stack([self.boxes, self.scores]).astype(np.float32).reshape(-1, 5)


def axis_positions(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` pixels, evenly spread,
    neighbours overlapping by at least ``overlap`` x tile."""
    if tile >= length:
        return [0]
    count = int(np.ceil((length - tile) / (tile * (1.0 - overlap)))) + 1
    return [int(round(v)) for v in np.linspace(0, length - tile, count)]


def frame_views(height: int, width: int, config: BlazePoseConfig) -> np.ndarray:
    """(V, 3) square views [x0, y0, side] in frame pixels: the letterboxed whole frame first
    (MediaPipe's keep-aspect-ratio input, centred); with tiles, optionally squares of the
    shorter side along the longer one (``mid_views``), and tiles of ``tile_fraction`` x the
    shorter side (small people, close-ups), neighbours overlapping by ``tile_overlap``."""
    side = max(height, width)
    views = [((width - side) / 2, (height - side) / 2, side)]
    short = min(height, width)
    if not config.tiles or short < TILE_MIN_SIDE:
        return np.asarray(views, np.float64)
    sides = ((short,) if config.mid_views else ()) + (int(round(short * config.tile_fraction)),)
    for tile in sides:
        if tile == side:
            continue
        for y0 in axis_positions(height, tile, config.tile_overlap):
            for x0 in axis_positions(width, tile, config.tile_overlap):
                views.append((x0, y0, tile))
    return np.asarray(views, np.float64)


def view_pixels(rgb: np.ndarray, view: np.ndarray) -> np.ndarray:
    """The (224, 224, 3) uint8 pixels of one square view (black outside the frame)."""
    x0, y0, side = view
    s = INPUT_SIZE / side
    warp = np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])
    return cv2.warpAffine(rgb, warp, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def to_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (any shape) -> the network's float32 input in [-1, 1]."""
    out = pixels.astype(np.float32)
    out *= 2.0 / 255.0
    out -= 1.0
    return out


def view_input(rgb: np.ndarray, view: np.ndarray) -> np.ndarray:
    """The (224, 224, 3) float32 input in [-1, 1] for one square view (black outside the frame)."""
    return to_input(view_pixels(rgb, view))


def to_frame(dets: RawDetections, view: np.ndarray) -> RawDetections:
    """Detections normalised to a view -> frame pixels."""
    x0, y0, side = view
    offset = np.array([x0, y0])
    return RawDetections(
        dets.boxes * side + np.tile(offset, 2),
        dets.keypoints * side + offset,
        dets.scores,
    )


def same_person(kps: np.ndarray, others: np.ndarray, tolerance: float) -> np.ndarray:
    """Whether detections ``others`` (K, 4, 2) are the person ``kps`` (4, 2) by their pose:
    hip centres and shoulder centres both within ``tolerance`` x the smaller body diameter."""
    diam = 2 * np.linalg.norm(kps[FULL_BODY_SCALE] - kps[HIP_CENTRE])
    diams = 2 * np.linalg.norm(others[:, FULL_BODY_SCALE] - others[:, HIP_CENTRE], axis=1)
    limit = tolerance * np.minimum(diam, diams)
    hip = np.linalg.norm(others[:, HIP_CENTRE] - kps[HIP_CENTRE], axis=1)
    shoulder = np.linalg.norm(others[:, SHOULDER_CENTRE] - kps[SHOULDER_CENTRE], axis=1)
    return (hip <= limit) & (shoulder <= limit)


def same_face(box: np.ndarray, kps: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Whether the SSD boxes ``others`` (K, 4) sit on the face of the detection (``box``,
    ``kps``): centres closer than FACE_MERGE x its upper-body radius (shoulder centre to the
    upper-body scale point). Close-ups give several faces on one head in small views."""
    centre = (box[:2] + box[2:]) / 2
    centres = (others[:, :2] + others[:, 2:]) / 2
    radius = np.linalg.norm(kps[UPPER_BODY_SCALE] - kps[SHOULDER_CENTRE])
    return np.linalg.norm(centres - centre, axis=1) < FACE_MERGE * radius


def merge(per_view: list[RawDetections], tolerance: float = SAME_PERSON) -> RawDetections:
    """The views of one frame -> one detection per person.

    Visiting by decreasing score, each detection absorbs the others on the same face or in the
    same pose; its keypoints become the score-weighted mean of those in the same pose (a face
    seen by a view much smaller than the body gives a guessed body: it is dropped, not mixed
    in), its score the highest.
    """
    dets = [d for d in per_view if len(d)]
    if not dets:
        return RawDetections.empty()
    boxes = np.concatenate([d.boxes for d in dets])
    kps = np.concatenate([d.keypoints for d in dets])
    scores = np.concatenate([d.scores for d in dets])
    order = np.argsort(-scores, kind="stable")
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    out_b, out_k, out_s = [], [], []
    while len(scores):
        pose = same_person(kps[0], kps, tolerance)
        pose[0] = True
        gone = pose | same_face(boxes[0], kps[0], boxes)
        w = scores[pose][:, None, None]
        out_b.append(boxes[0])
        out_k.append((w * kps[pose]).sum(0) / w.sum())
        out_s.append(scores[0])
        boxes, kps, scores = boxes[~gone], kps[~gone], scores[~gone]
    return RawDetections(np.array(out_b), np.array(out_k), np.array(out_s))


def people_from(dets: RawDetections) -> PoseDetections:
    rois = rois_from_keypoints(dets.keypoints) if len(dets) else np.zeros((0, 5))
    return PoseDetections(
        boxes=roi_to_square_box(rois),
        scores=dets.scores.copy(),
        rois=rois,
        keypoints=dets.keypoints.copy(),
        face_boxes=dets.boxes.copy(),
    )


class BlazePoseDetector:
    """MediaPipe's BlazePose person detector, multi-person, with tiles (see module doc)."""

    name = "blazepose"

    def __init__(self, config: BlazePoseConfig = BlazePoseConfig(),
                 model_file: Path | str | None = None) -> None:
        self.model = TfliteModel(model_file or detector_path())
        self.config = config

    def detect(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [p.as_array() for p in self.detect_people(frames)]

    def detect_people(self, frames: Sequence[np.ndarray]) -> list[PoseDetections]:
        """BGR frames -> the people of each frame (all views of all frames batched)."""
        views = [frame_views(f.shape[0], f.shape[1], self.config) for f in frames]
        pixels = np.empty((sum(map(len, views)), INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        k = 0
        for frame, vs in zip(frames, views):
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            for v in vs:
                pixels[k] = view_pixels(rgb, v)
                k += 1
        raw = self.run(pixels) if len(pixels) else []
        out, k = [], 0
        for vs in views:
            per_view = [to_frame(self.view_detections(raw[k + i], i > 0), v)
                        for i, v in enumerate(vs)]
            k += len(vs)
            out.append(people_from(merge(per_view)))
        return out

    def view_detections(self, raw: RawDetections, tile: bool) -> RawDetections:
        """One view's decoded detections -> MediaPipe's weighted NMS, tile threshold applied."""
        if tile:
            raw = raw.select(raw.scores >= self.config.tile_min_score)
        return weighted_nms(raw, self.config.nms_iou)

    def run(self, inputs: np.ndarray) -> list[RawDetections]:
        """(N, 224, 224, 3) inputs (float32 in [-1, 1], or uint8 pixels: converted a batch at
        a time) -> per input its decoded detections (before NMS)."""
        result: list[RawDetections] = []
        for start in range(0, len(inputs), VIEW_BATCH):
            chunk = inputs[start:start + VIEW_BATCH]
            if chunk.dtype == np.uint8:
                chunk = to_input(chunk)
            boxes, scores = (unfold_batch(t, len(chunk)) for t in self.model.run(chunk))
            result += [decode(b, s, self.config.min_score) for b, s in zip(boxes, scores)]
        return result
