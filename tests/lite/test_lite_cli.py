"""The README's main command end to end: ``glot-mocap analyze VIDEO -o OUT.npz --backend lite``
as a real subprocess on a real video (made here from the bus.jpg photo), giving a motion clip
and, with Blender's bpy in the same Python, an FBX that Blender imports back as animated rigs.

The video: the lower part of bus.jpg (people large enough for OpenCV's HOG detector, which
finds the man on the left in every frame but not reliably the others) with a slow zoom and
pan, 30 frames of 640x616 written with OpenCV's mp4v codec.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from assimp_fbx import read_fbx
from photos import BUS_VIDEO_FRAMES, write_bus_video

from glot_blender.blender.clip_to_fbx import MIN_MEAN_CONFIDENCE
from glot_blender.core.motion_clip import read_clip
from glot_blender.core.rotations import axis_angle_to_matrix
from glot_blender.core.smpl_skeleton import JOINT_NAMES

pytest.importorskip("mediapipe")

REPO = Path(__file__).resolve().parents[2]
FRAMES = BUS_VIDEO_FRAMES
MIN_TRACK_LEN = 10
MIN_CONFIDENCE = 0.5

REIMPORT = """
import sys, bpy
from glot_blender.blender.actions import action_fcurves
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.fbx(filepath=sys.argv[1], anim_offset=0.0)
for o in bpy.data.objects:
    if o.type == "ARMATURE":
        a = o.animation_data.action if o.animation_data else None
        start, end = a.frame_range if a else (0, -1)
        print("RIG", o.name, len(o.data.bones), len(action_fcurves(a)) if a else 0, start, end)
"""


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    for var in ("GLOT_MODELS_DIR", "XDG_DATA_HOME"):
        env.pop(var, None)
    for var, sub in (("BLENDER_USER_RESOURCES", ""), ("BLENDER_USER_CONFIG", "config"),
                     ("BLENDER_USER_SCRIPTS", "scripts"), ("BLENDER_USER_DATAFILES", "datafiles")):
        env[var] = str(home / "blender" / sub)
    return env


@pytest.fixture(scope="module")
def analysed(bus_photo: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("lite-cli")
    video = folder / "bus.mp4"
    write_bus_video(bus_photo, video)
    out = folder / "bus.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server.cli", "analyze", str(video), "-o", str(out),
         "--backend", "lite", "--detector", "hog", "--device", "cpu",
         "--min-track-len", str(MIN_TRACK_LEN)],
        check=False, cwd=REPO, env=_env(folder), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder, out, proc


def test_lite_clip_has_a_confident_upright_person(analysed) -> None:
    _folder, out, proc = analysed
    assert "backend lite" in proc.stdout
    clip = read_clip(out)
    assert clip.backend == "lite" and clip.frame_count == FRAMES
    good = [t for t in clip.tracks if t.confidence.mean() > MIN_CONFIDENCE]
    assert good, [float(t.confidence.mean()) for t in clip.tracks]
    for track in good:
        for frame in range(0, len(track.frame_ids), 5):
            root = axis_angle_to_matrix(track.global_orient[frame].astype(np.float64))
            up = root @ np.array([0.0, 1.0, 0.0])  # SMPL up in the camera frame (y down)
            assert up[1] < -0.8, f"person {track.track_id} frame {frame}: pelvis up = {up}"


def _reimport(fbx: Path, folder: Path) -> list[list[str]]:
    done = subprocess.run([sys.executable, "-c", REIMPORT, str(fbx)], check=False, cwd=REPO,
                          env=_env(folder), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return [line.split() for line in done.stdout.splitlines() if line.startswith("RIG ")]


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="Blender's bpy is not installed")
def test_one_fbx_per_person_imports_as_animated_rigs(analysed) -> None:
    """Default: NAME_P<id>.fbx per confident person; Blender and assimp (an independent
    reader) each read one person per file: 24 animated bones with a key on every frame."""
    folder, out, proc = analysed
    clip = read_clip(out)
    confident = [t for t in clip.tracks if t.confidence.mean() >= MIN_MEAN_CONFIDENCE]
    files = [Path(line[5:]) for line in proc.stdout.splitlines() if line.startswith("FBX: ")]
    assert files == [out.with_name(f"bus_P{t.track_id}.fbx") for t in confident] != []
    assert not out.with_suffix(".fbx").exists()
    assert proc.stdout.count("left out of the FBX") == len(clip.tracks) - len(confident)
    for track, fbx in zip(confident, files):
        rigs = _reimport(fbx, folder)
        last = int(track.frame_ids[-1]) + 1  # the first video frame is frame 1
        assert len(rigs) == 1, rigs
        *_name, bones, curves, start, end = rigs[0]
        assert int(bones) == 24 and int(curves) > 0
        assert (float(start), float(end)) == (float(track.frame_ids[0]) + 1, float(last))
        read = read_fbx(fbx)
        bones_read = [c for c in read.animations[0] if not c.node.startswith("SMPL")]
        assert len(read.animations) == 1 and len(bones_read) == 24
        assert {c.rotation_keys for c in bones_read} == {last - int(track.frame_ids[0])}


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="Blender's bpy is not installed")
def test_all_in_one_fbx_keeps_people_apart_in_assimp(analysed) -> None:
    folder, out, _proc = analysed
    fbx = folder / "everyone.fbx"
    done = subprocess.run([sys.executable, "-m", "glot_blender.blender.clip_to_fbx", str(out),
                           str(fbx), "--all-in-one"], check=False, cwd=REPO, env=_env(folder),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"FBX: {fbx}" in done.stdout, done.stderr[-2000:]
    confident = [t for t in read_clip(out).tracks if t.confidence.mean() >= MIN_MEAN_CONFIDENCE]
    assert len(_reimport(fbx, folder)) == len(confident)
    names = {c.node for c in read_fbx(fbx).animations[0] if not c.node.startswith("SMPL")}
    assert names == {f"P{t.track_id}_{j}" for t in confident for j in JOINT_NAMES}


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="Blender's bpy is not installed")
def test_clip_to_fbx_errors_are_one_line(analysed) -> None:
    folder, out, _proc = analysed
    for args, expected in (([str(folder / "nope.npz"), str(folder / "o.fbx")], "nope.npz"),
                           ([str(out), str(folder / "no-dir" / "o.fbx")], "no-dir")):
        done = subprocess.run([sys.executable, "-m", "glot_blender.blender.clip_to_fbx", *args],
                              check=False, cwd=REPO, env=_env(folder), capture_output=True,
                              text=True, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and expected in lines[0], done.stderr


HIDE_BPY = """
import importlib.util, sys
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "bpy" else real_find_spec(name, *a)
from inference_server.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_bpy_the_clip_is_written_and_the_summary_says_no_fbx(analysed) -> None:
    folder, _out, _proc = analysed
    out = folder / "no-bpy.npz"
    proc = subprocess.run(
        [sys.executable, "-c", HIDE_BPY, "analyze", str(folder / "bus.mp4"), "-o", str(out),
         "--backend", "lite", "--detector", "hog", "--device", "cpu", "--end", "12",
         "--min-track-len", "10", "-q"],
        check=False, cwd=REPO, env=_env(folder), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file() and not out.with_suffix(".fbx").exists()
    assert "FBX: not written (Blender's bpy module is not installed" in proc.stdout
