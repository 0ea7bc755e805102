"""Motion clip schema glot-motion/2: the camera solve and world motion round trip, are
validated, and glot-motion/1 clips still read (as clips without world grounding)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from glot_blender.core.motion_clip import (
    READABLE_SCHEMAS,
    SCHEMA,
    CameraTrajectory,
    MotionClip,
    MotionClipError,
    TrackMotion,
    read_clip,
    write_clip,
)
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

F = 12


def _track(track_id: int, n: int, world: bool, seed: int = 0) -> TrackMotion:
    rng = np.random.default_rng(seed)
    extra = dict(world_transl=rng.normal(size=(n, 3)), world_orient=rng.normal(size=(n, 3)) * 0.3)
    return TrackMotion(
        track_id=track_id, frame_ids=np.arange(n), global_orient=rng.normal(size=(n, 3)) * 0.2,
        body_pose=rng.normal(size=(n, 69)) * 0.2, betas=np.zeros((n, 10)),
        cam_crop=np.tile([0.9, 0.0, 0.1], (n, 1)), bbox=np.tile([320, 240, 200, 200], (n, 1)),
        transl=rng.normal(size=(n, 3)) + [0, 0, 4], rest_joints=DEFAULT_REST_JOINTS,
        joints3d=rng.normal(size=(n, 24, 3)), confidence=np.ones(n), filled=np.zeros(n, bool),
        **(extra if world else {}))


def _camera() -> CameraTrajectory:
    rot = Rotation.from_euler("z", np.linspace(0, 30, F)[:, None], degrees=True).as_matrix()
    return CameraTrajectory(rot, np.tile([0.0, 0.0, 1.5], (F, 1)), "turning", 30.0, "floor", 0.01)


def _clip(world: bool = True) -> MotionClip:
    return MotionClip(fps=30.0, frame_count=F, width=640, height=480,
                      tracks=[_track(1, F, world), _track(3, 5, world, seed=1)],
                      camera=_camera() if world else None)


def test_v2_round_trip_keeps_camera_and_world_motion(tmp_path):
    clip = _clip()
    path = write_clip(tmp_path / "clip.npz", clip)
    with np.load(path, allow_pickle=False) as data:
        assert str(data["schema"]) == SCHEMA == "glot-motion/2"
        assert data["camera_rotation"].shape == (F, 3, 3)
        assert data["camera_position"].shape == (F, 3)
        assert data["track_3/world_transl"].shape == (5, 3)
        assert data["track_3/world_orient"].shape == (5, 3)
    back = read_clip(path)
    assert back.has_world and back.camera.kind == "turning"
    assert back.camera.up_source == "floor" and back.camera.floor_residual_m == pytest.approx(0.01)
    np.testing.assert_allclose(back.camera.rotation, clip.camera.rotation)
    np.testing.assert_allclose(back.track(3).world_transl, clip.track(3).world_transl, atol=1e-6)


def test_glot_motion_1_clips_still_read(tmp_path):
    """A version-1 file (the same keys, schema "glot-motion/1", nothing of version 2)."""
    path = write_clip(tmp_path / "new.npz", _clip(world=False))
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["schema"] = np.array("glot-motion/1")
    old = tmp_path / "old.npz"
    np.savez_compressed(old, **arrays)
    assert READABLE_SCHEMAS[0] == "glot-motion/1"
    clip = read_clip(old)
    assert not clip.has_world and clip.camera is None
    assert all(not t.has_world for t in clip.tracks)
    assert clip.track_ids == [1, 3]


@pytest.mark.parametrize("break_it, words", [
    (lambda c: dataclasses.replace(c, camera=dataclasses.replace(
        c.camera, rotation=c.camera.rotation[:-1])), "one per analysed frame"),
    (lambda c: dataclasses.replace(c, camera=dataclasses.replace(
        c.camera, rotation=c.camera.rotation * 2)), "not rotations"),
    (lambda c: dataclasses.replace(c, camera=None), "no camera solve"),
    (lambda c: dataclasses.replace(c, tracks=[c.tracks[0], _track(3, 5, False)]),
     "lack world_transl"),
])
def test_inconsistent_world_grounding_is_refused(tmp_path, break_it, words):
    target = tmp_path / "bad.npz"
    with pytest.raises(MotionClipError, match=words):
        write_clip(target, break_it(_clip()))
    assert not target.exists()


def test_world_fields_come_in_pairs_with_the_track_length():
    with pytest.raises(MotionClipError, match="go together"):
        dataclasses.replace(_track(1, 4, True), world_orient=None)
    with pytest.raises(MotionClipError, match="world_transl"):
        dataclasses.replace(_track(1, 4, True), world_transl=np.zeros((3, 3)))
