"""The temporal solver on a still person in a real photograph (lite backend, BlazePose).

The video is the bus.jpg photo under a slow zoom and pan (as the lite CLI test makes it): the
man on the left stands still, so his joint rotations and limb directions should not change
from frame to frame, and the refined body should lie on BlazePose's 2D landmarks. Unrefined,
the lite backend jitters by several degrees per frame here (docs/lite-backend.md).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from lite_photo import BUS_PEOPLE
from torch_support import torch_threads

from glot_blender.core.kinematics import forward_kinematics
from glot_blender.core.motion_clip import read_clip
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_angle
from inference_server.lite import landmarks as lm
from inference_server.refine.body import SOLVER_LANDMARKS, offset_scale

pytest.importorskip("mediapipe")
from inference_server.backends.base import TrackInput  # noqa: E402
from inference_server.backends.lite_backend import LiteBackend  # noqa: E402
from inference_server.crop import crop_people  # noqa: E402
from inference_server.pipeline import AnalyzeOptions, Engine  # noqa: E402

FRAMES = 30
SIZE = (640, 616)
PHOTO_REGION = (0, 300, 810, 1080)
ZOOM_PER_FRAME = 0.002
PAN_PX_PER_FRAME = 1.0
#: (hip, knee), (knee, ankle), (shoulder, elbow), (elbow, wrist) of both sides
LIMBS = ((1, 4), (4, 7), (2, 5), (5, 8), (16, 18), (18, 20), (17, 19), (19, 21))


def _warp(i: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Frame i's zoom s, pan t and resize d: a photo-region pixel X is at d * (s X - t)."""
    x0, y0, x1, y1 = PHOTO_REGION
    d = np.array([SIZE[0] / (x1 - x0), SIZE[1] / (y1 - y0)])
    return 1.0 + ZOOM_PER_FRAME * i, np.array([PAN_PX_PER_FRAME * i, 0.0]), d


def _write_video(photo: Path, path: Path) -> None:
    x0, y0, x1, y1 = PHOTO_REGION
    region = cv2.imread(str(photo))[y0:y1, x0:x1]
    h, w = region.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, SIZE)
    for i in range(FRAMES):
        s, t, _ = _warp(i)
        frame = cv2.warpAffine(region, np.array([[s, 0.0, -t[0]], [0.0, s, -t[1]]]), (w, h),
                               borderMode=cv2.BORDER_REPLICATE)
        writer.write(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    writer.release()


@pytest.fixture(scope="module")
def refined(bus_photo: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("still")
    video = folder / "bus.mp4"
    _write_video(bus_photo, video)
    with torch_threads(1):
        result = Engine(device="cpu").analyze(AnalyzeOptions(
            video=video, output=folder / "bus.npz", backend="lite", detector="hog", device="cpu",
            min_track_len=10))
    clip = read_clip(result.path)
    man = max(clip.tracks, key=lambda t: float(t.confidence.mean()))
    return video, clip, man


def _angles(man) -> tuple[float, float]:
    """Mean per-joint rotation change and limb-direction change, degrees per frame."""
    rot = axis_angle_to_matrix(man.poses.astype(np.float64))
    joint_change = np.degrees(matrix_angle(rot[1:], rot[:-1])).mean()
    joints = forward_kinematics(man.rest_joints, man.poses).joints
    d = np.stack([joints[:, b] - joints[:, a] for a, b in LIMBS], 1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    limb_change = np.degrees(np.arccos(np.clip((d[1:] * d[:-1]).sum(-1), -1, 1))).mean()
    return float(joint_change), float(limb_change)


def test_a_still_person_holds_still(refined):
    _, _, man = refined
    assert man.refined is True and man.confidence.mean() > 0.5
    joint_change, limb_change = _angles(man)
    assert joint_change <= 0.5, f"joint rotations change by {joint_change:.2f} deg/frame"
    assert limb_change <= 1.0, f"limb directions change by {limb_change:.2f} deg/frame"


def test_the_refined_body_lies_on_blazeposes_landmarks(refined):
    """Overlay error against BlazePose's 2D landmarks of the man, with BlazePose's own
    frame-to-frame noise taken out (the man is still in the photo: his landmarks mapped back
    through each frame's known zoom and pan, their median, mapped forward again)."""
    video, clip, man = refined
    backend = LiteBackend()
    try:
        cap = cv2.VideoCapture(str(video))
        frames = [cap.read()[1] for _ in range(FRAMES)]
        cap.release()
        feats = np.concatenate([
            backend.encode_crops(crop_people(frames[f], man.bbox[r:r + 1], backend.crop_scale,
                                             backend.crop_size))
            for r, f in enumerate(man.frame_ids)])
        track = TrackInput(man.track_id, man.frame_ids, man.bbox, feats, man.filled,
                           np.ones(man.num_frames))
        keypoints = backend.keypoints_2d(track)[:, list(SOLVER_LANDMARKS)]
    finally:
        backend.close()
    warps = [_warp(int(f)) for f in man.frame_ids]
    in_photo = np.stack([(kp[:, :2] / d + t) / s for kp, (s, t, d) in zip(keypoints, warps)])
    steady = np.median(in_photo, axis=0)
    target = np.stack([d * (s * steady - t) for s, t, d in warps])
    fk = forward_kinematics(man.rest_joints, man.poses, man.transl)
    points = lm.landmarks_from_pose(fk.joints, fk.rotations, offset_scale(man.rest_joints))
    pixels = (points[..., :2] / points[..., 2:3] * clip.focal_px
              + np.array([clip.width / 2, clip.height / 2]))[:, list(SOLVER_LANDMARKS)]
    seen = keypoints[..., 2] >= 0.5
    error = np.linalg.norm(pixels - target, axis=-1)[seen].mean()
    height = BUS_PEOPLE[0][3] * np.mean([d[1] * s for s, _, d in warps])  # hand-measured box
    assert error <= 0.03 * height, f"overlay error {error:.1f} px, {100 * error / height:.1f}% of height"
    # the solver's own figure, against BlazePose's raw (noisy, now and then swapped) landmarks
    assert 0 < man.refine_error_px <= 0.03 * height, (man.refine_error_px, height)


def test_lite_keypoints_land_on_the_person_in_the_full_frame(bus_photo: Path):
    """The 2D evidence the solver gets from the lite backend: BlazePose's landmarks of each
    crop mapped back to full-frame pixels fall on the photographed person."""
    frame = cv2.imread(str(bus_photo))
    backend = LiteBackend()
    try:
        boxes = np.array(BUS_PEOPLE)
        feats = backend.encode_crops(crop_people(frame, boxes, backend.crop_scale, backend.crop_size))
        track = TrackInput(1, np.arange(2), boxes, feats, np.zeros(2, bool), np.ones(2))
        keypoints = backend.keypoints_2d(track)
    finally:
        backend.close()
    assert keypoints.shape == (2, 33, 3) and (keypoints[..., 2] > 0.5).mean() > 0.7
    for person, (cx, cy, w, h) in enumerate(BUS_PEOPLE):
        xy = keypoints[person, :, :2]
        assert (np.abs(xy[:, 0] - cx) < 0.5 * w).all() and (np.abs(xy[:, 1] - cy) < 0.5 * h).all()
        head, ankles = xy[lm.NOSE, 1], xy[[lm.LEFT_ANKLE, lm.RIGHT_ANKLE], 1]
        assert head < cy - 0.25 * h and (ankles > cy + 0.25 * h).all()  # upright, full body
