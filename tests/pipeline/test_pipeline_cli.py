"""``glot-mocap`` as a real subprocess: analyze, models, errors and exit codes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_support import MIN_TRACK_LEN

from glot_blender.core.motion_clip import read_clip

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("GLOT_MODELS_DIR", None)
    env.pop("XDG_DATA_HOME", None)
    return subprocess.run([sys.executable, "-m", "inference_server.cli", *args], check=False,
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_analyze_writes_a_clip_and_prints_the_people(walk_video, synthetic_models: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "walk.npz"
    proc = _cli("analyze", str(walk_video.path), "-o", str(out), "--models", str(synthetic_models),
                "--detector", "hog", "--device", "cpu", "--min-track-len", str(MIN_TRACK_LEN),
                "--fov-deg", "70", "--no-fbx", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 person(s), backend glot" in proc.stdout
    header = next(line for line in proc.stdout.splitlines() if "person" in line and "frames" in line)
    assert header.split() == ["person", "frames", "first", "last", "filled", "confidence",
                              "refined", "2D", "error", "body"]
    row = proc.stdout.splitlines()[proc.stdout.splitlines().index(header) + 2].split()
    assert row[0] == "1" and row[6] in ("yes", "no")  # the solver ran (on by default)
    assert row[-1] == "full"  # GLoT does not judge: every track counts as a full body
    # the progress bar (plain lines without a terminal) on stderr
    assert "detect" in proc.stderr and "features" in proc.stderr and "[#" in proc.stderr
    clip = read_clip(out)
    assert clip.track_ids == [1]
    assert not out.with_suffix(".fbx").exists() and "FBX" not in proc.stdout  # --no-fbx
    assert clip.focal_px == pytest.approx(0.5 * walk_video.width / math.tan(math.radians(35)))


def test_known_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _cli("analyze", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.npz"),
                home=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glot-mocap: error:") and "nope.mp4" in lines[0]
    assert not (tmp_path / "o.npz").exists()


def test_models_lists_every_file_and_the_folders(synthetic_models: Path, tmp_path: Path) -> None:
    proc = _cli("models", "--models", str(synthetic_models), home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "[glot] ready" in text and "[yolo] MISSING FILES" in text
    for name in ("table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar", "yolov3.cfg",
                 "yolov3.weights", str(synthetic_models), str(tmp_path / ".local")):
        assert name in text
    empty = _cli("models", "--models", str(tmp_path / "none"), home=tmp_path)
    assert "[glot] MISSING FILES" in empty.stdout and "drive.google.com" in empty.stdout


def test_synth_models_then_models_reports_glot_ready(tmp_path: Path) -> None:
    folder = tmp_path / "synth"
    made = _cli("synth-models", str(folder), home=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "random weights" in made.stdout
    listed = _cli("models", "--models", str(folder), home=tmp_path)
    assert "[glot] ready" in listed.stdout and "[body] optional: present" in listed.stdout
    assert str(folder / "SMPL_NEUTRAL.pkl") in listed.stdout


def test_setup_env_is_its_own_command(tmp_path: Path) -> None:
    """The server never sets itself up (it imports nothing of glot_blender but core): its
    CLI names the environment command in one sentence; that command is server_env's."""
    proc = _cli("setup-env", "--help", home=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "glot-mocap-env" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(REPO))
    own = subprocess.run([sys.executable, "-m", "glot_blender.server_env", "--help"], check=False,
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert own.returncode == 0 and "usage: python -m glot_blender.server_env" in own.stdout
    assert "--lite" in own.stdout and "--cuda" in own.stdout
