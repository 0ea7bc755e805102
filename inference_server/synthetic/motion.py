"""Procedural SMPL motion with known ground truth, for the temporal solver's tests and benchmark.

``make_track(kind, ...)`` builds one person on the synthetic SMPL body
(:mod:`inference_server.synthetic.smpl_body`, rest joints linear in ``betas``) doing a walk,
a squat, a kick or arm swings, seen by a known pinhole camera; feet that carry the body stay
exactly planted (the root translation is solved so), and those frames are the ground-truth
contacts. ``corrupt(track, prior, ...)`` then makes what a backend and BlazePose would give:

* 2D keypoints: the BlazePose landmarks (:mod:`inference_server.lite.landmarks`) projected,
  with Gaussian noise (sigma a share of the person's height), dropped frames (confidence 0,
  marked filled) and a few gross outliers;
* a 3D prior: every joint rotation jittered by 3-9 degrees per frame, the root translation
  scaled by a depth error (so the body's image position holds but its size does not) and
  shifted sideways, and the skeleton off: bone lengths by a few percent ("lite") or per-frame
  betas scattered around the truth ("glot").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glot_blender.core.kinematics import forward_kinematics
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from glot_blender.core.smpl_skeleton import PARENTS

from ..lite import landmarks as lm
from .smpl_body import make_smpl_arrays

MOTIONS = ("walk", "squat", "kick", "arms")
PRIORS = ("lite", "glot")
#: the ground-truth person's shape
TRUE_BETAS = np.array([0.8, 0.4, -0.3, 0.2, 0.0, 0.1, -0.1, 0.0, 0.05, 0.0])


@dataclass
class SyntheticTrack:
    """Ground truth of one person (N frames) and the camera that sees them.

    local (N,24,3,3) local rotations, root in the camera frame; transl (N,3) camera-space
    SMPL translation; joints (N,24,3) camera-space posed joints; world (N,24,3,3) world
    rotations; rest (24,3); betas (10,); contacts (N,2) planted feet [left, right].
    """

    kind: str
    fps: float
    focal_px: float
    width: int
    height: int
    local: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    world: np.ndarray
    rest: np.ndarray
    betas: np.ndarray
    contacts: np.ndarray

    @property
    def height_px(self) -> np.ndarray:
        """(N,) the person's standing height in pixels at each frame's depth."""
        tall = float(self.rest[:, 1].max() - self.rest[:, 1].min())
        return self.focal_px * tall / self.joints[:, 0, 2]

    def keypoints(self) -> np.ndarray:
        """(N,33,2) exact BlazePose landmark pixels."""
        from ..refine.body import offset_scale

        pts = lm.landmarks_from_pose(self.joints, self.world, offset_scale(self.rest))
        return project(pts, self.focal_px, self.width, self.height)


@dataclass
class CorruptedTrack:
    """What the solver gets: prior motion (axis-angle) and 2D keypoints (N,33,3) px + conf."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    rest_joints: np.ndarray
    joints3d: np.ndarray
    betas: np.ndarray
    keypoints: np.ndarray
    filled: np.ndarray


def project(points: np.ndarray, focal: float, width: int, height: int) -> np.ndarray:
    return points[..., :2] / points[..., 2:3] * focal + np.array([width / 2.0, height / 2.0])


def shape_basis_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(j0 (24,3), dirs (24,3,10)) of the synthetic body: rest = j0 + dirs @ betas."""
    arrays = make_smpl_arrays(seed)
    reg = arrays["J_regressor"]
    j0 = reg @ arrays["v_template"]
    dirs = np.einsum("jv,vcb->jcb", reg, arrays["shapedirs"])
    return j0, dirs


def _rx(a):
    return axis_angle_to_matrix(np.stack([a, 0 * a, 0 * a], -1))


def _ry(a):
    return axis_angle_to_matrix(np.stack([0 * a, a, 0 * a], -1))


def _rz(a):
    return axis_angle_to_matrix(np.stack([0 * a, 0 * a, a], -1))


def _bump(s):
    return 0.5 - 0.5 * np.cos(2 * np.pi * s)


def _arms(local, lower, swing_l, swing_r, elbow):
    """Arms lowered by ``lower`` rad from the T-pose, swung forward (negative) / back."""
    local[:, lm.L_SHOULDER] = _rx(swing_l) @ _rz(-lower)
    local[:, lm.R_SHOULDER] = _rx(swing_r) @ _rz(lower)
    local[:, lm.L_ELBOW] = _ry(-elbow)
    local[:, lm.R_ELBOW] = _ry(elbow)


def _leg(local, side, thigh, knee, flat_foot=True, root_pitch=0.0):
    """A sagittal leg: thigh angle (positive forward, relative to the root), knee flexion;
    the ankle keeps the foot flat on the ground."""
    hip, kn, ank = ((lm.L_HIP, lm.L_KNEE, lm.L_ANKLE), (lm.R_HIP, lm.R_KNEE, lm.R_ANKLE))[side]
    local[:, hip] = _rx(-thigh)
    local[:, kn] = _rx(knee)
    if flat_foot:
        local[:, ank] = _rx(thigh - knee - root_pitch)


def _pose_script(kind: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-frame local rotations (N,24,3,3) and the stance weight per foot (N,2)."""
    n = len(t)
    local = np.tile(np.eye(3), (n, 24, 1, 1))
    stance = np.zeros((n, 2))
    root_pitch = np.zeros(n)
    if kind == "walk":
        period = 1.1
        phase = (t / period) % 1.0
        left_stance = phase < 0.5
        s = np.where(left_stance, phase, phase - 0.5) * 2.0  # 0..1 within the half cycle
        amp = 0.35
        stance_thigh = amp * np.cos(np.pi * s)
        swing_thigh = -amp * np.cos(np.pi * s)
        swing_knee = 1.0 * np.sin(np.pi * s) ** 2
        for side, is_stance in ((0, left_stance), (1, ~left_stance)):
            thigh = np.where(is_stance, stance_thigh, swing_thigh)
            knee = np.where(is_stance, 0.05 * np.sin(np.pi * s), swing_knee)
            _leg(local, side, thigh, knee)
            stance[:, side] = is_stance
        swing = 0.35 * np.where(left_stance, np.cos(np.pi * s), -np.cos(np.pi * s))
        _arms(local, np.full(n, 1.35), swing, -swing, np.full(n, 0.3))
    elif kind == "squat":
        k = _bump(t / 2.4)
        root_pitch = 0.5 * k
        local[:, 0] = _rx(root_pitch)
        for side in (0, 1):
            _leg(local, side, 1.6 * k, 1.9 * k, root_pitch=root_pitch)
        stance[:] = 1.0
        _arms(local, 1.35 * (1 - k), -1.2 * k, -1.2 * k, 0.2 + 0.2 * k)
    elif kind == "kick":
        s = (t / 1.6) % 1.0
        up = _bump(s)
        _leg(local, 0, 1.3 * up, 1.4 * np.sin(np.pi * s) ** 4 + 0.1, flat_foot=False)
        local[:, lm.L_ANKLE] = _rx(0.3 * up)
        _leg(local, 1, np.zeros(n), np.zeros(n))
        stance[:, 1] = 1.0
        stance[:, 0] = up < 1e-3
        _arms(local, 0.6 + 0.3 * up, 0.4 * up, -0.4 * up, 0.5 * up)
    elif kind == "arms":
        w = 2 * np.pi * t / 1.8
        _arms(local, 0.9 + 0.6 * np.sin(w), -0.8 * np.sin(0.5 * w), 0.8 * np.sin(0.5 * w),
              0.8 * _bump(t / 1.2))
        local[:, lm.SPINE2] = _ry(0.25 * np.sin(0.5 * w))
        stance[:] = 1.0
    else:
        raise ValueError(f"unknown motion '{kind}': choose one of {', '.join(MOTIONS)}")
    return local, stance, root_pitch


def _planted_transl(rest: np.ndarray, local: np.ndarray, stance: np.ndarray) -> np.ndarray:
    """Model-frame root translation (N,3) that keeps the carrying foot's ankle in place."""
    joints = forward_kinematics(rest, local).joints
    ankles = joints[:, [lm.L_ANKLE, lm.R_ANKLE]]
    transl = np.zeros((len(local), 3))
    anchor = None
    carrier = -1
    for f in range(len(local)):
        both = stance[f].all()
        side = int(np.argmax(stance[f])) if stance[f].any() else carrier
        point = ankles[f].mean(0) if both else ankles[f, max(side, 0)]
        key = 2 if both else side
        if anchor is None or key != carrier:
            anchor = point + (transl[f - 1] if f else 0.0)
            carrier = key
        transl[f] = anchor - point
    return transl


def make_track(kind: str, num_frames: int = 90, fps: float = 30.0, yaw_deg: float = 60.0,
               depth: float = 4.5, width: int = 1280, height: int = 720, fov_deg: float = 60.0,
               betas: np.ndarray = TRUE_BETAS) -> SyntheticTrack:
    """One person doing ``kind`` (see MOTIONS), seen from ``yaw_deg`` at ``depth`` metres."""
    j0, dirs = shape_basis_arrays()
    rest = j0 + dirs @ np.asarray(betas, np.float64)
    t = np.arange(num_frames) / fps
    local, stance, _ = _pose_script(kind, t)
    transl_model = _planted_transl(rest, local, stance)
    # camera from the model frame: upside down (y down) and turned by the yaw
    cam = _rx(np.array([np.pi]))[0] @ _ry(np.array([np.radians(yaw_deg)]))[0]
    local[:, 0] = cam @ local[:, 0]
    centre = transl_model.mean(0)
    transl = (transl_model - centre + rest[0]) @ cam.T - rest[0] + np.array([0.0, -0.1, depth])
    fk = forward_kinematics(rest, local, transl)
    focal = 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2)
    contacts = stance.astype(bool)
    return SyntheticTrack(kind, fps, float(focal), width, height, local, transl, fk.joints,
                          fk.rotations, rest, np.asarray(betas, np.float64), contacts)


def _jitter(rng: np.random.Generator, shape: tuple[int, ...], lo_deg: float, hi_deg: float) -> np.ndarray:
    axis = rng.normal(size=(*shape, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.radians(rng.uniform(lo_deg, hi_deg, shape))
    return axis_angle_to_matrix(axis * angle[..., None])


def corrupt(track: SyntheticTrack, prior: str = "lite", seed: int = 0, noise: float = 0.02,
            jitter_deg: tuple[float, float] = (3.0, 9.0), depth_error: float = 0.08,
            drop_runs: int = 2, outlier_share: float = 0.02) -> CorruptedTrack:
    """A backend's prior and BlazePose's keypoints for ``track`` (module docstring)."""
    if prior not in PRIORS:
        raise ValueError(f"unknown prior '{prior}': choose one of {', '.join(PRIORS)}")
    rng = np.random.default_rng(seed)
    n = len(track.local)
    local = track.local @ _jitter(rng, (n, 24), *jitter_deg)
    j0, dirs = shape_basis_arrays()
    if prior == "glot":
        betas = track.betas + rng.normal(0.0, 0.3, (n, 10))
        rest = j0 + dirs @ betas.mean(0)
    else:
        betas = np.zeros((n, 10))
        scale = 1.0 + rng.uniform(-0.06, 0.06, 24)  # every bone a few percent off
        rest = track.rest.copy()
        for j in range(1, 24):
            p = PARENTS[j]
            rest[j] = rest[p] + scale[j] * (track.rest[j] - track.rest[p])
    factor = 1.0 + depth_error + 0.03 * rng.normal(size=(n, 1))
    root = track.transl + track.rest[0]
    transl = root * factor - rest[0] + np.array([0.06, 0.03, 0.0])
    joints = forward_kinematics(rest, local).joints
    aa = matrix_to_axis_angle(local).reshape(n, 72)
    kp_px = track.keypoints()
    height_px = track.height_px[:, None, None]
    kp = kp_px + rng.normal(0.0, noise, kp_px.shape) * height_px
    conf = rng.uniform(0.7, 1.0, kp.shape[:2])
    outliers = rng.random(kp.shape[:2]) < outlier_share
    direction = rng.normal(size=kp.shape)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    kp = np.where(outliers[..., None], kp + direction * rng.uniform(0.2, 0.4, (*kp.shape[:2], 1)) * height_px, kp)
    filled = np.zeros(n, bool)
    for _ in range(drop_runs):
        start = int(rng.integers(5, max(6, n - 10)))
        filled[start:start + 4] = True
    conf[filled] = 0.0
    keypoints = np.concatenate([kp, conf[..., None]], -1)
    return CorruptedTrack(aa[:, :3], aa[:, 3:], transl, rest.astype(np.float64), joints, betas,
                          keypoints, filled)
