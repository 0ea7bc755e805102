"""World grounding through the real pipeline: ``glot-mocap analyze`` (lite backend, HOG) on a
real video of bus.jpg filmed by a camera turning by a known rotation per frame.

What is checked here is what the pipeline adds: the camera solve with the detector's boxes
masked out, the version-2 clip, the world motion matching the solved camera, the CLI summary.
(How still a person stays in the world also depends on the pose model's depth from frame to
frame; tests/world/test_world_frame.py checks that part with known truth.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from camera_video import SCENE_FOCAL, write_camera_video
from scipy.spatial.transform import Rotation

from glot_blender.core.motion_clip import SCHEMA, read_clip
from glot_blender.core.rotations import axis_angle_to_matrix
from inference_server.camera_motion import rotation_angle_deg
from inference_server.pipeline import AnalyzeOptions, Engine

pytest.importorskip("mediapipe")

REPO = Path(__file__).resolve().parents[2]
#: the lower part of bus.jpg: full bodies large enough for HOG (as tests/lite/test_lite_cli.py)
PHOTO_ROWS = (300, 1080)
SIZE = (640, 616)
FOCAL = SCENE_FOCAL * SIZE[0] / 810
FRAMES = 40


def _scene(bus_photo: Path, folder: Path) -> Path:
    region = cv2.imread(str(bus_photo))[PHOTO_ROWS[0]:PHOTO_ROWS[1]]
    path = folder / "bus-region.png"
    cv2.imwrite(str(path), region)
    return path


def _turn(n: int) -> np.ndarray:
    """A steady pan to the right with a little tilt: camera-0-from-camera-t."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return Rotation.from_euler("yxz", np.hstack([7.0 * t, 2.0 * t, 1.0 * t]),
                               degrees=True).as_matrix()


@pytest.fixture(scope="module")
def analysed(bus_photo: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("world-cli")
    truth = _turn(FRAMES)
    video = write_camera_video(_scene(bus_photo, folder), folder / "pan.avi", truth, SIZE, FOCAL)
    out = folder / "pan.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server.cli", "analyze", str(video.path), "-o", str(out),
         "--backend", "lite", "--detector", "hog", "--device", "cpu", "--focal-px", str(FOCAL),
         "--min-track-len", "10", "--no-fbx", "-q"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return truth, out, proc


def test_clip_has_the_solved_camera_and_world_motion(analysed):
    truth, out, proc = analysed
    clip = read_clip(out)
    assert clip.has_world and SCHEMA == "glot-motion/2"
    cam = clip.camera
    assert cam.kind == "turning"
    assert cam.rotation.shape == (FRAMES, 3, 3) and cam.position.shape == (FRAMES, 3)
    relative = np.einsum("ji,fjk->fik", cam.rotation[0], cam.rotation)  # camera 0 from t
    assert rotation_angle_deg(np.einsum("fji,fjk->fik", relative, truth)).max() < 0.5
    assert np.ptp(cam.position, axis=0).max() == 0.0  # it turned, it did not travel
    # the world's z is up: the camera's x axis stays level and its y axis points down
    assert np.abs(cam.rotation[:, 2, 0]).max() < 0.2 and (cam.rotation[:, 2, 1] < -0.7).all()
    for track in clip.tracks:
        rows = (track.frame_ids - clip.start_frame) // clip.frame_step
        expected = cam.rotation[rows] @ axis_angle_to_matrix(track.global_orient)
        got = axis_angle_to_matrix(track.world_orient)
        assert rotation_angle_deg(np.einsum("fji,fjk->fik", expected, got)).max() < 0.01
        assert track.world_transl.shape == (track.num_frames, 3)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("camera: "))
    assert "turning" in line and "deg total rotation" in line and "ms/frame" in line
    assert ("residual" in line) or ("taken as level" in line)


def test_static_video_and_no_world_option(bus_photo, tmp_path):
    still = np.broadcast_to(np.eye(3), (10, 3, 3))
    video = write_camera_video(_scene(bus_photo, tmp_path), tmp_path / "still.avi", still, SIZE,
                               FOCAL)
    engine = Engine(device="cpu")
    common = dict(backend="lite", detector="hog", focal_px=FOCAL, min_track_len=5, device="cpu",
                  refine=False)  # the temporal solver is not what is checked here
    result = engine.analyze(AnalyzeOptions(video.path, tmp_path / "still.npz", **common))
    clip = read_clip(result.path)
    assert clip.camera.kind == "static" and clip.camera.total_rotation_deg == 0.0
    assert (clip.camera.rotation == clip.camera.rotation[0]).all()
    assert (clip.camera.position == clip.camera.position[0]).all()
    assert result.timings["camera"] > 0.0
    flat = engine.analyze(AnalyzeOptions(video.path, tmp_path / "flat.npz", world=False, **common))
    plain = read_clip(flat.path)
    assert not plain.has_world and flat.camera is None
    assert plain.analysis_options["world"] is False
