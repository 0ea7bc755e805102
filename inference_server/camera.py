"""From the crop camera to the full video frame: focal length and camera-space translation.

GLoT (like SPIN/VIBE) predicts a weak-perspective *crop* camera ``[s, tx, ty]``: a model-space
point ``X`` (SMPL joints, no translation) lands at ``s * (X_xy + [tx, ty])`` in the crop's
normalised coordinates, the crop spanning [-1, 1] over ``b = CROP_SCALE * box side`` pixels.
Equivalently (the training projection) a perspective camera with focal 5000 px at 224 px and
depth ``2 * 5000 / (224 s)``.

Put into the full frame with a pinhole camera of focal ``f`` px and principal point at the
image centre ``(W/2, H/2)``, the same point must land at the same pixel, which gives
(derivation in docs/motion-clip.md)::

    Tz = 2 f / (s b)
    Tx = tx + 2 (cx - W/2) / (s b)
    Ty = ty + 2 (cy - H/2) / (s b)

``T`` is the SMPL ``transl`` (metres, camera frame: x right, y down, z forward): a posed
joint's camera-space position is ``joints3d + T``.
"""

from __future__ import annotations

import math

import numpy as np

from .crop import CROP_SCALE
from .errors import InvalidRequestError

#: default field of view, in degrees, across the LONGER image side (a typical phone main
#: camera or webcam in video mode: 60-70 degrees); used when neither fov_deg nor focal_px is set
DEFAULT_FOV_DEG = 60.0
#: the smallest crop-camera scale accepted before the depth is clamped (avoids divide-by-zero)
MIN_CAM_SCALE = 1e-3
#: plausible field-of-view range accepted from users, degrees
FOV_RANGE_DEG = (1.0, 179.0)
#: plausible focal-length range accepted from users, pixels
FOCAL_RANGE_PX = (1.0, 1.0e6)


def in_range(value: float, bounds: tuple[float, float]) -> bool:
    """True for a finite number within ``bounds`` (inclusive); False for anything else (NaN,
    infinity, an integer too large for a float, not a number)."""
    try:
        return math.isfinite(value) and bounds[0] <= value <= bounds[1]
    except (TypeError, OverflowError):
        return False


def _check_fov(fov_deg: float) -> None:
    lo, hi = FOV_RANGE_DEG
    if not in_range(fov_deg, FOV_RANGE_DEG):
        raise InvalidRequestError(
            f"fov_deg {fov_deg!r:.40} is outside {lo:g}..{hi:g} degrees: give the camera's field of "
            "view across the longer image side (about 60-70 for phones and webcams)"
        )


def check_camera(fov_deg: float | None = None, focal_px: float | None = None) -> None:
    """Refuse a camera the user described wrongly (both given, or out of range) with
    :class:`InvalidRequestError`; AnalyzeOptions and :func:`resolve_focal` ask this."""
    if focal_px is not None and fov_deg is not None:
        raise InvalidRequestError("give either focal_px or fov_deg, not both")
    if fov_deg is not None:
        _check_fov(fov_deg)
    lo, hi = FOCAL_RANGE_PX
    if focal_px is not None and not in_range(focal_px, FOCAL_RANGE_PX):
        raise InvalidRequestError(
            f"focal_px must be a focal length between {lo:g} and {hi:g} pixels, "
            f"got {focal_px!r:.40}"
        )


def focal_from_fov(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Focal length in pixels for a field of view ``fov_deg`` across the longer image side."""
    _check_fov(fov_deg)
    return 0.5 * max(width, height) / math.tan(math.radians(fov_deg) * 0.5)


def resolve_focal(
    width: int, height: int, fov_deg: float | None = None, focal_px: float | None = None
) -> float:
    """The focal length to use: ``focal_px`` if given, else from ``fov_deg`` or the default FOV."""
    check_camera(fov_deg, focal_px)
    if focal_px is not None:
        return float(focal_px)
    return focal_from_fov(width, height, DEFAULT_FOV_DEG if fov_deg is None else fov_deg)


def crop_cam_to_transl(
    cam_crop: np.ndarray,
    bboxes: np.ndarray,
    width: int,
    height: int,
    focal_px: float,
    crop_scale: float = CROP_SCALE,
) -> np.ndarray:
    """Camera-space SMPL translation (N, 3) metres from crop cameras and boxes.

    cam_crop: (N, 3) ``[s, tx, ty]``; bboxes: (N, 4) tracker boxes ``[cx, cy, w, h]`` pixels
    (before the crop enlargement; the crop side is ``crop_scale * max(w, h)``).
    """
    cam = np.asarray(cam_crop, dtype=np.float64).reshape(-1, 3)
    box = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    side = crop_scale * np.maximum(box[:, 2], box[:, 3])
    s_b = np.maximum(cam[:, 0], MIN_CAM_SCALE) * side
    tz = 2.0 * focal_px / s_b
    tx = cam[:, 1] + 2.0 * (box[:, 0] - 0.5 * width) / s_b
    ty = cam[:, 2] + 2.0 * (box[:, 1] - 0.5 * height) / s_b
    return np.stack([tx, ty, tz], axis=1).astype(np.float32)


def convert_crop_cam_to_orig_img(
    cam: np.ndarray, bbox: np.ndarray, img_width: int, img_height: int
) -> np.ndarray:
    """The demo's ``convert_crop_cam_to_orig_img``: (N, 4) ``[sx, sy, tx', ty']``.

    cam: (N, 3) ``[s, tx, ty]``; bbox: (N, 4) ``[cx, cy, h, h]`` with the side ALREADY
    multiplied by the crop scale (the demo does ``bboxes[:, 2:] *= 1.2`` first).
    A weak-perspective camera over the whole image; ``tx'``, ``ty'`` equal the ``Tx``, ``Ty``
    of :func:`crop_cam_to_transl`.
    """
    cam = np.asarray(cam, dtype=np.float64).reshape(-1, 3)
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    cx, cy, h = bbox[:, 0], bbox[:, 1], bbox[:, 2]
    hw, hh = img_width / 2.0, img_height / 2.0
    sx = cam[:, 0] * (1.0 / (img_width / h))
    sy = cam[:, 0] * (1.0 / (img_height / h))
    tx = ((cx - hw) / hw / sx) + cam[:, 1]
    ty = ((cy - hh) / hh / sy) + cam[:, 2]
    return np.stack([sx, sy, tx, ty], axis=1)


def transl_to_crop_cam(
    transl: np.ndarray,
    bboxes: np.ndarray,
    width: int,
    height: int,
    focal_px: float,
    crop_scale: float = CROP_SCALE,
) -> np.ndarray:
    """The inverse of :func:`crop_cam_to_transl`: (N, 3) ``[s, tx, ty]`` from camera-space
    translations (N, 3) and the same boxes (used after the temporal solver moved the body)."""
    t = np.asarray(transl, dtype=np.float64).reshape(-1, 3)
    box = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    side = crop_scale * np.maximum(box[:, 2], box[:, 3])
    s_b = 2.0 * focal_px / np.maximum(t[:, 2], 1e-6)
    tx = t[:, 0] - 2.0 * (box[:, 0] - 0.5 * width) / s_b
    ty = t[:, 1] - 2.0 * (box[:, 1] - 0.5 * height) / s_b
    return np.stack([s_b / side, tx, ty], axis=1).astype(np.float32)
