"""SMPL forward kinematics against smplx's own rigid transform code, and the frame conversions."""

from __future__ import annotations

import numpy as np

from glot_blender.core import kinematics as K
from glot_blender.core.rotations import axis_angle_to_matrix
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, PARENTS


def test_fk_matches_smplx_batch_rigid_transform():
    torch = __import__("torch")
    torch.set_num_threads(1)
    from smplx.lbs import batch_rigid_transform

    rng = np.random.default_rng(1)
    poses = rng.normal(scale=0.4, size=(6, 24, 3))
    transl = rng.normal(size=(6, 3))
    fk = K.forward_kinematics(DEFAULT_REST_JOINTS, poses, transl)
    rot = torch.tensor(axis_angle_to_matrix(poses))
    joints = torch.tensor(DEFAULT_REST_JOINTS, dtype=torch.float64)[None].repeat(6, 1, 1)
    posed, _ = batch_rigid_transform(rot, joints, torch.tensor(PARENTS))
    assert np.allclose(fk.joints, posed.numpy() + transl[:, None], atol=1e-10)
    # world rotations: a child's offset rotates with its parent's world rotation
    off = fk.joints[:, 4] - fk.joints[:, 1]
    expect = np.einsum("fij,j->fi", fk.rotations[:, 1], DEFAULT_REST_JOINTS[4] - DEFAULT_REST_JOINTS[1])
    assert np.allclose(off, expect, atol=1e-6)


def test_zero_pose_is_rest():
    fk = K.forward_kinematics(DEFAULT_REST_JOINTS, np.zeros((2, 24, 3)))
    assert np.allclose(fk.joints, DEFAULT_REST_JOINTS[None], atol=1e-7)
    assert np.allclose(fk.rotations, np.eye(3))


def test_frames_are_right_handed_and_map_axes():
    for m in (K.CAMERA_TO_BLENDER, K.SMPL_TO_BLENDER):
        assert np.allclose(m @ m.T, np.eye(3)) and np.isclose(np.linalg.det(m), 1.0)
    # camera: y down -> Blender -z (so "up" in the image is +z); forward z -> +y
    _, pts = K.camera_to_blender(None, np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 5.0]]))
    assert np.allclose(pts, [[0, 0, 1], [0, 5, 0]])
    # SMPL model: y up -> +z, facing +z -> -y, left +x stays +x
    assert np.allclose(K.smpl_rest_to_blender(np.eye(3)), [[1, 0, 0], [0, 0, 1], [0, -1, 0]])


def test_world_deltas_put_rig_joints_where_smpl_puts_them():
    rng = np.random.default_rng(2)
    poses = rng.normal(scale=0.5, size=(4, 24, 3))
    transl = rng.normal(size=(4, 3)) + [0, 0, 4]
    fk = K.forward_kinematics(DEFAULT_REST_JOINTS, poses, transl)
    _, want = K.camera_to_blender(None, fk.joints)
    deltas = K.world_deltas_in_blender(fk.rotations)
    rest_b = K.smpl_rest_to_blender(DEFAULT_REST_JOINTS)
    # rebuild every joint from its parent with Blender-frame deltas and Blender rest offsets
    got = np.empty_like(want)
    got[:, 0] = want[:, 0]
    for j in range(1, 24):
        p = PARENTS[j]
        got[:, j] = got[:, p] + np.einsum("fij,j->fi", deltas[:, p], rest_b[j] - rest_b[p])
    assert np.allclose(got, want, atol=1e-9)
    assert abs(K.leg_length(DEFAULT_REST_JOINTS) - 0.78) < 0.05
