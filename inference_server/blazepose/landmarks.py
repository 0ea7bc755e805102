"""BlazePose "full" landmarks on rotated ROIs, as MediaPipe's pose_landmark_by_roi graph computes
them, batched across people (``pose_landmark_full.tflite`` from the mediapipe wheel).

Per ROI ([cx, cy, side, diameter, rotation] in frame pixels, see :mod:`.decode`): the rotated
square is warped to the 256x256 input (RGB in [0, 1], black outside the frame); the network
gives 39 landmarks (33 body + 2 auxiliary for the next ROI + 4 unused) as [x, y, z, visibility,
presence] logits in input pixels, a pose-presence score, a 64x64 heatmap per landmark and 39
world landmarks (metres, hip-centred). As MediaPipe: visibility = sigmoid, image landmarks are
refined on the heatmap (7x7 window, confidence >= 0.5), projected back through the ROI, and
world landmarks are turned by the ROI's rotation. The next frame's ROI comes from the two
auxiliary landmarks exactly as a detection's does (:func:`.decode.rois_from_keypoints`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .decode import rois_from_keypoints
from .model import TfliteModel, landmark_path

INPUT_SIZE = 256
NUM_BODY = 33
NUM_OUT = 39
#: auxiliary landmarks (hip centre, full-body scale point) that give the next frame's ROI
AUX = (33, 34)
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
#: MediaPipe's pose-presence threshold (min_tracking_confidence)
MIN_PRESENCE = 0.5
#: ROIs per network call
ROI_BATCH = 16


@dataclass(frozen=True)
class PoseLandmarks:
    """Landmarks of B people (one ROI each).

    image (B, 33, 3) [x, y, z] frame pixels (z in pixels of the ROI scale, as MediaPipe's);
    visibility (B, 33) 0..1; world (B, 33, 3) metres, hip-centred, camera axes;
    presence (B,) pose-presence score; next_rois (B, 5) the ROI the landmarks give for the next
    frame.
    """

    image: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    presence: np.ndarray
    next_rois: np.ndarray

    @property
    def found(self) -> np.ndarray:
        return self.presence >= MIN_PRESENCE


def roi_matrix(roi: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(2, 3) affine map from frame pixels to the ``size`` x ``size`` input of a rotated ROI."""
    cx, cy, side, _diam, rotation = roi
    c, s = np.cos(rotation), np.sin(rotation)
    scale = size / side
    # input = scale * R(-rotation) (p - centre) + size / 2
    rot = np.array([[c, s], [-s, c]]) * scale
    return np.column_stack([rot, np.array([size / 2, size / 2]) - rot @ np.array([cx, cy])])


def to_frame(points: np.ndarray, roi: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(..., 2) input pixels of a ROI -> frame pixels."""
    cx, cy, side, _diam, rotation = roi
    c, s = np.cos(rotation), np.sin(rotation)
    local = (np.asarray(points, np.float64) - size / 2) * (side / size)
    return np.stack([c * local[..., 0] - s * local[..., 1] + cx,
                     s * local[..., 0] + c * local[..., 1] + cy], axis=-1)


def roi_input(rgb: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """The (256, 256, 3) float32 input in [0, 1] of one rotated ROI; outside the frame the edge
    pixels are repeated (MediaPipe's default border for the landmark input)."""
    img = cv2.warpAffine(rgb, roi_matrix(roi), (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return img.astype(np.float32) * (1.0 / 255.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def refine_on_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator for one person: xy (39, 2) normalised
    to the input, heatmap (64, 64, 39) logits -> refined xy (39, 2)."""
    hm_h, hm_w, _ = heatmap.shape
    out = xy.copy()
    off = (HEATMAP_KERNEL - 1) // 2
    for i in range(min(len(xy), heatmap.shape[2])):
        col, row = int(xy[i, 0] * hm_w), int(xy[i, 1] * hm_h)
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r0, r1 = max(0, row - off), min(hm_h, row + off + 1)
        c0, c1 = max(0, col - off), min(hm_w, col + off + 1)
        conf = sigmoid(heatmap[r0:r1, c0:c1, i])
        if conf.max() < HEATMAP_MIN_CONFIDENCE or conf.sum() <= 0:
            continue
        rows, cols = np.mgrid[r0:r1, c0:c1]
        out[i, 0] = (conf * cols).sum() / conf.sum() / hm_w
        out[i, 1] = (conf * rows).sum() / conf.sum() / hm_h
    return out


class LandmarkModel:
    """``pose_landmark_full.tflite`` on rotated ROIs of a frame, batched."""

    def __init__(self, model_file: Path | str | None = None) -> None:
        self.model = TfliteModel(model_file or landmark_path())

    def run(self, frame_bgr: np.ndarray, rois: np.ndarray) -> PoseLandmarks:
        """One frame and (B, 5) ROIs -> the landmarks of each ROI's person."""
        rois = np.asarray(rois, np.float64).reshape(-1, 5)
        if len(rois) == 0:
            z = np.zeros((0, NUM_BODY))
            return PoseLandmarks(np.zeros((0, NUM_BODY, 3)), z, np.zeros((0, NUM_BODY, 3)),
                                 np.zeros(0), np.zeros((0, 5)))
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        inputs = np.stack([roi_input(rgb, r) for r in rois])
        parts = [self.model.run(inputs[s:s + ROI_BATCH]) for s in range(0, len(rois), ROI_BATCH)]
        raw, flag, _seg, heat, world = (np.concatenate([p[k] for p in parts]) for k in range(5))
        return self.decode(raw, flag, heat, world, rois)

    @staticmethod
    def decode(raw: np.ndarray, flag: np.ndarray, heat: np.ndarray, world: np.ndarray,
               rois: np.ndarray) -> PoseLandmarks:
        n = len(rois)
        raw = raw.reshape(n, NUM_OUT, 5).astype(np.float64)
        world = world.reshape(n, NUM_OUT, 3).astype(np.float64)[:, :NUM_BODY]
        image = np.zeros((n, NUM_BODY, 3))
        next_rois = np.zeros((n, 5))
        for b in range(n):
            xy = refine_on_heatmap(raw[b, :, :2] / INPUT_SIZE, heat[b]) * INPUT_SIZE
            frame_xy = to_frame(xy, rois[b])
            image[b, :, :2] = frame_xy[:NUM_BODY]
            image[b, :, 2] = raw[b, :NUM_BODY, 2] * rois[b, 2] / INPUT_SIZE
            next_rois[b] = rois_from_keypoints(frame_xy[None, list(AUX)])[0]
            c, s = np.cos(rois[b, 4]), np.sin(rois[b, 4])
            wx, wy = world[b, :, 0].copy(), world[b, :, 1].copy()
            world[b, :, 0], world[b, :, 1] = c * wx - s * wy, s * wx + c * wy
        presence = np.asarray(flag, np.float64).reshape(n)
        return PoseLandmarks(image, sigmoid(raw[:, :NUM_BODY, 3]), world, presence, next_rois)
