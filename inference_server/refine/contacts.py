"""Which frames a foot is planted in: the rule the solver's zero-velocity term follows.

A foot (SMPL ankle and toe joints) is in contact in frame t when all of these hold:

1. **still in the image**: its 2D keypoints (ankle, heel, toe; the median of their speeds)
   move slower than ``max_2d_speed`` body heights per second (skipped where the keypoints are
   unseen, and entirely when the track has no 2D evidence): a loose gate, since keypoints are
   noisy;
2. **still in 3D**: its joints (ankle and toe) in the solver's first-pass camera-space motion
   (already fitted to the 2D evidence and smoothed) move slower than ``max_3d_speed`` metres
   per second;
3. **low**: it is no higher than ``max_lift`` metres above the lower foot (a raised foot
   held still, as in a kick, is not planted);
4. the contact lasts at least ``min_frames`` frames.

Speeds are central differences of positions smoothed by a Gaussian of ``smooth_s`` seconds
(``smooth_2d_s`` for the keypoints), so that frame-to-frame jitter does not hide a planted foot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..lite import landmarks as lm
from .body import FOOT_JOINTS

#: BlazePose landmarks of the left and the right foot (ankle, heel, toe)
FOOT_LANDMARKS = (
    (lm.LEFT_ANKLE, lm.LEFT_HEEL, lm.LEFT_FOOT_INDEX),
    (lm.RIGHT_ANKLE, lm.RIGHT_HEEL, lm.RIGHT_FOOT_INDEX),
)
#: keypoint confidence under which a foot landmark counts as unseen
MIN_KEYPOINT_CONFIDENCE = 0.5


@dataclass(frozen=True)
class ContactRule:
    """Thresholds of the contact rule (module docstring)."""

    max_2d_speed: float = 0.6
    max_3d_speed: float = 0.5
    max_lift: float = 0.08
    min_frames: int = 3
    smooth_s: float = 0.06
    smooth_2d_s: float = 0.1


def _speed(points: np.ndarray, fps: float, smooth_frames: float) -> np.ndarray:
    """(N, ...) speed per frame (units/s) of (N, ..., D) points, smoothed then differenced."""
    if len(points) < 3:
        return np.zeros(points.shape[:-1])
    smooth = gaussian_filter1d(points, smooth_frames, axis=0, mode="nearest") if smooth_frames > 0 else points
    vel = np.gradient(smooth, axis=0) * fps
    return np.linalg.norm(vel, axis=-1)


def _drop_short(mask: np.ndarray, min_frames: int) -> np.ndarray:
    """Remove runs of True shorter than ``min_frames``."""
    out = mask.copy()
    start = None
    for t, value in enumerate(np.append(mask, False)):
        if value and start is None:
            start = t
        elif not value and start is not None:
            if t - start < min_frames:
                out[start:t] = False
            start = None
    return out


def foot_contacts(joints: np.ndarray, keypoints: np.ndarray | None, height_px: np.ndarray,
                  fps: float, rule: ContactRule = ContactRule()) -> np.ndarray:
    """(N, 2) bool [left, right] contact per frame.

    joints (N,24,3) camera-space posed joints, metres (y down); keypoints (N,33,3) pixel x, y
    and confidence, or None; height_px (N,) the person's height in pixels per frame.
    """
    n = len(joints)
    sigma = rule.smooth_s * fps
    contacts = np.zeros((n, 2), bool)
    # y grows downwards: the lower foot has the larger y
    foot_y = np.stack([joints[:, list(pair), 1].max(axis=1) for pair in FOOT_JOINTS], axis=1)
    lowest = foot_y.max(axis=1)
    for side, pair in enumerate(FOOT_JOINTS):
        still = _speed(joints[:, list(pair)], fps, sigma).max(axis=1) < rule.max_3d_speed
        low = foot_y[:, side] >= lowest - rule.max_lift
        ok = still & low
        if keypoints is not None:
            kp = keypoints[:, list(FOOT_LANDMARKS[side])]
            seen = (kp[..., 2] >= MIN_KEYPOINT_CONFIDENCE).all(axis=1)
            speed = _speed(kp[..., :2] / np.maximum(height_px, 1.0)[:, None, None], fps,
                           rule.smooth_2d_s * fps)
            ok &= np.where(seen, np.median(speed, axis=1) < rule.max_2d_speed, True)
        contacts[:, side] = _drop_short(ok, rule.min_frames)
    return contacts
