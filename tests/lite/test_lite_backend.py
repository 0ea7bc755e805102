"""The lite backend with the real BlazePose model on a real photograph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from lite_photo import BUS_PEOPLE

from glot_blender.core.rotations import axis_angle_to_matrix
from inference_server.backends.base import TrackInput
from inference_server.crop import crop_people
from inference_server.lite import landmarks as lm

pytest.importorskip("mediapipe")
from inference_server.backends.lite_backend import FEATURE_DIM, LiteBackend


@pytest.fixture(scope="module")
def backend():
    b = LiteBackend()
    yield b
    b.close()


def _track(features: np.ndarray, box) -> TrackInput:
    n = len(features)
    return TrackInput(track_id=1, frame_ids=np.arange(n), bboxes=np.tile(box, (n, 1)),
                      features=features, filled=np.zeros(n, bool), det_score=np.ones(n))


def test_real_photo_gives_an_upright_standing_person(backend, bus_photo):
    frame = cv2.imread(str(bus_photo))
    crops = crop_people(frame, np.array(BUS_PEOPLE), scale=backend.crop_scale, size=backend.crop_size)
    feats = backend.encode_crops(crops)
    assert feats.shape == (2, FEATURE_DIM)
    assert not np.isnan(feats).any(), "BlazePose found no one in a crop of a standing person"
    for person in range(2):
        pose = backend.solve_track(_track(np.repeat(feats[person:person + 1], 3, axis=0), BUS_PEOPLE[person]))
        root = axis_angle_to_matrix(pose.global_orient[0].astype(np.float64))
        up_in_camera = root @ np.array([0.0, 1.0, 0.0])  # SMPL up, in the camera frame (y down)
        assert up_in_camera[1] < -0.8, f"pelvis not upright: up = {up_in_camera}"
        j = pose.joints3d[0]
        for hip, knee, ankle in ((lm.L_HIP, lm.L_KNEE, lm.L_ANKLE), (lm.R_HIP, lm.R_KNEE, lm.R_ANKLE)):
            assert j[hip, 1] < j[knee, 1] < j[ankle, 1], "legs must hang below the hips"
        assert j[lm.HEAD, 1] < j[lm.PELVIS, 1] - 0.3
        assert 0.3 < pose.cam_crop[0, 0] < 3.0
        assert pose.confidence.min() > 0.5
        leg = np.linalg.norm(pose.rest_joints[lm.L_HIP] - pose.rest_joints[lm.L_ANKLE])
        assert 0.6 < leg < 1.1, f"implausible leg length {leg:.2f} m"


def test_no_person_in_crop_gives_zero_confidence(backend):
    blank = np.full((2, backend.crop_size, backend.crop_size, 3), 127, np.uint8)
    feats = backend.encode_crops(blank)
    assert np.isnan(feats).all()
    pose = backend.solve_track(_track(feats, (100.0, 100.0, 50.0, 50.0)))
    assert (pose.confidence == 0).all()
    assert pose.joints3d.shape == (2, 24, 3) and np.isfinite(pose.joints3d).all()


def test_missing_mediapipe_says_how_to_install(tmp_path):
    blocker = tmp_path / "mediapipe.py"
    blocker.write_text("raise ImportError('blocked for the test')\n")
    code = ("from inference_server.backends.lite_backend import LiteBackend\n"
            "from inference_server.errors import BackendUnavailableError\n"
            "try:\n    LiteBackend()\nexcept BackendUnavailableError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).resolve().parents[2]}"}, timeout=120)
    assert "glot-mocap[lite]" in out.stdout and "mediapipe==0.10.21" in out.stdout, out.stderr
