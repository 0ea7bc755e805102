"""Both filters must lower joint position AND acceleration error against clean motion."""

from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import add_jitter, smooth_random_motion

from glot_blender.core.kinematics import forward_kinematics
from glot_blender.core.motion_clip import TrackMotion
from glot_blender.core.rotations import axis_angle_to_quaternion, quaternion_angle
from glot_blender.core.smoothing import (
    SmoothingOptions,
    one_euro_quaternions,
    smooth_poses,
    smooth_track,
)
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

FPS = 30.0


def _errors(poses, transl, clean_joints):
    joints = forward_kinematics(DEFAULT_REST_JOINTS, poses, transl).joints
    pos = np.linalg.norm(joints - clean_joints, axis=-1).mean()
    acc = np.diff(joints, 2, axis=0) - np.diff(clean_joints, 2, axis=0)
    return pos, np.linalg.norm(acc, axis=-1).mean()


@pytest.fixture(scope="module")
def motion():
    clean = smooth_random_motion(300, FPS)
    noisy = add_jitter(*clean)
    clean_joints = forward_kinematics(DEFAULT_REST_JOINTS, *clean).joints
    return clean, noisy, clean_joints


# (method, max position error ratio, max acceleration error ratio) after / before; the causal
# One-Euro filter trades some lag for its adaptivity, the offline Gaussian has no lag.
@pytest.mark.parametrize(("method", "pos_ratio", "acc_ratio"),
                         [("gaussian", 0.6, 0.1), ("one_euro", 0.85, 0.5)])
def test_filters_lower_position_and_acceleration_error(motion, method, pos_ratio, acc_ratio):
    _clean, noisy, clean_joints = motion
    before = _errors(*noisy, clean_joints)
    sm = smooth_poses(*noisy, FPS, SmoothingOptions(method=method, strength=0.5))
    after = _errors(sm.poses, sm.transl, clean_joints)
    print(f"{method}: MPJPE {before[0]*1000:.1f} -> {after[0]*1000:.1f} mm, "
          f"accel {before[1]*1000:.2f} -> {after[1]*1000:.2f} mm/frame^2")
    assert after[0] < pos_ratio * before[0]
    assert after[1] < acc_ratio * before[1]


def test_pure_and_zero_strength_is_identity(motion):
    _clean, noisy, _ = motion
    poses, transl = noisy[0].copy(), noisy[1].copy()
    out = smooth_poses(poses, transl, FPS, SmoothingOptions(strength=0.0))
    assert np.allclose(out.poses, poses) and np.allclose(out.transl, transl)
    smooth_poses(poses, transl, FPS, SmoothingOptions(method="gaussian", strength=1.0))
    assert np.array_equal(poses, noisy[0]) and np.array_equal(transl, noisy[1])
    rooted = smooth_poses(poses, transl, FPS, SmoothingOptions(strength=0.7, smooth_root=False))
    assert np.array_equal(rooted.transl, transl)


def test_one_euro_is_adaptive():
    """Steady pose: jitter mostly removed. Fast move: less lag than the same filter without beta."""
    rng = np.random.default_rng(3)
    n = 120
    steady = axis_angle_to_quaternion(rng.normal(scale=np.radians(2), size=(n, 1, 3)))
    calm = one_euro_quaternions(steady, FPS, min_cutoff=0.8, beta=0.4)
    ident = np.array([1.0, 0, 0, 0])
    assert quaternion_angle(calm[20:], ident).mean() < 0.4 * quaternion_angle(steady[20:], ident).mean()
    angle = np.clip(np.arange(n) - 30, 0, 20) * np.radians(6)  # a 120 degree swing in 20 frames
    fast = axis_angle_to_quaternion(np.stack([angle, 0 * angle, 0 * angle], -1)[:, None])
    lag_adaptive = quaternion_angle(one_euro_quaternions(fast, FPS, 0.8, 0.4), fast).max()
    lag_fixed = quaternion_angle(one_euro_quaternions(fast, FPS, 0.8, 0.0), fast).max()
    assert lag_adaptive < 0.5 * lag_fixed


def test_smooth_track_keeps_raw_and_recomputes_joints(motion):
    _clean, noisy, _ = motion
    n = noisy[0].shape[0]
    poses = noisy[0].reshape(n, 72).astype(np.float32)
    track = TrackMotion(
        track_id=1, frame_ids=np.arange(n), global_orient=poses[:, :3], body_pose=poses[:, 3:],
        betas=np.zeros((n, 10)), cam_crop=np.zeros((n, 3)), bbox=np.zeros((n, 4)),
        transl=noisy[1], rest_joints=DEFAULT_REST_JOINTS,
        joints3d=forward_kinematics(DEFAULT_REST_JOINTS, noisy[0]).joints,
        confidence=np.ones(n), filled=np.zeros(n, bool),
    )
    out = smooth_track(track, FPS, SmoothingOptions(method="one_euro", strength=0.6))
    assert np.array_equal(track.global_orient, poses[:, :3])
    assert not np.allclose(out.body_pose, track.body_pose)
    again = forward_kinematics(out.rest_joints, out.poses).joints
    assert np.allclose(out.joints3d, again, atol=1e-5)


def test_bad_options_name_the_option():
    with pytest.raises(ValueError, match="kalman"):
        SmoothingOptions(method="kalman")
    with pytest.raises(ValueError, match="strength"):
        SmoothingOptions(strength=2.0)
