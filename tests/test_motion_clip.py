"""The motion clip format: round trip, validation, atomic writes, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from glot_blender.core.motion_clip import (
    SCHEMA,
    MotionClip,
    MotionClipError,
    TrackMotion,
    read_clip,
    write_clip,
)
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS


def make_track(track_id: int, n: int, rng: np.random.Generator) -> TrackMotion:
    return TrackMotion(
        track_id=track_id,
        frame_ids=np.arange(n) + 3,
        global_orient=rng.normal(size=(n, 3)) * 0.2,
        body_pose=rng.normal(size=(n, 69)) * 0.2,
        betas=rng.normal(size=(n, 10)),
        cam_crop=np.tile([0.9, 0.0, 0.1], (n, 1)),
        bbox=np.tile([320, 240, 200, 200], (n, 1)),
        transl=rng.normal(size=(n, 3)),
        rest_joints=DEFAULT_REST_JOINTS,
        joints3d=rng.normal(size=(n, 24, 3)),
        confidence=np.ones(n),
        filled=np.zeros(n, bool),
    )


def test_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    clip = MotionClip(fps=30.0, frame_count=40, width=640, height=480,
                      tracks=[make_track(1, 40, rng), make_track(4, 12, rng)],
                      backend="glot", software={"torch": "2.13.0"})
    path = write_clip(tmp_path / "clip.npz", clip)
    with np.load(path, allow_pickle=False) as data:
        assert str(data["schema"]) == SCHEMA
        assert data["track_4/body_pose"].shape == (12, 69)
    back = read_clip(path)
    assert back.track_ids == [1, 4]
    assert back.software == {"torch": "2.13.0"}
    np.testing.assert_array_equal(back.track(4).body_pose, clip.track(4).body_pose)
    assert back.track(1).poses.shape == (40, 24, 3)


def test_analysis_options_round_trip_and_older_clips_read_without_them(tmp_path):
    rng = np.random.default_rng(1)
    options = {"stride": 2, "fov_deg": None, "backend": "auto"}
    clip = MotionClip(fps=25.0, frame_count=5, width=64, height=48,
                      tracks=[make_track(1, 5, rng)], analysis_options=options)
    path = write_clip(tmp_path / "clip.npz", clip)
    assert read_clip(path).analysis_options == options
    with np.load(path, allow_pickle=False) as data:  # a clip written before the key existed
        older = {k: data[k] for k in data.files if k != "analysis_options"}
    np.savez(tmp_path / "old.npz", **older)
    assert read_clip(tmp_path / "old.npz").analysis_options == {}
    older["analysis_options"] = np.array("[1, 2]")
    np.savez(tmp_path / "bad.npz", **older)
    with pytest.raises(MotionClipError, match="analysis_options"):
        read_clip(tmp_path / "bad.npz")


def test_unknown_schema_and_missing_keys_are_clear(tmp_path):
    rng = np.random.default_rng(1)
    clip = MotionClip(fps=25.0, frame_count=5, width=64, height=64, tracks=[make_track(2, 5, rng)])
    path = write_clip(tmp_path / "c.npz", clip)
    data = dict(np.load(path, allow_pickle=False))
    data["schema"] = np.array("glot-motion/99")
    np.savez(tmp_path / "future.npz", **data)
    with pytest.raises(MotionClipError, match="glot-motion/99"):
        read_clip(tmp_path / "future.npz")
    data["schema"] = np.array(SCHEMA)
    del data["track_2/betas"]
    np.savez(tmp_path / "broken.npz", **data)
    with pytest.raises(MotionClipError, match="track_2/betas"):
        read_clip(tmp_path / "broken.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MotionClipError, match="junk.npz"):
        read_clip(tmp_path / "junk.npz")


def test_bad_shapes_rejected_and_failed_write_leaves_nothing(tmp_path):
    rng = np.random.default_rng(2)
    with pytest.raises(MotionClipError, match="body_pose"):
        TrackMotion(**{**make_track(1, 4, rng).__dict__, "body_pose": np.zeros((4, 60))})
    clip = MotionClip(fps=30.0, frame_count=4, width=8, height=8,
                      tracks=[make_track(1, 4, rng), make_track(1, 4, rng)])
    with pytest.raises(MotionClipError, match="duplicate"):
        write_clip(tmp_path / "dup.npz", clip)
    assert list(tmp_path.iterdir()) == []


def test_solver_fields_round_trip_and_are_optional(tmp_path):
    rng = np.random.default_rng(2)
    refined = make_track(1, 10, rng)
    refined.refined, refined.refine_error_px = True, 3.25
    unsolved = make_track(2, 10, rng)  # the solver did not run (--no-refine)
    no_2d = make_track(3, 10, rng)
    no_2d.refined = True  # refined without 2D evidence: error NaN
    clip = MotionClip(fps=25.0, frame_count=10, width=64, height=48, tracks=[refined, unsolved, no_2d])
    path = write_clip(tmp_path / "clip.npz", clip)
    with np.load(path, allow_pickle=False) as data:
        assert data["track_1/refined"].dtype == bool and data["track_1/refined"].shape == ()
        assert float(data["track_1/refine_error_px"]) == 3.25
        assert "track_2/refined" not in data and "track_2/refine_error_px" not in data
    back = read_clip(path)
    assert back.track(1).refined is True and back.track(1).refine_error_px == 3.25
    assert back.track(2).refined is None and np.isnan(back.track(2).refine_error_px)
    assert back.track(3).refined is True and np.isnan(back.track(3).refine_error_px)
