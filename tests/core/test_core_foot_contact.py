"""Foot contact detection and the foot lock on a synthetic walk with known planted feet."""

from __future__ import annotations

import numpy as np
import pytest

from glot_blender.core.foot_contact import (
    FOOT_JOINTS,
    FootContactOptions,
    detect_contacts,
    foot_slide,
    lock_feet,
    lock_track_feet,
    track_world_joints,
)
from glot_blender.core.kinematics import CAMERA_TO_BLENDER, SMPL_TO_BLENDER, forward_kinematics
from glot_blender.core.motion_clip import TrackMotion
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES

FPS = 30.0


def _walk(num_frames: int = 180):
    """A walk in Blender world: legs swing, the root advances so the stance foot stays planted.

    A foot is in stance while it moves backwards relative to the hips (cos(phase) < 0), with a
    straight knee; in swing its knee bends. Returns local poses (F, 24, 3) (the root at zero:
    the body in the Blender SMPL rest frame), world joints (F, 24, 3), root (F, 3) and the
    true stance labels (F, 2)."""
    t = np.arange(num_frames) / FPS
    phase = 2 * np.pi * 0.9 * t
    poses = np.zeros((num_frames, 24, 3))
    stance = np.zeros((num_frames, 2), dtype=bool)
    for s, (side, shift) in enumerate((("left", 0.0), ("right", np.pi))):
        ph = phase + shift
        poses[:, JOINT_NAMES.index(f"{side}_hip"), 0] = -0.3 * np.sin(ph)
        poses[:, JOINT_NAMES.index(f"{side}_knee"), 0] = 1.2 * np.maximum(0, np.cos(ph)) ** 2
        stance[:, s] = np.cos(ph) < 0
    fk = forward_kinematics(DEFAULT_REST_JOINTS, poses)
    joints = fk.joints @ SMPL_TO_BLENDER.T  # body in Blender space, facing -y
    feet = joints[:, np.array(FOOT_JOINTS)].mean(axis=2)  # (F, 2, 3)
    planted = stance.argmax(axis=1)  # the stance foot of each frame
    step = np.diff(feet, axis=0)[np.arange(num_frames - 1), planted[1:]]
    root = np.zeros((num_frames, 3))
    root[1:, :2] = -np.cumsum(step[:, :2], axis=0)
    root[:, 2] = -feet[np.arange(num_frames), planted, 2] + 0.03
    return poses, joints + root[:, None], root, stance


@pytest.fixture(scope="module")
def walk():
    return _walk()


def test_walk_ground_truth_is_planted(walk):
    _poses, world, _root, stance = walk
    assert foot_slide(world, stance) < 5e-3  # only the hand-over instants move
    assert np.ptp(world[:, 0, 1]) > 1.0  # and it does walk


def test_contacts_match_stance(walk):
    _poses, world, _root, stance = walk
    found = detect_contacts(world, FPS)
    agree = (found.contacts == stance).mean()
    assert agree > 0.85, agree
    assert abs(found.floor[2]) < 0.1 and np.allclose(found.floor[:2], 0, atol=0.05)


def test_lock_removes_sliding_from_a_short_stride(walk):
    """Under-estimated root motion (70 % of the true stride) makes planted feet slide."""
    _poses, world, root, stance = walk
    bad_root = root.copy()
    bad_root[:, :2] *= 0.7
    sliding = world + (bad_root - root)[:, None]
    contacts = detect_contacts(sliding, FPS).contacts
    fixed_root = lock_feet(sliding, bad_root, contacts)
    fixed = sliding + (fixed_root - bad_root)[:, None]
    before, after = foot_slide(sliding, stance), foot_slide(fixed, stance)
    print(f"foot slide {before * 1000:.2f} -> {after * 1000:.2f} mm/frame")
    assert before > 0.004
    assert after < 0.3 * before
    assert np.allclose(fixed_root[:, 2], bad_root[:, 2])  # vertical untouched
    assert np.abs(np.diff(fixed_root, axis=0)).max() < 0.05  # no jumps


def test_tilted_camera_floor_is_fitted(walk):
    _poses, world, _root, stance = walk
    tilt = axis_angle_to_matrix(np.array([np.radians(12), 0.0, 0.0]))
    found = detect_contacts(world @ tilt.T, FPS)
    assert (found.contacts == stance).mean() > 0.85
    assert not detect_contacts(world @ tilt.T, FPS, FootContactOptions(
        fit_floor_plane=False)).contacts.all()


def test_lock_track_feet_round_trips_through_camera_space(walk):
    poses, world, _root, stance = walk
    n = poses.shape[0]
    # express the Blender-space walk as a camera-space clip: orient = C^T @ S, transl from root
    orient = CAMERA_TO_BLENDER.T @ SMPL_TO_BLENDER
    cam_poses = poses.copy()
    cam_poses[:, 0] = matrix_to_axis_angle(np.broadcast_to(orient, (n, 3, 3)))
    rest0 = DEFAULT_REST_JOINTS[0].astype(np.float64)
    pelvis_world = world[:, 0]
    transl = pelvis_world @ CAMERA_TO_BLENDER - rest0
    bad = transl.copy()
    # the walk goes along Blender -y, i.e. camera -z: shrink the stride there
    bad[:, 2] = transl[:, 2] * 0.7 + 0.3 * transl[0, 2]
    flat = cam_poses.reshape(n, 72).astype(np.float32)
    track = TrackMotion(
        track_id=0, frame_ids=np.arange(n), global_orient=flat[:, :3], body_pose=flat[:, 3:],
        betas=np.zeros((n, 10)), cam_crop=np.zeros((n, 3)), bbox=np.zeros((n, 4)), transl=bad,
        rest_joints=DEFAULT_REST_JOINTS, joints3d=np.zeros((n, 24, 3)),
        confidence=np.ones(n), filled=np.zeros(n, bool))
    assert np.allclose(track_world_joints(track)[:, 0, 2], world[:, 0, 2], atol=1e-4)
    fixed, _contacts = lock_track_feet(track, FPS)
    before = foot_slide(track_world_joints(track), stance)
    after = foot_slide(track_world_joints(fixed), stance)
    assert after < 0.3 * before
    assert np.array_equal(track.transl, bad.astype(np.float32))
