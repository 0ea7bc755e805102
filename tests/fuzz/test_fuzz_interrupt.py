"""Fuzz corpus, interruptions and odd names: Ctrl-C during the FBX step says what was written
and keeps the previous FBX; a killed CLI takes its Blender child with it; video and model
names that are not UTF-8 never reach OpenCV as such (it would crash with SIGSEGV)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz_support import MIN_TRACK_LEN, REPO, cli_command, cli_env, processes_mentioning, snapshot

from glot_blender.core.motion_clip import MotionClip, TrackMotion, write_clip
from glot_blender.core.safe_files import TEMP_PREFIX
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="/proc and bytes file names")
#: how long a child may take to appear or to go away
WAIT_S = 120.0


def _wait_for(condition, timeout: float = WAIT_S, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def _confident_clip(path: Path) -> Path:
    n = 8
    track = TrackMotion(
        track_id=1, frame_ids=np.arange(n), global_orient=np.tile([np.pi, 0, 0], (n, 1)),
        body_pose=np.zeros((n, 69)), betas=np.zeros((n, 10)), cam_crop=np.ones((n, 3)),
        bbox=np.full((n, 4), 50.0), transl=np.tile([0, 0, 3.0], (n, 1)),
        rest_joints=DEFAULT_REST_JOINTS, joints3d=np.zeros((n, 24, 3)), confidence=np.ones(n),
        filled=np.zeros(n, bool))
    return write_clip(path, MotionClip(fps=25.0, frame_count=n, width=64, height=48,
                                       tracks=[track], focal_px=60.0))


@linux_only
def test_ctrl_c_during_the_fbx_step_says_what_was_written(tmp_path: Path, small_video,
                                                          synthetic_models: Path) -> None:
    """A real analysis of a video whose name is not UTF-8, then Ctrl-C once Blender's child
    runs: the clip is reported written, the previous FBX is byte-identical, nothing is left."""
    folder = tmp_path / "user"
    folder.mkdir()
    video = os.path.join(os.fsencode(folder), b"w\xffalk.mp4")
    shutil.copyfile(small_video.path, video)
    _confident_clip(folder / "walk.npz")  # the previous clip: replaced by the analysis
    (folder / "walk_P1.fbx").write_bytes(b"the previous FBX")
    before = snapshot(folder)
    cli = subprocess.Popen(
        cli_command("analyze", video, "-o", str(folder / "walk.npz"), "--models",
                    str(synthetic_models), "--detector", "hog", "--device", "cpu",
                    "--min-track-len", str(MIN_TRACK_LEN), "--no-refine", "-q"),
        cwd=REPO, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: processes_mentioning("clip_to_fbx", str(folder)) or
                         cli.poll() is not None), "the FBX step never started"
        assert cli.poll() is None, cli.communicate()
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    text = err.decode("utf-8", "backslashreplace").strip().splitlines()
    assert cli.returncode == 130, (out, err)
    assert "interrupted; written before the interruption:" in text[-1], text
    assert "walk.npz" in text[-1] and "the FBX was not written" in text[-1], text
    after = snapshot(folder)
    assert after[os.path.join(os.fsencode(folder), b"walk_P1.fbx")] == \
        before[os.path.join(os.fsencode(folder), b"walk_P1.fbx")]
    assert after[video] == before[video]
    assert sorted(after) == sorted(before)  # no temporary file, no new file
    assert processes_mentioning(str(folder)) == []


@linux_only
def test_a_killed_cli_takes_its_blender_child_with_it(tmp_path: Path) -> None:
    clip = _confident_clip(tmp_path / "clip.npz")
    fbx = tmp_path / "out.fbx"
    (tmp_path / "out_P1.fbx").write_bytes(b"the previous FBX")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from inference_server.cli import write_fbx; "
         "write_fbx(Path(sys.argv[1]), Path(sys.argv[2]))", str(clip), str(fbx)],
        cwd=REPO, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: processes_mentioning("clip_to_fbx", str(fbx))
                         or parent.poll() is not None)
        assert parent.poll() is None, "the FBX was written before the test could interrupt"
        parent.kill()
        parent.wait()
        assert _wait_for(lambda: not processes_mentioning("clip_to_fbx", str(fbx)), timeout=30), \
            "the Blender child outlived the killed command"
    finally:
        for pid in processes_mentioning("clip_to_fbx", str(fbx)):
            os.kill(pid, signal.SIGKILL)
    assert (tmp_path / "out_P1.fbx").read_bytes() == b"the previous FBX"
    write_clip(tmp_path / "clip.npz", MotionClip(fps=25.0, frame_count=1, width=8, height=8))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


@linux_only
def test_names_that_are_not_utf8_never_reach_opencv(tmp_path: Path, small_video) -> None:
    """Videos and a YOLOv3 models folder under names OpenCV would crash on: all decode."""
    names = [b"w\xffalk.mp4", b"\xe9t\xe9.mp4", b"caf\xc3.mp4", b"\x80\x81.avi"]
    for name in names:
        shutil.copyfile(small_video.path, os.path.join(os.fsencode(tmp_path), name))
    models = os.path.join(os.fsencode(tmp_path), b"mod\xffels")
    code = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "import darknet_files, numpy as np\n"
        "from pathlib import Path\n"
        "from inference_server.video import iter_frames, open_video\n"
        "from inference_server.detect import YoloV3Detector\n"
        "folder = os.fsdecode(sys.argv[1].encode('utf-8', 'surrogateescape'))\n"
        "for name in sorted(os.listdir(folder)):\n"
        "    path = os.path.join(folder, name)\n"
        "    if os.path.isdir(path):\n"
        "        continue\n"
        "    info = open_video(path)\n"
        "    print(info.frame_count, sum(1 for _ in iter_frames(path)))\n"
        "models = Path(folder) / os.fsdecode(b'mod\\xffels')\n"
        "models.mkdir()\n"
        "cfg, weights = darknet_files.write_small_random_files(models)\n"
        "frame = np.full((48, 64, 3), 128, np.uint8)\n"
        "print('yolo', len(YoloV3Detector(cfg, weights).detect([frame])))\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, os.fsencode(tmp_path),
         str(Path(__file__).resolve().parents[1] / "tracking")],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, timeout=300,
        check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr.decode(errors="replace")[-2000:])
    lines = proc.stdout.decode().split("\n")
    frames = small_video.num_frames
    assert lines[: len(names)] == [f"{frames} {frames}"] * len(names), lines
    assert lines[len(names)] == "yolo 1"
    assert os.path.isdir(models)
