"""One world for the camera and everyone (inference_server.world), with known truth.

A procedural SMPL walk with exactly planted feet (tests/world/walker.py) is "seen" by a
camera that pans to follow it, pitched down; the camera's rotation is solved from a real
video of that pan (bus.jpg warped by the camera's true rotations, decoded again), the walk
is given to the world step as the pose model would report it in the camera's frame, with
per-frame noise.
"""

from __future__ import annotations

import numpy as np
import pytest
from camera_video import (
    VIDEO_FOCAL,
    VIDEO_SIZE,
    dot_scene,
    read_frames,
    render_dots,
    turning_rotations,
    write_camera_video,
)
from scipy.ndimage import gaussian_filter1d
from walker import TOES, camera_track, following_camera, walk

from glot_blender.core.foot_contact import detect_contacts
from glot_blender.core.kinematics import forward_kinematics
from inference_server.camera_motion import CameraMotionTracker, CameraSolve, static_solve
from inference_server.world import LEVEL_UP, WorldOptions, fit_floor, ground_people

FPS = 30.0


def _solve_video(path) -> CameraSolve:
    tracker = CameraMotionTracker(VIDEO_SIZE[0], VIDEO_SIZE[1], VIDEO_FOCAL)
    for frame in read_frames(path):
        tracker.add(frame)
    return tracker.finish()


def _world_joints(track) -> np.ndarray:
    poses = np.concatenate([track.world_orient[:, None], track.poses[:, 1:]], axis=1)
    return forward_kinematics(track.rest_joints, poses, track.world_transl).joints


def _path_length(points: np.ndarray, sigma: float = 2.0) -> float:
    smooth = gaussian_filter1d(points[:, :2], sigma, axis=0, mode="nearest")
    return float(np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum())


def test_walker_followed_by_a_panning_camera_walks_its_path_on_the_floor(bus_photo, tmp_path):
    walker = walk(90, FPS)
    rot, pos = following_camera(walker, height=1.5, pitch_deg=10.0)
    truth_r0t = np.einsum("ji,fjk->fik", rot[0], rot)
    video = write_camera_video(bus_photo, tmp_path / "pan.avi", truth_r0t)
    solve = _solve_video(video.path)
    assert solve.kind == "turning" and solve.total_rotation_deg > 20
    seen = camera_track(walker, rot, pos, noise_m=0.005, noise_deg=0.5)
    result = ground_people(solve, [seen], FPS, 0, 1)
    track = result.tracks[0]
    joints = _world_joints(track)
    truth = _path_length(walker.joints[:, 0])
    assert _path_length(joints[:, 0]) == pytest.approx(truth, rel=0.10)
    # filmed by the following camera the walker hardly moves across the picture
    assert _path_length(seen.transl @ np.diag([1, 0, 1])) < 0.6 * truth
    # feet on the floor where they are planted, the floor found from the feet
    stance_toe = joints[np.arange(len(joints)), np.asarray(TOES)[walker.stance], 2]
    assert np.median(np.abs(stance_toe)) <= 0.02
    planted = detect_contacts(joints, FPS).contacts
    assert planted.sum() >= 0.3 * len(joints)
    assert np.abs(joints[:, TOES, 2][planted]).max() <= 0.02
    cam = result.camera
    assert cam.up_source == "floor" and 0 <= cam.floor_residual_m < 0.02
    assert cam.position[0] == pytest.approx([0.0, 0.0, 1.5], abs=0.05)
    # world-from-camera: the camera looks 10 degrees down, and stays upright while panning
    forward = cam.rotation[:, :, 2]
    assert np.degrees(np.arcsin(-forward[:, 2])) == pytest.approx(np.full(90, 10.0), abs=1.0)
    assert np.abs(cam.rotation[:, 2, 0]).max() < 0.03  # camera x stays level


def test_person_standing_still_stays_put_while_the_camera_turns(bus_photo, tmp_path):
    still = walk(90, FPS, start=(0.3, 3.5), stand=True)
    truth_r0t = turning_rotations(90, yaw_deg=8.0, pitch_deg=3.0, roll_deg=2.0)
    level, pos = following_camera(still, follow=False, pitch_deg=5.0)
    rot = level[0] @ truth_r0t
    video = write_camera_video(bus_photo, tmp_path / "turn.avi", truth_r0t)
    seen = camera_track(still, rot, pos, noise_m=0.01, noise_deg=1.0)
    result = ground_people(_solve_video(video.path), [seen], FPS, 0, 1)
    pelvis = _world_joints(result.tracks[0])[:, 0]
    drift = np.linalg.norm(pelvis[-10:].mean(0) - pelvis[:10].mean(0))
    assert drift <= 0.05
    cam_pelvis = seen.transl
    assert np.linalg.norm(cam_pelvis[45] - cam_pelvis[0]) > 0.2  # it moved in the camera
    assert result.camera.up_source == "people"


def test_static_camera_keeps_one_pose_exactly():
    walker = walk(40, FPS)
    rot, pos = following_camera(walker, follow=False)
    seen = camera_track(walker, np.broadcast_to(rot[0], rot.shape), pos)
    result = ground_people(static_solve(40), [seen], FPS, 0, 1)
    cam = result.camera
    assert cam.kind == "static" and cam.total_rotation_deg == 0.0
    assert (cam.rotation == cam.rotation[0]).all() and (cam.position == cam.position[0]).all()


def test_moving_camera_travel_is_scaled_by_planted_feet():
    """A dolly shot: the camera slides 1.2 m sideways past a standing person; the solve sees
    the travel's direction (parallax of a dot scene), the planted feet give its length."""
    n = 60
    still = walk(n, FPS, start=(0.0, 4.0), stand=True)
    centers = np.column_stack([np.linspace(0, 1.2, n), np.zeros(n), np.zeros(n)])  # camera 0
    level, _pos = following_camera(still, follow=False, pitch_deg=0.0)
    rot = np.broadcast_to(level[0], (n, 3, 3))
    pos = centers @ level[0].T + [0.0, 0.0, 1.5]
    points, grey = dot_scene()
    tracker = CameraMotionTracker(640, 480, 500.0)
    for c in centers:
        tracker.add(render_dots(points, grey, np.eye(3), c))
    solve = tracker.finish()
    assert solve.kind == "moving"
    seen = camera_track(still, rot, pos, noise_m=0.005)
    result = ground_people(solve, [seen], FPS, 0, 1)
    travel = np.linalg.norm(result.camera.position[-1] - result.camera.position[0])
    assert travel == pytest.approx(1.2, rel=0.15)
    pelvis = _world_joints(result.tracks[0])[:, 0]
    assert np.linalg.norm(pelvis[-5:].mean(0) - pelvis[:5].mean(0)) < 0.1


def test_floor_fit_plane_line_cluster_and_level_fallback():
    rng = np.random.default_rng(0)
    tilt = np.radians(12.0)
    up = np.array([0.0, -np.cos(tilt), np.sin(tilt)])  # a camera looking 12 degrees down
    a = np.cross(up, [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(up, a)
    # planted feet over an area 1.5 m below the camera
    area = (rng.uniform(-1, 1, (200, 1)) * a + rng.uniform(-1, 1, (200, 1)) * b) - 1.5 * up
    area += rng.normal(scale=0.01, size=area.shape)
    upright = np.tile(up, (50, 1))
    n, height, resid, source = fit_floor(area, upright, WorldOptions())
    assert source == "floor" and np.degrees(np.arccos(n @ up)) < 1.0
    assert height == pytest.approx(1.5, abs=0.01) and resid < 0.02
    line = (rng.uniform(-1, 1, (100, 1)) * a) - 1.5 * up  # one walk away from the camera
    n, _h, _r, source = fit_floor(line, np.tile(LEVEL_UP, (50, 1)), WorldOptions())
    assert source == "floor" and np.degrees(np.arccos(n @ up)) < 1.0  # the walk's slope
    cluster = rng.normal(scale=0.05, size=(60, 3)) - 1.5 * up
    n, _h, _r, source = fit_floor(cluster, upright, WorldOptions())
    assert source == "people" and np.allclose(n, up)
    n, height, resid, source = fit_floor(np.zeros((0, 3)), np.zeros((0, 3)), WorldOptions())
    assert source == "level" and np.array_equal(n, LEVEL_UP) and resid == -1.0
