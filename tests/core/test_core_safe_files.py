"""glot_blender.core.safe_files: outputs that are the input or cannot be written are refused,
writes publish atomically with ordinary permissions, killed writers' leftovers are cleaned,
private logs never follow a planted link."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glot_blender.core import safe_files
from glot_blender.core.bvh import write_smpl_bvh
from glot_blender.core.locations import user_state_dir
from glot_blender.core.motion_clip import MotionClip, TrackMotion, read_clip, write_clip
from glot_blender.core.safe_files import (
    TEMP_PREFIX,
    OutputPathError,
    check_output,
    clean_stale_temps,
    file_kind,
    publishing,
    write_private_text,
)
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, umask and uids are POSIX")


def _clip(n: int = 4) -> MotionClip:
    track = TrackMotion(
        track_id=1, frame_ids=np.arange(n), global_orient=np.zeros((n, 3)),
        body_pose=np.zeros((n, 69)), betas=np.zeros((n, 10)), cam_crop=np.ones((n, 3)),
        bbox=np.ones((n, 4)), transl=np.ones((n, 3)), rest_joints=DEFAULT_REST_JOINTS,
        joints3d=np.zeros((n, 24, 3)), confidence=np.ones(n), filled=np.zeros(n, bool))
    return MotionClip(fps=30.0, frame_count=n, width=64, height=48, tracks=[track])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_output_that_is_the_input_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "v.npz"
    video.write_bytes(b"video bytes")
    link = tmp_path / "link.npz"
    link.symlink_to(video)
    hard = tmp_path / "hard.npz"
    os.link(video, hard)
    for output in (video, link, hard, tmp_path / "sub" / ".." / "v.npz"):
        with pytest.raises(OutputPathError, match="is the input video itself"):
            check_output(output, [("input video", video)])
    check_output(tmp_path / "other.npz", [("input video", video)])  # no error
    assert video.read_bytes() == b"video bytes"


@posix_only
def test_unwritable_locations_are_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    cases = {tmp_path: "is a folder", fifo: "FIFO", blocker / "out.npz": "is a file, not a folder",
             blocker / "deeper" / "out.npz": "is a file, not a folder"}
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases[locked / "out.npz"] = "read-only"
    for output, words in cases.items():
        with pytest.raises(OutputPathError, match=words):
            check_output(output)
    check_output(tmp_path / "new" / "folder" / "out.npz")  # missing folders get created
    assert file_kind(fifo) == "a FIFO (named pipe)" and file_kind("/dev/zero") == "a character device"
    assert file_kind(blocker) is None and file_kind(tmp_path / "none") is None


@posix_only
def test_published_files_get_ordinary_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        clip = write_clip(tmp_path / "c.npz", _clip())
        bvh = write_smpl_bvh(tmp_path / "c.bvh", np.zeros((3, 24, 3)), np.zeros((3, 3)),
                             DEFAULT_REST_JOINTS, 30.0)
    finally:
        os.umask(old)
    for path in (clip, bvh):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.fbx"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), publishing(target, suffix=".fbx") as temp:
        assert temp.parent == tmp_path and temp.name.startswith(TEMP_PREFIX)
        temp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fbx"]
    with publishing(target, may_publish=lambda: False) as temp:  # the parent is gone
        temp.write_bytes(b"orphan")
    assert target.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 1


def test_killed_writers_leftovers_are_cleaned_on_the_next_write(tmp_path: Path) -> None:
    dead = tmp_path / f"{TEMP_PREFIX}{_dead_pid()}-abc.npz"
    dead.write_bytes(b"half a clip")
    alive = tmp_path / f"{TEMP_PREFIX}{os.getppid()}-abc.npz"  # a live writer's: kept
    alive.write_bytes(b"in progress")
    foreign = tmp_path / ".glot-tmp-notapid.npz"
    foreign.write_bytes(b"not ours")
    write_clip(tmp_path / "c.npz", _clip())
    assert not dead.exists() and alive.exists() and foreign.exists()
    old = 2 * safe_files.STALE_AFTER_S
    os.utime(alive, (alive.stat().st_atime - old, alive.stat().st_mtime - old))
    assert clean_stale_temps(tmp_path) == [alive]
    assert read_clip(tmp_path / "c.npz").track_ids == [1]


def test_a_clip_write_killed_by_sigkill_leaves_the_old_clip(tmp_path: Path) -> None:
    target = tmp_path / "c.npz"
    write_clip(target, _clip())
    before = target.read_bytes()
    code = ("import os, signal, numpy as np\n"
            "import glot_blender.core.motion_clip as mc\n"
            "def killed(fh, **arrays):\n"
            "    fh.write(b'PK half written')\n"
            "    fh.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "mc.np.savez_compressed = killed\n"
            f"mc.write_clip({str(target)!r}, mc.read_clip({str(target)!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))
    assert proc.returncode == -9
    assert target.read_bytes() == before
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert len(leftovers) == 1  # the killed writer's; the next write removes it
    write_clip(target, _clip(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_user_state_dir_per_platform(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert user_state_dir({"HOME": home}, "linux") == tmp_path / ".local/state/glot-mocap"
    assert user_state_dir({"HOME": home, "XDG_STATE_HOME": "/s"}, "linux") == Path("/s/glot-mocap")
    assert user_state_dir({"HOME": home}, "darwin") == tmp_path / "Library/Logs/glot-mocap"
    assert user_state_dir({"LOCALAPPDATA": "C:/L"}, "win32") == Path("C:/L/glot-mocap/Logs")


@posix_only
def test_private_text_never_follows_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    state = tmp_path / "state"
    log = write_private_text(state / "err.log", "first")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700 and stat.S_IMODE(log.stat().st_mode) == 0o600
    log.unlink()
    log.symlink_to(victim)
    with pytest.raises(OSError):
        write_private_text(log, "second")
    assert victim.read_text() == "precious"
    linked_dir = tmp_path / "linked"
    linked_dir.symlink_to(state)
    with pytest.raises(OSError, match="not a folder"):
        write_private_text(linked_dir / "err.log", "third")
