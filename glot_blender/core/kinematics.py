"""SMPL forward kinematics and the coordinate frames between video, SMPL and Blender.

Frames (see docs/motion-processing.md):
- *camera*: the video camera as SPIN/GLoT output it: x right, y down, z forward.
  ``global_orient`` and ``transl`` of a motion clip live here.
- *SMPL model*: the body's own frame, y up, the body facing +z, its left side at +x.
  ``rest_joints`` live here; at zero pose a body is in this frame.
- *Blender world*: z up; the video camera sits at the origin looking along +y.

``x_blender = CAMERA_TO_BLENDER @ x_camera``  with ``[[1,0,0],[0,0,1],[0,-1,0]]``
``x_blender = SMPL_TO_BLENDER @ x_model``     with ``[[1,0,0],[0,0,-1],[0,1,0]]`` (Rx(+90 deg)):
a T-pose SMPL rig in Blender stands z-up, faces -y, its left side at +x.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .rotations import axis_angle_to_matrix
from .smpl_skeleton import PARENTS

#: video camera frame (x right, y down, z forward) -> Blender world (z up, camera looks +y)
CAMERA_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: SMPL model frame (y up, facing +z) -> Blender (z up, facing -y): Rx(+90 deg)
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
CAMERA_TO_BLENDER.setflags(write=False)  # shared constants: never changed in place
SMPL_TO_BLENDER.setflags(write=False)


@dataclass
class FKResult:
    """Forward kinematics output. F frames, J joints.

    joints (F, J, 3): world joint positions; rotations (F, J, 3, 3): world joint rotations
    (each is the rotation of that joint's frame relative to the rest pose).
    """

    joints: np.ndarray
    rotations: np.ndarray


def forward_kinematics(
    rest_joints: np.ndarray,
    local_rotations: np.ndarray,
    transl: np.ndarray | None = None,
    parents: Sequence[int] = PARENTS,
) -> FKResult:
    """SMPL forward kinematics.

    rest_joints (J, 3) joint positions at zero pose; local_rotations (F, J, 3, 3) or
    axis-angle (F, J, 3) relative to the parent (joint 0: global orientation);
    transl (F, 3) optional root translation added to every joint (smplx convention: the
    root joint stays at ``rest_joints[0] + transl``). Parents must precede children.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    local = np.asarray(local_rotations, dtype=np.float64)
    if local.shape[-1] == 3 and local.ndim == 3:
        local = axis_angle_to_matrix(local)
    num_frames, num_joints = local.shape[:2]
    if rest.shape != (num_joints, 3):
        raise ValueError(f"rest_joints has shape {rest.shape}, expected ({num_joints}, 3)")
    world_rot = np.empty_like(local)
    joints = np.empty((num_frames, num_joints, 3))
    for j, p in enumerate(parents[:num_joints]):
        if p < 0:
            world_rot[:, j] = local[:, j]
            joints[:, j] = rest[j]
        else:
            world_rot[:, j] = world_rot[:, p] @ local[:, j]
            joints[:, j] = joints[:, p] + world_rot[:, p] @ (rest[j] - rest[p])
    if transl is not None:
        joints += np.asarray(transl, dtype=np.float64)[:, None, :]
    return FKResult(joints=joints, rotations=world_rot)


def camera_to_blender(
    rotations: np.ndarray | None = None, transl: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Express camera-frame rotations (..., 3, 3) and points/translations (..., 3) in Blender.

    Rotations are left-multiplied by C (a root orientation keeps mapping SMPL model
    vectors, now into Blender world); points become ``C @ x``. Either may be None.
    """
    c = CAMERA_TO_BLENDER
    rot = None if rotations is None else c @ np.asarray(rotations, dtype=np.float64)
    pts = None if transl is None else np.asarray(transl, dtype=np.float64) @ c.T
    return rot, pts


def smpl_rest_to_blender(points: np.ndarray) -> np.ndarray:
    """SMPL model-frame points (..., 3), e.g. rest joints, -> Blender rig space (z up, -y facing)."""
    return np.asarray(points, dtype=np.float64) @ SMPL_TO_BLENDER.T


def world_deltas_in_blender(world_rotations_camera: np.ndarray) -> np.ndarray:
    """SMPL world joint rotations in the camera frame (..., 3, 3) -> world rotation change of
    each joint from the Blender SMPL rest pose, in Blender world: ``C @ G @ S^T``.

    A bone of a Blender SMPL rig whose world rotation changes by this amount lands exactly
    where SMPL puts the joint (C = CAMERA_TO_BLENDER, S = SMPL_TO_BLENDER).
    """
    g = np.asarray(world_rotations_camera, dtype=np.float64)
    return CAMERA_TO_BLENDER @ g @ SMPL_TO_BLENDER.T


def leg_length(rest_joints: np.ndarray) -> float:
    """Mean hip-knee-ankle length of both legs of SMPL rest joints (24, 3), in their units."""
    r = np.asarray(rest_joints, dtype=np.float64)
    lengths = [
        np.linalg.norm(r[k] - r[h]) + np.linalg.norm(r[a] - r[k])
        for h, k, a in ((1, 4, 7), (2, 5, 8))
    ]
    return float(np.mean(lengths))
