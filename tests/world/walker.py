"""A procedural SMPL walk with exactly planted feet, filmed by a known camera.

The walk: hips and knees swing with the gait phase; the root moves so that the stance foot's
toe (the lower one) stays exactly where it was and on the floor (z = 0): a kinematically
consistent walk with known foot contacts. The world: z up, floor z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from glot_blender.core.foot_contact import FOOT_JOINTS
from glot_blender.core.kinematics import CAMERA_TO_BLENDER, forward_kinematics
from glot_blender.core.motion_clip import TrackMotion
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES

#: SMPL model frame (x left, y up, z facing) -> world facing +x, z up
MODEL_TO_WORLD_FACING_X = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
TOES = [toe for _ankle, toe in FOOT_JOINTS]


@dataclass
class WorldWalk:
    """poses (F,24,3) axis-angle with the WORLD root orientation; transl (F,3) world SMPL
    translation; joints (F,24,3) world; stance (F,) 0 left / 1 right."""

    poses: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    stance: np.ndarray

    @property
    def path_length(self) -> float:
        return float(np.linalg.norm(np.diff(self.joints[:, 0, :2], axis=0), axis=1).sum())


def _joint(name: str) -> int:
    return JOINT_NAMES.index(name)


def walk(num_frames: int = 90, fps: float = 30.0, start=(-1.5, 4.0), heading_deg: float = 0.0,
         turn_deg: float = 0.0, cadence_hz: float = 0.9, stand: bool = False) -> WorldWalk:
    """A walk along the heading (degrees from +x, turning by turn_deg over the clip), or a
    person standing still (``stand``)."""
    t = np.arange(num_frames) / fps
    phase = 2 * np.pi * cadence_hz * t
    poses = np.zeros((num_frames, 24, 3))
    if not stand:
        swing = np.radians(25.0) * np.sin(phase)
        for side, sign in ((_joint("left_hip"), 1.0), (_joint("right_hip"), -1.0)):
            poses[:, side, 0] = -sign * swing  # forward flexion about the model's x axis
        for knee, sign in ((_joint("left_knee"), 1.0), (_joint("right_knee"), -1.0)):
            poses[:, knee, 0] = np.radians(40.0) * np.maximum(0.0, sign * np.cos(phase))
    heading = np.radians(heading_deg + turn_deg * t / max(t[-1], 1e-9))
    yaw = Rotation.from_euler("z", heading[:, None]).as_matrix()
    poses[:, 0] = matrix_to_axis_angle(yaw @ MODEL_TO_WORLD_FACING_X)
    rel = forward_kinematics(DEFAULT_REST_JOINTS, poses).joints  # no translation yet
    toes = rel[:, TOES]  # (F, 2, 3)
    stance = np.argmin(toes[..., 2], axis=1)
    transl = np.zeros((num_frames, 3))
    transl[0, :2] = np.asarray(start) - rel[0, 0, :2]
    for f in range(1, num_frames):
        s = stance[f]
        transl[f, :2] = transl[f - 1, :2] - (toes[f, s, :2] - toes[f - 1, s, :2])
    transl[:, 2] = -toes[np.arange(num_frames), stance, 2]
    return WorldWalk(poses, transl, rel + transl[:, None], stance)


def following_camera(walker: WorldWalk, height: float = 1.5, pitch_deg: float = 10.0,
                     follow: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A camera at (0, 0, height) panning to keep the walker's pelvis centred (or still),
    pitched down: world-from-camera rotations (F,3,3) (video camera frame) and positions (F,3)."""
    target = walker.joints[:, 0]
    n = len(target)
    aim = target if follow else np.broadcast_to(target[0], target.shape)
    yaw = np.arctan2(-aim[:, 0], aim[:, 1])  # forward (-sin, cos) towards the target
    level = Rotation.from_euler("z", yaw[:, None]).as_matrix() @ CAMERA_TO_BLENDER
    pitch = Rotation.from_euler("x", -np.radians(pitch_deg) * np.ones((n, 1))).as_matrix()
    return level @ pitch, np.tile([0.0, 0.0, height], (n, 1))


def camera_track(walker: WorldWalk, rot: np.ndarray, pos: np.ndarray, track_id: int = 1,
                 noise_m: float = 0.0, noise_deg: float = 0.0, seed: int = 0) -> TrackMotion:
    """The walker as the pose model would report it from that camera (camera-frame SMPL),
    with optional per-frame noise on the translation and root orientation."""
    rng = np.random.default_rng(seed)
    n = len(rot)
    rt = np.transpose(rot, (0, 2, 1))
    j0 = DEFAULT_REST_JOINTS[0]
    transl = np.einsum("nij,nj->ni", rt, j0 + walker.transl - pos) - j0
    orient = rt @ axis_angle_to_matrix(walker.poses[:, 0])
    if noise_deg:
        orient = orient @ axis_angle_to_matrix(rng.normal(scale=np.radians(noise_deg), size=(n, 3)))
    transl = transl + rng.normal(scale=noise_m, size=transl.shape)
    poses = walker.poses.copy()
    poses[:, 0] = matrix_to_axis_angle(orient)
    joints = forward_kinematics(DEFAULT_REST_JOINTS, poses).joints
    return TrackMotion(
        track_id=track_id, frame_ids=np.arange(n), global_orient=poses[:, 0],
        body_pose=poses[:, 1:].reshape(n, 69), betas=np.zeros((n, 10)),
        cam_crop=np.tile([0.9, 0.0, 0.0], (n, 1)),
        bbox=np.tile([240.0, 320.0, 200.0, 200.0], (n, 1)),
        transl=transl, rest_joints=DEFAULT_REST_JOINTS, joints3d=joints, confidence=np.ones(n),
        filled=np.zeros(n, bool))
