"""Batched pose-bone matrix algebra (numpy only); rotations and FK come from glot_blender.core.

Blender evaluates a pose bone as ``M = M_parent @ inv(Rest_parent) @ Rest @ Basis`` (4x4,
armature space), with ``Basis = T(location) @ R(rotation_quaternion)``. Given the armature-space
matrices wanted for every bone, :func:`basis_from_pose` inverts that relation in one batch.
"""

from __future__ import annotations

import numpy as np


def compose(rot: np.ndarray, loc: np.ndarray) -> np.ndarray:
    """(..., 3, 3) and (..., 3) -> (..., 4, 4) rigid transforms."""
    out = np.zeros((*rot.shape[:-2], 4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = loc
    out[..., 3, 3] = 1.0
    return out


def basis_from_pose(
    pose: np.ndarray, rest: np.ndarray, parents: tuple[int, ...]
) -> np.ndarray:
    """Pose-bone ``matrix_basis`` (N, B, 4, 4) from armature-space pose matrices.

    pose: (N, B, 4, 4) wanted armature-space matrices; rest: (B, 4, 4) ``bone.matrix_local``;
    parents: parent index of each bone (-1 for roots), parents before children.
    """
    basis = np.empty_like(pose)
    for b, p in enumerate(parents):
        if p < 0:
            ref = np.broadcast_to(rest[b], pose[:, b].shape)
        else:
            ref = pose[:, p] @ (np.linalg.inv(rest[p]) @ rest[b])
        basis[:, b] = np.linalg.inv(ref) @ pose[:, b]
    return basis
