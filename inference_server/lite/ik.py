"""Analytic inverse kinematics: BlazePose world landmarks -> SMPL local joint rotations.

Everything is vectorised over frames. Positions are in the landmarks' frame (BlazePose world
landmarks: metres, hip-centred, x right, y down, z away from the camera: the same axes as the
SMPL camera frame). SMPL rest joints are in SMPL's model frame (y up, facing +z).

Per frame, joint by joint down the kinematic tree:

* pelvis: from the hip line and the torso's up vector;
* spine1..3: the torso's rotation (shoulder line + up vector) relative to the pelvis, spread
  evenly over the three spine joints;
* collars: the small swing that puts each shoulder on its observed landmark;
* neck, head: the head's rotation (ears + nose) relative to the chest, spread over both;
* hips/shoulders (upper limbs): bone direction to the knee/elbow, with the twist taken from
  the plane of the bent knee/elbow (its hinge axis); a nearly straight limb falls back
  smoothly to the twist-free swing from its parent;
* knees/elbows: the swing to the ankle/wrist direction;
* ankles: from heel, ankle and toe landmarks; wrists: from the index and pinky landmarks;
* feet and hands: at rest relative to their parents.

So every observed limb joint lands exactly on its landmark (bone lengths permitting), and
limb twist comes from what the landmarks do determine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glot_blender.core.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    rotation_between,
)
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, PARENTS

from . import landmarks as lm

#: a knee/elbow bent by at least this much fully sets its limb's twist from the bend plane
FULL_HINGE_BEND_DEG = 25.0
#: passes that bend the spine until the chest carries the shoulders to their landmarks
SPINE_ITERATIONS = 4
#: landmark visibility under which a landmark is treated as unseen
MIN_VISIBILITY = 0.5
_EPS = 1e-9


@dataclass
class IKResult:
    """local_rotmats (N,24,3,3) SMPL local rotations; world_rotmats (N,24,3,3) world rotation
    of each joint relative to rest; joints (N,24,3) posed joints with the pelvis at
    ``rest_joints[0]`` (SMPL's output without translation)."""

    local_rotmats: np.ndarray
    world_rotmats: np.ndarray
    joints: np.ndarray


@dataclass(frozen=True)
class SegmentScales:
    """Length ratios of a person's segments to the default skeleton's (1.0 = default)."""

    overall: float = 1.0
    hip_width: float = 1.0
    shoulder_width: float = 1.0
    thigh: float = 1.0
    shin: float = 1.0
    upper_arm: float = 1.0
    forearm: float = 1.0


# ---------------------------------------------------------------- small vector helpers


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (...,3,3), columns [e1, e2, e1 x e2], e1 along ``primary``."""
    e1 = _unit(primary)
    e2 = _unit(secondary - np.sum(secondary * e1, axis=-1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _rot_between(frame_obs: np.ndarray, frame_rest: np.ndarray) -> np.ndarray:
    """World rotation taking the rest frame onto the observed frame."""
    return frame_obs @ np.swapaxes(frame_rest, -1, -2)


def _fraction(rot: np.ndarray, f: float | np.ndarray) -> np.ndarray:
    """``rot`` (N,3,3) raised to the power f (same axis, f times the angle), f scalar or (N,)."""
    f = np.asarray(f, dtype=np.float64)
    return axis_angle_to_matrix(matrix_to_axis_angle(rot) * (f[..., None] if f.ndim else f))


def _blend(rot_a: np.ndarray, rot_b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-frame slerp from rot_a (weight 0) to rot_b (weight 1)."""
    return rot_a @ _fraction(np.swapaxes(rot_a, -1, -2) @ rot_b, weight)


def _hinge_twist(
    swing: np.ndarray, d_upper: np.ndarray, d_lower: np.ndarray, rest_lower: np.ndarray, axis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Twist of an upper limb about its own direction that makes the observed lower limb a
    pure flexion of the middle joint about its hinge ``axis`` (rest frame, unit).

    swing (N,3,3) the twist-free world rotation of the upper segment; d_upper, d_lower (N,3)
    observed unit directions; rest_lower (3,) unit rest direction of the lower segment.
    Rotating the upper segment by ``phi`` about d_upper leaves the lower direction's hinge
    component ``v . axis`` equal to its rest value only for two twists; of those the one that
    flexes the joint (positive angle about ``axis``) is returned, with that flexion angle
    (radians, 0 where the limb is straight or no twist fits).
    """
    axis_w = swing @ axis  # the hinge axis after the swing, world
    d_par = np.sum(d_lower * d_upper, axis=-1, keepdims=True) * d_upper
    d_perp = d_lower - d_par
    a = np.sum(d_par * axis_w, axis=-1)
    b = np.sum(d_perp * axis_w, axis=-1)
    c = -np.sum(np.cross(d_upper, d_perp) * axis_w, axis=-1)
    radius = np.hypot(b, c)
    target = float(rest_lower @ axis)
    delta = np.arccos(np.clip((target - a) / np.maximum(radius, _EPS), -1.0, 1.0))
    base = np.arctan2(c, b)
    best_twist = np.zeros(len(a))
    best_flex = np.full(len(a), -np.inf)
    for phi in (base + delta, base - delta):
        phi = np.arctan2(np.sin(phi), np.cos(phi))
        world = axis_angle_to_matrix(d_upper * phi[:, None]) @ swing
        v = (np.swapaxes(world, -1, -2) @ d_lower[..., None])[..., 0]
        flex = _angle_about(axis, rest_lower, v)
        better = flex > best_flex + 1e-9
        best_twist = np.where(better, phi, best_twist)
        best_flex = np.where(better, flex, best_flex)
    straight = radius < 1e-6
    return np.where(straight, 0.0, best_twist), np.where(straight, 0.0, np.maximum(best_flex, 0.0))


def _angle_about(axis: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed angle (radians) about unit ``axis`` (3,) from direction a (3,) to directions b (N,3)."""
    return _signed_angle(np.broadcast_to(axis, b.shape), np.broadcast_to(a, b.shape), b)


def _signed_angle(axis: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed angles (N,) about unit axes (N,3) from vectors a (N,3) to vectors b (N,3),
    both projected onto the plane normal to the axis."""
    a_perp = a - np.sum(a * axis, axis=-1, keepdims=True) * axis
    b_perp = b - np.sum(b * axis, axis=-1, keepdims=True) * axis
    return np.arctan2(np.sum(np.cross(a_perp, b_perp) * axis, axis=-1), np.sum(a_perp * b_perp, axis=-1))


# ---------------------------------------------------------------- the skeleton


def scale_rest_joints(scales: SegmentScales, base: np.ndarray = DEFAULT_REST_JOINTS) -> np.ndarray:
    """The default skeleton stretched segment by segment: (24,3) rest joints, metres."""
    base = np.asarray(base, dtype=np.float64)
    g = scales.overall
    per_joint = {i: np.array([g, g, g]) for i in range(24)}
    for hip in (lm.L_HIP, lm.R_HIP):
        per_joint[hip] = np.array([scales.hip_width, g, g])
    for joint in (lm.L_COLLAR, lm.R_COLLAR, lm.L_SHOULDER, lm.R_SHOULDER):
        per_joint[joint] = np.array([scales.shoulder_width, g, g])
    for joints, s in (
        ((lm.L_KNEE, lm.R_KNEE), scales.thigh),
        ((lm.L_ANKLE, lm.R_ANKLE), scales.shin),
        ((lm.L_ELBOW, lm.R_ELBOW), scales.upper_arm),
        ((lm.L_WRIST, lm.R_WRIST, lm.L_HAND, lm.R_HAND), scales.forearm),
    ):
        for joint in joints:
            per_joint[joint] = np.array([s, s, s])
    rest = np.zeros_like(base)
    rest[0] = base[0] * g
    for i in range(1, 24):
        p = PARENTS[i]
        rest[i] = rest[p] + per_joint[i] * (base[i] - base[p])
    return rest.astype(np.float32)


def _median_length(points: np.ndarray, vis: np.ndarray, a: int, b: int) -> float | None:
    ok = (vis[:, a] >= MIN_VISIBILITY) & (vis[:, b] >= MIN_VISIBILITY)
    if not ok.any():
        return None
    return float(np.median(np.linalg.norm(points[ok, a] - points[ok, b], axis=-1)))


def _ratio(points, vis, pairs, base_len: float) -> float | None:
    lengths = [x for x in (_median_length(points, vis, a, b) for a, b in pairs) if x is not None]
    return float(np.mean(lengths)) / base_len if lengths else None


def fit_segment_scales(
    world_landmarks: np.ndarray, visibility: np.ndarray, base: np.ndarray = DEFAULT_REST_JOINTS
) -> SegmentScales:
    """The person's segment scales from the median landmark distances over the track.

    world_landmarks (N,33,3) metres; visibility (N,33). Unmeasurable segments take the
    overall scale, itself the torso-height ratio (1.0 when nothing is visible).
    """
    base = np.asarray(base, dtype=np.float64)
    mid_hip = 0.5 * (world_landmarks[:, lm.LEFT_HIP] + world_landmarks[:, lm.RIGHT_HIP])
    mid_sh = 0.5 * (world_landmarks[:, lm.LEFT_SHOULDER] + world_landmarks[:, lm.RIGHT_SHOULDER])
    torso_pts = np.stack([mid_hip, mid_sh], axis=1)
    torso_vis = np.stack(
        [
            np.minimum(visibility[:, lm.LEFT_HIP], visibility[:, lm.RIGHT_HIP]),
            np.minimum(visibility[:, lm.LEFT_SHOULDER], visibility[:, lm.RIGHT_SHOULDER]),
        ],
        axis=1,
    )
    base_mid_hip = 0.5 * (base[lm.L_HIP] + base[lm.R_HIP])
    base_mid_sh = 0.5 * (base[lm.L_SHOULDER] + base[lm.R_SHOULDER])
    overall = _ratio(torso_pts, torso_vis, [(0, 1)], np.linalg.norm(base_mid_sh - base_mid_hip))
    overall = overall or 1.0

    def seg(landmark_pairs, joint_pairs):
        base_len = np.mean([np.linalg.norm(base[a] - base[b]) for a, b in joint_pairs])
        r = _ratio(world_landmarks, visibility, landmark_pairs, float(base_len))
        return r if r is not None else overall

    return SegmentScales(
        overall=overall,
        hip_width=seg([(lm.LEFT_HIP, lm.RIGHT_HIP)], [(lm.L_HIP, lm.R_HIP)]),
        shoulder_width=seg(
            [(lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER)], [(lm.L_SHOULDER, lm.R_SHOULDER)]
        ),
        thigh=seg(
            [(lm.LEFT_HIP, lm.LEFT_KNEE), (lm.RIGHT_HIP, lm.RIGHT_KNEE)],
            [(lm.L_HIP, lm.L_KNEE), (lm.R_HIP, lm.R_KNEE)],
        ),
        shin=seg(
            [(lm.LEFT_KNEE, lm.LEFT_ANKLE), (lm.RIGHT_KNEE, lm.RIGHT_ANKLE)],
            [(lm.L_KNEE, lm.L_ANKLE), (lm.R_KNEE, lm.R_ANKLE)],
        ),
        upper_arm=seg(
            [(lm.LEFT_SHOULDER, lm.LEFT_ELBOW), (lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW)],
            [(lm.L_SHOULDER, lm.L_ELBOW), (lm.R_SHOULDER, lm.R_ELBOW)],
        ),
        forearm=seg(
            [(lm.LEFT_ELBOW, lm.LEFT_WRIST), (lm.RIGHT_ELBOW, lm.RIGHT_WRIST)],
            [(lm.L_ELBOW, lm.L_WRIST), (lm.R_ELBOW, lm.R_WRIST)],
        ),
    )


# ---------------------------------------------------------------- the solver

_X, _Y = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
#: (upper joint, middle joint, end joint, hinge axis of the middle joint, flexion sign):
#: knees flex about +x (shin backwards), the left elbow about -y and the right about +y
#: (forearm forwards), in SMPL's rest frame
_LIMBS = (
    (lm.L_HIP, lm.L_KNEE, lm.L_ANKLE, _X, +1.0),
    (lm.R_HIP, lm.R_KNEE, lm.R_ANKLE, _X, +1.0),
    (lm.L_SHOULDER, lm.L_ELBOW, lm.L_WRIST, _Y, -1.0),
    (lm.R_SHOULDER, lm.R_ELBOW, lm.R_WRIST, _Y, +1.0),
)


class _Solver:
    """One IK pass over N frames; holds the per-joint world rotations and positions."""

    def __init__(self, rest: np.ndarray, points: np.ndarray, vis: np.ndarray, offset_scale: float):
        self.rest = np.asarray(rest, dtype=np.float64)
        self.pts = np.asarray(points, dtype=np.float64)
        self.vis = np.asarray(vis, dtype=np.float64)
        self.offsets = lm.ANCHOR_OFFSETS * offset_scale
        n = self.pts.shape[0]
        self.world = np.tile(np.eye(3), (n, 24, 1, 1))
        self.pos = np.zeros((n, 24, 3))
        self.n = n

    # rest-frame helpers
    def bone(self, a: int, b: int) -> np.ndarray:
        return self.rest[b] - self.rest[a]

    def rest_landmark(self, index: int) -> np.ndarray:
        return self.rest[lm.ANCHOR_JOINTS[index]] + self.offsets[index]

    def place(self, joint: int) -> None:
        """Position of ``joint`` from its parent's world rotation (forward kinematics)."""
        p = PARENTS[joint]
        self.pos[:, joint] = self.pos[:, p] + self.world[:, p] @ self.bone(p, joint)

    def set_local(self, joint: int, local: np.ndarray) -> None:
        self.world[:, joint] = self.world[:, PARENTS[joint]] @ local
        self.place(joint)

    def visible(self, *indices: int) -> np.ndarray:
        return np.min(self.vis[:, list(indices)], axis=1) >= MIN_VISIBILITY

    # the stages
    def pelvis_and_torso(self) -> None:
        p = self.pts
        mid_hip = 0.5 * (p[:, lm.LEFT_HIP] + p[:, lm.RIGHT_HIP])
        mid_sh = 0.5 * (p[:, lm.LEFT_SHOULDER] + p[:, lm.RIGHT_SHOULDER])
        r = self.rest
        rest_mid_hip = 0.5 * (r[lm.L_HIP] + r[lm.R_HIP])
        rest_up = 0.5 * (r[lm.L_SHOULDER] + r[lm.R_SHOULDER]) - rest_mid_hip
        up = mid_sh - mid_hip
        pelvis = _rot_between(
            _frame(p[:, lm.LEFT_HIP] - p[:, lm.RIGHT_HIP], up),
            _frame(r[lm.L_HIP] - r[lm.R_HIP], rest_up),
        )
        torso = _rot_between(
            _frame(p[:, lm.LEFT_SHOULDER] - p[:, lm.RIGHT_SHOULDER], up),
            _frame(r[lm.L_SHOULDER] - r[lm.R_SHOULDER], rest_up),
        )
        self.world[:, lm.PELVIS] = pelvis
        self.pos[:, lm.PELVIS] = mid_hip - pelvis @ (rest_mid_hip - r[lm.PELVIS])
        for hip in (lm.L_HIP, lm.R_HIP):
            self.place(hip)
        self.place(lm.SPINE1)
        chest_start = _fraction(np.swapaxes(pelvis, -1, -2) @ torso, 1.0 / 3.0)
        self._bend_spine(pelvis @ chest_start, torso)
        for _ in range(SPINE_ITERATIONS):
            reached = 0.5 * (self.pos[:, lm.L_SHOULDER] + self.pos[:, lm.R_SHOULDER])
            pivot = self.pos[:, lm.SPINE1]
            bend = rotation_between(reached - pivot, mid_sh - pivot)
            self._bend_spine(bend @ self.world[:, lm.SPINE1], torso)

    def _bend_spine(self, spine1_world: np.ndarray, torso: np.ndarray) -> None:
        """spine1 at the given world rotation, spine2/3 sharing the rest of the way to the
        torso's rotation; collars at rest, so that the shoulders can be compared."""
        self.set_local(lm.SPINE1, np.swapaxes(self.world[:, lm.PELVIS], -1, -2) @ spine1_world)
        half = _fraction(np.swapaxes(spine1_world, -1, -2) @ torso, 0.5)
        self.set_local(lm.SPINE2, half)
        self.set_local(lm.SPINE3, half)
        identity = np.tile(np.eye(3), (self.n, 1, 1))
        for collar, shoulder in ((lm.L_COLLAR, lm.L_SHOULDER), (lm.R_COLLAR, lm.R_SHOULDER)):
            self.place(collar)
            self.set_local(collar, identity)
            self.place(shoulder)

    def collars(self) -> None:
        for collar, shoulder, landmark in (
            (lm.L_COLLAR, lm.L_SHOULDER, lm.LEFT_SHOULDER),
            (lm.R_COLLAR, lm.R_SHOULDER, lm.RIGHT_SHOULDER),
        ):
            self.place(collar)
            chest = self.world[:, lm.SPINE3]
            target = np.swapaxes(chest, -1, -2) @ (self.pts[:, landmark] - self.pos[:, collar])[..., None]
            self.set_local(collar, rotation_between(self.bone(collar, shoulder), target[..., 0]))
            self.place(shoulder)

    def neck_and_head(self) -> None:
        p = self.pts
        ears = p[:, lm.LEFT_EAR] - p[:, lm.RIGHT_EAR]
        nose = p[:, lm.NOSE] - 0.5 * (p[:, lm.LEFT_EAR] + p[:, lm.RIGHT_EAR])
        rest_ears = self.rest_landmark(lm.LEFT_EAR) - self.rest_landmark(lm.RIGHT_EAR)
        rest_nose = self.rest_landmark(lm.NOSE) - 0.5 * (
            self.rest_landmark(lm.LEFT_EAR) + self.rest_landmark(lm.RIGHT_EAR)
        )
        head = _rot_between(_frame(ears, nose), _frame(rest_ears, rest_nose))
        chest = self.world[:, lm.SPINE3]
        relative = np.swapaxes(chest, -1, -2) @ head
        seen = self.visible(lm.LEFT_EAR, lm.RIGHT_EAR, lm.NOSE).astype(np.float64)
        half = _fraction(relative, 0.5 * seen)
        self.place(lm.NECK)
        self.set_local(lm.NECK, half)
        self.set_local(lm.HEAD, half)

    def limb(
        self, upper: int, middle: int, end: int, hinge_axis: tuple[float, float, float], sign: float
    ) -> None:
        p = self.pts
        parent = self.world[:, PARENTS[upper]]
        d_upper = _unit(p[:, _LANDMARK_OF[middle]] - p[:, _LANDMARK_OF[upper]])
        d_lower = _unit(p[:, _LANDMARK_OF[end]] - p[:, _LANDMARK_OF[middle]])
        rest_upper, rest_lower = self.bone(upper, middle), self.bone(middle, end)
        local_dir = (np.swapaxes(parent, -1, -2) @ d_upper[..., None])[..., 0]
        swing = parent @ rotation_between(rest_upper, local_dir)
        axis = sign * np.asarray(hinge_axis, dtype=np.float64)
        twist, flexion = _hinge_twist(swing, d_upper, d_lower, _unit(rest_lower), axis)
        hinged = axis_angle_to_matrix(d_upper * twist[:, None]) @ swing
        weight = np.clip(np.degrees(flexion) / FULL_HINGE_BEND_DEG, 0.0, 1.0)
        world_upper = _blend(swing, hinged, weight)
        self.set_local(upper, np.swapaxes(parent, -1, -2) @ world_upper)
        self.place(middle)
        local_lower = (np.swapaxes(world_upper, -1, -2) @ d_lower[..., None])[..., 0]
        self.set_local(middle, rotation_between(rest_lower, local_lower))
        self.place(end)

    def _end_segment(self, joint: int, obs: np.ndarray, rest: np.ndarray, seen: np.ndarray) -> None:
        """World rotation of an end segment from observed/rest frames, where seen."""
        parent_world = self.world[:, PARENTS[joint]]
        world = np.where(seen[:, None, None], _rot_between(obs, rest), parent_world)
        self.set_local(joint, np.swapaxes(parent_world, -1, -2) @ world)

    def ankles_and_wrists(self) -> None:
        p, rl = self.pts, self.rest_landmark
        for ankle, heel, toe, ank_lm in (
            (lm.L_ANKLE, lm.LEFT_HEEL, lm.LEFT_FOOT_INDEX, lm.LEFT_ANKLE),
            (lm.R_ANKLE, lm.RIGHT_HEEL, lm.RIGHT_FOOT_INDEX, lm.RIGHT_ANKLE),
        ):
            obs = _frame(p[:, toe] - p[:, heel], p[:, ank_lm] - p[:, heel])
            rest = _frame(rl(toe) - rl(heel), rl(ank_lm) - rl(heel))
            self._end_segment(ankle, obs, rest, self.visible(heel, toe, ank_lm))
        for wrist, index, pinky in (
            (lm.L_WRIST, lm.LEFT_INDEX, lm.LEFT_PINKY),
            (lm.R_WRIST, lm.RIGHT_INDEX, lm.RIGHT_PINKY),
        ):
            wrist_lm = _LANDMARK_OF[wrist]
            obs = _frame(0.5 * (p[:, index] + p[:, pinky]) - p[:, wrist_lm], p[:, index] - p[:, pinky])
            rest = _frame(0.5 * (rl(index) + rl(pinky)) - rl(wrist_lm), rl(index) - rl(pinky))
            self._end_segment(wrist, obs, rest, self.visible(index, pinky, wrist_lm))

    def leaves(self) -> None:
        for joint in (lm.L_FOOT, lm.R_FOOT, lm.L_HAND, lm.R_HAND):
            self.set_local(joint, np.tile(np.eye(3), (self.n, 1, 1)))

    def local_rotations(self) -> np.ndarray:
        local = np.empty_like(self.world)
        local[:, 0] = self.world[:, 0]
        for i in range(1, 24):
            local[:, i] = np.swapaxes(self.world[:, PARENTS[i]], -1, -2) @ self.world[:, i]
        return local


_LANDMARK_OF = {joint: landmark for landmark, joint in lm.JOINT_LANDMARKS.items()}


def solve_ik(
    world_landmarks: np.ndarray,
    visibility: np.ndarray,
    rest_joints: np.ndarray,
    offset_scale: float = 1.0,
) -> IKResult:
    """SMPL pose per frame from BlazePose world landmarks.

    world_landmarks (N,33,3) metres in the camera axes (x right, y down, z forward);
    visibility (N,33) in 0..1 (frames must be complete: fill gaps before calling);
    rest_joints (24,3) the person's SMPL rest joints; offset_scale scales the landmark model's
    offsets (use SegmentScales.overall).
    """
    solver = _Solver(rest_joints, world_landmarks, visibility, offset_scale)
    solver.pelvis_and_torso()
    solver.collars()
    solver.neck_and_head()
    for upper, middle, end, axis, sign in _LIMBS:
        solver.limb(upper, middle, end, axis, sign)
    solver.ankles_and_wrists()
    solver.leaves()
    joints = solver.pos - solver.pos[:, :1] + solver.rest[0]
    return IKResult(
        local_rotmats=solver.local_rotations(),
        world_rotmats=solver.world.copy(),
        joints=joints,
    )


def fit_crop_camera(points_3d: np.ndarray, uv: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weak-perspective crop camera per frame: u ~ s (X + tx), v ~ s (Y + ty).

    points_3d (N,L,3) model-space points (no translation); uv (N,L,2) the same points in the
    crop's normalised coordinates ([-1, 1] across the crop); weights (N,L) >= 0.
    Returns (N,3) [s, tx, ty]; frames without weight get s = 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    wsum = np.maximum(w.sum(axis=1, keepdims=True), _EPS)
    xy = points_3d[..., :2]
    mean_xy = (w[..., None] * xy).sum(axis=1) / wsum
    mean_uv = (w[..., None] * uv).sum(axis=1) / wsum
    dxy = xy - mean_xy[:, None]
    duv = uv - mean_uv[:, None]
    num = (w[..., None] * dxy * duv).sum(axis=(1, 2))
    den = np.maximum((w[..., None] * dxy * dxy).sum(axis=(1, 2)), _EPS)
    s = num / den
    safe = np.where(np.abs(s) > _EPS, s, 1.0)
    t = mean_uv / safe[:, None] - mean_xy
    return np.concatenate([s[:, None], t], axis=1)
