"""The "refine" stage in the whole pipeline (GLoT on the synthetic files, a drawn walker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline_support import MIN_TRACK_LEN

from glot_blender.core.motion_clip import read_clip, write_clip
from inference_server.camera import resolve_focal
from inference_server.errors import JobCancelled
from inference_server.pipeline import AnalyzeOptions, Engine, ProgressEvent
from inference_server.stages.context import JobContext
from inference_server.stages.features import encode_people
from inference_server.stages.output import make_clip
from inference_server.stages.people import find_people
from inference_server.stages.solve import solve_people
from inference_server.video import open_video


def _options(video: Path, out: Path, **kw) -> AnalyzeOptions:
    base = {"detector": "hog", "device": "cpu", "min_track_len": MIN_TRACK_LEN, "backend": "glot"}
    base.update(kw)
    return AnalyzeOptions(video=video, output=out, **base)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files if k != "created"}


def test_no_refine_is_the_backends_output_byte_for_byte(engine: Engine, walk_video, tmp_path: Path):
    """--no-refine writes what the pipeline wrote before the solver existed: the stages up to
    "pose" and the clip, nothing else (GLoT stays the official forward pass). World grounding
    (a later, separate stage) is off on both sides."""
    options = _options(walk_video.path, tmp_path / "plain.npz", refine=False, world=False)
    engine.analyze(options)
    # the same analysis through the stages without the refine stage
    job = JobContext(None, None)
    info = open_video(options.video)
    registry = engine.registry()
    backend = engine.backend("glot", registry, "cpu")
    people = find_people(options, info, engine.detector("hog", registry), job)
    encode_people(options, people, backend, job)
    focal = resolve_focal(info.width, info.height, None, None)
    motions = solve_people(people, backend, info.width, info.height, focal, job)
    clip = make_clip(options, info, motions, backend, focal)
    write_clip(tmp_path / "stages.npz", clip)
    plain, stages = _arrays(tmp_path / "plain.npz"), _arrays(tmp_path / "stages.npz")
    assert sorted(plain) == sorted(stages)
    assert not any(k.endswith(("/refined", "/refine_error_px")) for k in plain)
    for key in plain:
        assert plain[key].dtype == stages[key].dtype and plain[key].tobytes() == stages[key].tobytes(), key
    assert read_clip(tmp_path / "plain.npz").analysis_options["refine"] is False


def test_refine_stage_reports_progress_and_records_its_result(engine: Engine, walk_video,
                                                              tmp_path: Path):
    out = tmp_path / "refined.npz"
    events: list[ProgressEvent] = []
    result = engine.analyze(_options(walk_video.path, out), progress=events.append)
    refine = [e for e in events if e.stage == "refine"]
    assert refine and refine[-1].done == refine[-1].total == len(result.tracks)
    stages = [e.stage for e in events]
    assert stages.index("refine") > max(i for i, s in enumerate(stages) if s == "pose")
    assert stages[-1] == "write"
    assert result.timings["refine"] > 0
    clip = read_clip(out)
    t = clip.tracks[0]
    assert t.refined is not None and result.tracks[0].refined == t.refined
    for name in ("global_orient", "body_pose", "betas", "transl", "joints3d", "cam_crop"):
        assert np.isfinite(getattr(t, name)).all()
    assert np.ptp(t.betas, axis=0).max() == 0.0 or not t.refined  # one shape per track
    assert clip.analysis_options["refine"] is True


def test_cancel_during_refine_leaves_no_file(engine: Engine, walk_video, tmp_path: Path):
    out = tmp_path / "cancelled.npz"
    seen: list[str] = []
    with pytest.raises(JobCancelled):
        engine.analyze(_options(walk_video.path, out), progress=lambda e: seen.append(e.stage),
                       should_cancel=lambda: "refine" in seen)
    assert "refine" in seen and "write" not in seen
    assert list(tmp_path.iterdir()) == []


def test_without_mediapipe_glot_is_refined_without_2d_and_says_so(walk_video, synthetic_models,
                                                                  tmp_path: Path):
    """mediapipe blocked in a fresh process: the analysis still refines (smoothing, limits,
    feet) with a notice, and the clip's 2D error is NaN."""
    import os
    import subprocess
    import sys

    (tmp_path / "mediapipe.py").write_text("raise ImportError('blocked for the test')\n")
    out = tmp_path / "out.npz"
    code = (
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from inference_server.pipeline import AnalyzeOptions, Engine\n"
        f"r = Engine(models_dir={str(synthetic_models)!r}, device='cpu').analyze(AnalyzeOptions(\n"
        f"    video={str(walk_video.path)!r}, output={str(out)!r}, backend='glot', detector='hog',\n"
        f"    device='cpu', min_track_len={MIN_TRACK_LEN}, world=False))\n"
        "print('NOTICES', r.notices)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{repo}", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "without 2D keypoints" in done.stdout and "glot-mocap[lite]" in done.stdout
    track = read_clip(out).tracks[0]
    assert track.refined is True and np.isnan(track.refine_error_px)
