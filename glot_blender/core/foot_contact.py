"""Foot contact detection and foot locking by adjusting the root (numpy only).

Positions are in a z-up world (Blender world, metres). Contacts come from foot height above
an estimated floor and foot speed; the lock removes the horizontal sliding of planted feet by
changing the root's horizontal velocity while a foot is in contact, so the body keeps its pose
and only its root trajectory changes (continuous, no jumps when a foot lifts).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .kinematics import CAMERA_TO_BLENDER, camera_to_blender, forward_kinematics
from .motion_clip import TrackMotion
from .smpl_skeleton import JOINT_NAMES

#: (ankle, toe) SMPL joint indices of the left and the right foot
FOOT_JOINTS = (
    (JOINT_NAMES.index("left_ankle"), JOINT_NAMES.index("left_foot")),
    (JOINT_NAMES.index("right_ankle"), JOINT_NAMES.index("right_foot")),
)
#: fewer slow foot samples than this and the floor is taken as horizontal
MIN_FLOOR_SAMPLES = 12
#: robust plane fit: refits after dropping samples this far above the plane (m)
FLOOR_INLIER_M = 0.04


@dataclass(frozen=True)
class FootContactOptions:
    """height_m: a foot joint closer than this to the floor (per joint: ankle and toe have
    their own floor level) can be in contact; speed_mps: and slower than this (m/s);
    min_frames: shorter contacts or gaps are removed; floor_percentile: the floor level of a
    joint is this percentile of its heights; blend_frames: contact weight ramps in/out over
    this many frames when locking; fit_floor_plane: fit a tilted floor (a camera looking down)
    instead of assuming a horizontal one."""

    height_m: float = 0.05
    speed_mps: float = 0.6
    min_frames: int = 3
    floor_percentile: float = 5.0
    blend_frames: int = 2
    fit_floor_plane: bool = True


@dataclass
class Contacts:
    """contacts (F, 2) bool [left, right]; floor (3,) plane z = a*x + b*y + c as (a, b, c)."""

    contacts: np.ndarray
    floor: np.ndarray


def _floor_plane(points: np.ndarray, slow: np.ndarray, options: FootContactOptions) -> np.ndarray:
    """Fit z = a x + b y + c to the lowest slow foot samples; (3,) coefficients."""
    z = points[..., 2]
    low = slow & (z <= np.percentile(z, 50))
    if not options.fit_floor_plane or low.sum() < MIN_FLOOR_SAMPLES:
        return np.array([0.0, 0.0, float(np.percentile(z, options.floor_percentile))])
    pts = points[low]
    coef = np.array([0.0, 0.0, 0.0])
    for _ in range(3):
        a = np.stack([pts[:, 0], pts[:, 1], np.ones(len(pts))], -1)
        coef = np.linalg.lstsq(a, pts[:, 2], rcond=None)[0]
        resid = pts[:, 2] - a @ coef
        keep = resid < FLOOR_INLIER_M
        if keep.sum() < MIN_FLOOR_SAMPLES or keep.all():
            break
        pts = pts[keep]
    return coef


def _heights(points: np.ndarray, floor: np.ndarray) -> np.ndarray:
    return points[..., 2] - (floor[0] * points[..., 0] + floor[1] * points[..., 1] + floor[2])


def _speeds(points: np.ndarray, fps: float) -> np.ndarray:
    """(F, ...) speed in m/s from central differences."""
    return np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps


def _drop_short_runs(mask: np.ndarray, value: bool, min_len: int) -> np.ndarray:
    """Flip runs of ``value`` shorter than min_len in a 1-D bool array (interior runs only
    for gaps, all runs for contacts)."""
    out = mask.copy()
    n = len(mask)
    runs = np.concatenate([[False], mask == value, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(runs))
    for start, stop in zip(edges[::2], edges[1::2]):
        interior = start > 0 and stop < n
        if stop - start < min_len and (value or interior):
            out[start:stop] = not value
    return out


def detect_contacts(joints: np.ndarray, fps: float, options: FootContactOptions | None = None) -> Contacts:
    """Foot contacts of world joints (F, 24, 3) z-up: (F, 2) for the left and right foot."""
    options = options or FootContactOptions()
    feet = np.asarray(joints, dtype=np.float64)[:, np.array(FOOT_JOINTS)]  # (F, 2, 2, 3)
    speed = _speeds(feet, fps)
    slow = speed < options.speed_mps
    toe_floor = _floor_plane(feet[:, :, 1], slow[:, :, 1], options)
    heights = _heights(feet, toe_floor)
    # each joint type (ankle, toe) sits at its own level above the floor when planted
    level = np.percentile(heights, options.floor_percentile, axis=(0, 1))  # (2,)
    near = heights - level < options.height_m
    contact = np.any(near & slow, axis=-1)  # (F, 2)
    for side in range(2):
        c = _drop_short_runs(contact[:, side], False, options.min_frames)
        contact[:, side] = _drop_short_runs(c, True, options.min_frames)
    return Contacts(contact, toe_floor)


def _contact_weights(contacts: np.ndarray, blend: int) -> np.ndarray:
    """(F, 2) soft weights in [0, 1]: 1 inside contacts, ramping down near their edges."""
    w = contacts.astype(np.float64)
    if blend <= 0:
        return w
    kernel = np.ones(2 * blend + 1) / (2 * blend + 1)
    soft = np.stack([np.convolve(np.pad(w[:, s], blend, mode="edge"), kernel, "valid")
                     for s in range(w.shape[1])], -1)
    return np.minimum(w, soft)


def lock_feet(joints: np.ndarray, root: np.ndarray, contacts: np.ndarray,
              options: FootContactOptions | None = None) -> np.ndarray:
    """New root positions (F, 3) removing horizontal foot sliding during contacts.

    joints (F, 24, 3) world z-up (including the root motion); root (F, 3) the matching root
    positions; contacts (F, 2) from :func:`detect_contacts`. The root's horizontal step at
    frame t loses the (weighted, averaged over planted feet) horizontal step of the planted
    foot joints, so planted feet stay where they landed. Vertical motion is unchanged.
    """
    options = options or FootContactOptions()
    joints = np.asarray(joints, dtype=np.float64)
    root = np.asarray(root, dtype=np.float64)
    feet = joints[:, np.array(FOOT_JOINTS)].mean(axis=2)  # (F, 2, 3) mid-foot
    step = np.diff(feet, axis=0)  # (F-1, 2, 3)
    w = _contact_weights(contacts, options.blend_frames)
    w_step = np.minimum(w[1:], w[:-1])  # both ends of the step planted
    total = w_step.sum(axis=1, keepdims=True)
    share = np.where(total > 0, w_step / np.maximum(total, 1e-12), 0.0)
    strength = np.minimum(total, 1.0)
    foot_step = np.einsum("fs,fsc->fc", share, step) * strength
    correction = np.zeros_like(root)
    correction[1:, :2] = -np.cumsum(foot_step[:, :2], axis=0)
    return root + correction


def foot_slide(joints: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal distance (m per frame) the planted feet move between planted frames."""
    feet = np.asarray(joints, dtype=np.float64)[:, np.array(FOOT_JOINTS)].mean(axis=2)
    step = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1)  # (F-1, 2)
    planted = contacts[1:] & contacts[:-1]
    return float(step[planted].mean()) if planted.any() else 0.0


def track_world_joints(track: TrackMotion) -> np.ndarray:
    """World joints (F, 24, 3) of a motion clip track in Blender world (z up)."""
    fk = forward_kinematics(track.rest_joints, track.poses, track.transl)
    return camera_to_blender(None, fk.joints)[1]


def lock_track_feet(track: TrackMotion, fps: float,
                    options: FootContactOptions | None = None) -> tuple[TrackMotion, Contacts]:
    """A copy of ``track`` with its camera-space ``transl`` adjusted so planted feet do not
    slide (pure: the input track is unchanged), and the contacts found."""
    joints = track_world_joints(track)
    contacts = detect_contacts(joints, fps, options)
    root = joints[:, 0]
    new_root = lock_feet(joints, root, contacts.contacts, options)
    transl = track.transl + (new_root - root) @ CAMERA_TO_BLENDER  # C^T @ delta, per row
    return dataclasses.replace(track, transl=transl.astype(np.float32)), contacts
