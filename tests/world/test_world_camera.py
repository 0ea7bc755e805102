"""The camera's own motion from the background (inference_server.camera_motion).

Known truth: bus.jpg (a real street photo) filmed by a camera turning by a known rotation per
frame (tests/world/camera_video.py), written as a real MJPG video and decoded again; a 3D
scene of dots filmed by a camera that also moves (parallax).
"""

from __future__ import annotations

import numpy as np
import pytest
from camera_video import (
    VIDEO_FOCAL,
    VIDEO_SIZE,
    dot_scene,
    project_scene_point,
    read_frames,
    render_dots,
    turning_rotations,
    write_camera_video,
)

from inference_server.camera_motion import (
    CameraMotionOptions,
    CameraMotionTracker,
    box_mask,
    rotation_angle_deg,
    smooth_rotations,
)

#: people in bus.jpg (photo pixels): [x0, y0, x1, y1] of the two fully visible men and the woman
BUS_PEOPLE_XYXY = np.array([[40, 390, 290, 910], [200, 400, 360, 870], [660, 380, 810, 880]],
                           float)


def _people_boxes(rotation: np.ndarray) -> np.ndarray:
    """The people's boxes [cx, cy, w, h] in a video frame turned by ``rotation``."""
    out = []
    for x0, y0, x1, y1 in BUS_PEOPLE_XYXY:
        corners = project_scene_point(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]), rotation)
        lo, hi = corners.min(0), corners.max(0)
        out.append([*(lo + hi) / 2, *(hi - lo)])
    return np.asarray(out)


def _solve(path, rotations, options=None, boxes=True):
    tracker = CameraMotionTracker(VIDEO_SIZE[0], VIDEO_SIZE[1], VIDEO_FOCAL, options)
    for frame, rot in zip(read_frames(path), rotations):
        tracker.add(frame, _people_boxes(rot) if boxes else None)
    return tracker, tracker.finish()


def _errors_deg(solved: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return rotation_angle_deg(np.einsum("fji,fjk->fik", solved, truth))


def test_turning_camera_rotation_within_half_a_degree(bus_photo, tmp_path):
    truth = turning_rotations(90, yaw_deg=6.0, pitch_deg=3.0, roll_deg=2.0)
    video = write_camera_video(bus_photo, tmp_path / "turn.avi", truth)
    tracker, solve = _solve(video.path, truth)
    assert solve.num_frames == 90
    assert solve.kind == "turning"
    assert _errors_deg(solve.rotations, truth).max() < 0.5
    true_total = rotation_angle_deg(np.einsum("fji,fjk->fik", truth[:-1], truth[1:])).sum()
    assert solve.total_rotation_deg == pytest.approx(true_total, rel=0.1)
    assert np.array_equal(solve.rotations[0], np.eye(3))
    # worked on a reduced image, cost reported
    assert max(tracker.size) <= CameraMotionOptions().max_side
    assert 0 < solve.seconds_per_frame < 1.0
    assert solve.features > 100


def test_long_turn_takes_new_keyframes_without_drift(bus_photo, tmp_path):
    truth = turning_rotations(120, yaw_deg=25.0, pitch_deg=5.0, roll_deg=4.0)
    video = write_camera_video(bus_photo, tmp_path / "long.avi", truth)
    _tracker, solve = _solve(video.path, truth)
    assert solve.keyframes > 1
    err = _errors_deg(solve.rotations, truth)
    assert err.max() < 0.5
    assert err[-1] < 0.5  # back where it started: no drift left at the end


def test_static_video_is_exactly_the_identity(bus_photo, tmp_path):
    truth = np.broadcast_to(np.eye(3), (60, 3, 3))
    video = write_camera_video(bus_photo, tmp_path / "still.avi", truth)
    _tracker, solve = _solve(video.path, truth)
    assert solve.kind == "static"
    assert solve.total_rotation_deg == 0.0
    assert np.array_equal(solve.rotations, np.broadcast_to(np.eye(3), (60, 3, 3)))
    assert not solve.directions.any()


def test_moving_camera_gives_rotation_and_direction_from_parallax():
    n = 60
    points, grey = dot_scene()
    truth = turning_rotations(n, yaw_deg=3.0, pitch_deg=1.0, roll_deg=0.0)
    centers = np.column_stack([np.linspace(0, 1.2, n), np.zeros(n), np.linspace(0, 0.3, n)])
    tracker = CameraMotionTracker(640, 480, 500.0)
    for rot, center in zip(truth, centers):
        tracker.add(render_dots(points, grey, rot, center))
    solve = tracker.finish()
    assert solve.kind == "moving"
    assert _errors_deg(solve.rotations, truth).max() < 1.0
    # the camera centre's displacement from its keyframe, once it is large enough to see
    late = np.arange(n) >= n // 4
    key_centers = centers[solve.key_index]
    true_dir = centers - key_centers
    true_dir /= np.maximum(np.linalg.norm(true_dir, axis=1, keepdims=True), 1e-12)
    angle = np.degrees(np.arccos(np.clip(np.sum(solve.directions * true_dir, 1), -1, 1)))
    assert np.median(angle[late]) < 5.0


def test_people_boxes_are_masked_out():
    mask = box_mask((100, 200), np.array([[100.0, 50.0, 40.0, 60.0]]), 0.5, 0.0)
    assert mask.shape == (100, 200)
    assert mask[25, 50] == 0 and mask[25, 5] == 255
    assert mask[10:40, 40:60].max() == 0 and mask[45, 50] == 255


def test_smoothing_keeps_a_steady_turn_and_the_first_frame():
    from scipy.spatial.transform import Rotation

    truth = Rotation.from_euler("y", np.linspace(0.0, 20.0, 40)[:, None], degrees=True).as_matrix()
    smoothed = smooth_rotations(truth, 2.0)
    assert np.array_equal(smoothed[0], np.eye(3))
    assert _errors_deg(smoothed, truth).max() < 1e-4
