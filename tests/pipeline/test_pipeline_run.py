"""The whole pipeline on a short synthetic video with the synthetic GLoT/SPIN files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import synthetic_video
from pipeline_support import MIN_TRACK_LEN, sha256_of

from glot_blender.core.motion_clip import read_clip
from inference_server.errors import (
    InvalidRequestError,
    JobCancelled,
    ModelFileError,
    NoPersonError,
    VideoError,
)
from inference_server.pipeline import STAGES, AnalyzeOptions, Engine, ProgressEvent


def _options(video: Path, out: Path, **kw) -> AnalyzeOptions:
    base = {"detector": "hog", "device": "cpu", "min_track_len": MIN_TRACK_LEN, "backend": "glot"}
    base.update(kw)
    return AnalyzeOptions(video=video, output=out, **base)


@pytest.fixture(scope="module")
def analysed(engine: Engine, walk_video, synthetic_models: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "walk.npz"
    events: list[ProgressEvent] = []
    result = engine.analyze(_options(walk_video.path, out), progress=events.append)
    return result, events, out


def test_clip_is_written_and_complete(analysed, walk_video, synthetic_models: Path) -> None:
    result, _, out = analysed
    assert result.path == out and out.is_file()
    clip = read_clip(out)
    n = walk_video.num_frames
    assert clip.frame_count == n and clip.fps == pytest.approx(walk_video.fps)
    assert (clip.width, clip.height) == (walk_video.width, walk_video.height)
    assert clip.backend == "glot" and clip.source_name == "walk.mp4"
    assert clip.checkpoint_sha256 == sha256_of(synthetic_models / "table1_3dpw_weights.pth.tar")
    assert clip.focal_px == pytest.approx(result.focal_px) and clip.focal_px > 0
    assert {"torch", "opencv", "numpy", "glot-mocap"} <= set(clip.software)
    # the options that shaped the result (what `batch` compares to skip up-to-date clips)
    assert clip.analysis_options == _options(walk_video.path, out).recorded()
    assert clip.analysis_options["min_track_len"] == MIN_TRACK_LEN
    assert not {"video", "output", "device", "models_dir"} & set(clip.analysis_options)
    assert clip.track_ids == [1]
    t = clip.tracks[0]
    assert t.num_frames >= n - 2  # HOG finds the walker in (nearly) every frame
    assert t.poses.shape == (t.num_frames, 24, 3) and t.joints3d.shape == (t.num_frames, 24, 3)
    assert t.rest_joints.shape == (24, 3)
    assert np.all(t.transl[:, 2] > 0)  # in front of the camera
    assert np.all((t.confidence >= 0) & (t.confidence <= 1))
    assert [s.track_id for s in result.tracks] == [1]
    assert result.tracks[0].num_frames == t.num_frames


def test_boxes_follow_the_person_and_transl_moves_with_them(analysed, walk_video) -> None:
    _, _, out = analysed
    t = read_clip(out).tracks[0]
    gt = walk_video.boxes[1][t.frame_ids]  # [x1, y1, x2, y2]
    gt_centre = (gt[:, :2] + gt[:, 2:]) / 2
    assert np.abs(t.bbox[:, 0] - gt_centre[:, 0]).max() < 0.25 * t.bbox[:, 2].mean()
    # the walker goes left to right: the box centre and the camera-space x both increase
    assert t.bbox[-1, 0] > t.bbox[0, 0]
    assert t.transl[-1, 0] - t.transl[0, 0] > 0


def test_progress_names_stages_in_order_and_counts_up(analysed) -> None:
    _, events, _ = analysed
    assert {e.stage for e in events} <= set(STAGES)
    order = [s for s in STAGES if any(e.stage == s for e in events)]
    assert order[0] == "decode" and order[-1] == "write"
    assert {"detect", "features", "pose"} <= set(order)
    assert events[0].stage == "decode" and "fps" in events[0].message  # the video opened
    for stage in order[1:]:
        done = [e.done for e in events if e.stage == stage]
        assert done == sorted(done)
        last = [e for e in events if e.stage == stage][-1]
        assert last.total is None or last.done == last.total


def test_range_and_stride(engine: Engine, walk_video, tmp_path: Path) -> None:
    out = tmp_path / "strided.npz"
    engine.analyze(_options(walk_video.path, out, start=2, end=15, stride=2, min_track_len=4))
    clip = read_clip(out)
    assert (clip.start_frame, clip.frame_step, clip.frame_count) == (2, 2, 7)
    assert clip.fps == pytest.approx(walk_video.fps / 2)
    ids = clip.tracks[0].frame_ids
    assert ids.min() >= 2 and ids.max() <= 14 and np.all((ids - 2) % 2 == 0)


def test_cancel_during_features_leaves_no_file(engine: Engine, walk_video, tmp_path: Path) -> None:
    out = tmp_path / "cancelled.npz"
    seen: list[str] = []

    def cancel() -> bool:
        return "features" in seen

    with pytest.raises(JobCancelled):
        engine.analyze(_options(walk_video.path, out), progress=lambda e: seen.append(e.stage),
                       should_cancel=cancel)
    assert "pose" not in seen and "write" not in seen
    assert list(tmp_path.iterdir()) == []


def test_cancel_during_detection(engine: Engine, walk_video, tmp_path: Path) -> None:
    out = tmp_path / "cancelled.npz"
    seen: list[ProgressEvent] = []
    with pytest.raises(JobCancelled):
        engine.analyze(_options(walk_video.path, out), progress=seen.append,
                       should_cancel=lambda: any(e.stage == "detect" for e in seen))
    detect = [e for e in seen if e.stage == "detect"]
    assert len(detect) == 1 and detect[0].done < detect[0].total  # stopped after one batch
    assert not out.exists()


def test_no_person(engine: Engine, empty_video, tmp_path: Path) -> None:
    out = tmp_path / "none.npz"
    with pytest.raises(NoPersonError, match=rf"at least {MIN_TRACK_LEN} .*frames 0\.\.7"):
        engine.analyze(_options(empty_video.path, out))
    assert not out.exists()


def test_bad_videos(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="does not exist"):
        engine.analyze(_options(tmp_path / "missing.mp4", tmp_path / "a.npz"))
    text = synthetic_video.write_not_a_video(tmp_path / "text.mp4")
    with pytest.raises(VideoError, match="text.mp4"):
        engine.analyze(_options(text, tmp_path / "b.npz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.mp4"]


def test_bad_options(engine: Engine, walk_video, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match=r"\.npz"):
        engine.analyze(_options(walk_video.path, tmp_path / "out.json"))
    with pytest.raises(InvalidRequestError, match="stride"):
        engine.analyze(_options(walk_video.path, tmp_path / "o.npz", stride=0))
    with pytest.raises(InvalidRequestError, match="end"):
        engine.analyze(_options(walk_video.path, tmp_path / "o.npz", start=5, end=5))
    with pytest.raises(InvalidRequestError, match="focal_px or fov_deg|either"):
        engine.analyze(_options(walk_video.path, tmp_path / "o.npz", fov_deg=50, focal_px=900))


def test_missing_model_files_are_named(walk_video, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GLOT_MODELS_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    empty = tmp_path / "models"
    empty.mkdir()
    with pytest.raises(ModelFileError) as err:
        Engine(models_dir=empty).analyze(_options(walk_video.path, tmp_path / "o.npz"))
    msg = str(err.value)
    assert "table1_3dpw_weights.pth.tar" in msg and "spin_model_checkpoint.pth.tar" in msg
    assert str(empty) in msg
    assert not (tmp_path / "o.npz").exists()


def test_engine_keeps_models_between_jobs(engine: Engine, analysed, synthetic_models) -> None:
    from inference_server.registry import ModelRegistry

    reg = ModelRegistry(synthetic_models)
    assert engine.backend("glot", reg, "cpu") is engine.backend("glot", reg, "cpu")


def test_describe_reports_backends_and_devices(engine: Engine) -> None:
    from inference_server.devices import find_devices

    info = engine.describe()
    assert info["default_device"] in [d["id"] for d in find_devices()]
    assert info["backends"]["glot"] == {"ready": True, "missing": []}
    assert "lite" in info["backends"]


def test_auto_backend_without_glot_files_falls_back_to_lite_or_says_why(
    walk_video, tmp_path: Path, monkeypatch
) -> None:
    import importlib.util

    from inference_server.errors import BackendUnavailableError

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GLOT_MODELS_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    out = tmp_path / "auto.npz"
    options = _options(walk_video.path, out, backend="auto")
    engine = Engine(models_dir=tmp_path / "no-models", device="cpu")
    if importlib.util.find_spec("inference_server.backends.lite_backend") is None:
        with pytest.raises(BackendUnavailableError, match="lite"):
            engine.analyze(options)
        assert not out.exists()
    else:
        result = engine.analyze(options)
        assert result.backend == "lite" and read_clip(out).backend == "lite"
        assert any("table1_3dpw_weights.pth.tar" in n for n in result.notices)
