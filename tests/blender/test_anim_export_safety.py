"""Exports never lose a file: an FBX/BVH that would be the video or the motion clip is
refused, the previous file survives an export that does not finish, files get ordinary
permissions and no temporary file is left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from anim_support import make_clip, make_track

from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature
from glot_blender.blender.errors import ExportError
from glot_blender.blender.export import export_bvh, export_fbx, export_fbx_armatures
from glot_blender.core.motion_clip import write_clip
from glot_blender.core.safe_files import TEMP_PREFIX


def _animated() -> object:
    track = make_track(num_frames=4, seed=3)
    arm = create_smpl_armature(track.rest_joints, name="Safe")
    apply_track(arm, make_clip([track]), 1, ApplyOptions())
    return arm


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_an_export_over_the_video_or_the_clip_is_refused(tmp_path: Path) -> None:
    arm = _animated()
    clip = write_clip(tmp_path / "walk.npz", make_clip([make_track(4)]))
    video = tmp_path / "walk.bvh"  # a video someone named .bvh, or a link to the clip
    video.write_bytes(b"video bytes")
    (tmp_path / "link.fbx").symlink_to(clip)
    clip_bytes = clip.read_bytes()
    protect = [("video", video), ("motion clip", clip)]
    with pytest.raises(ExportError, match="is the video itself"):
        export_bvh(arm, video, protect=protect)
    with pytest.raises(ExportError, match="is the motion clip itself"):
        export_fbx(arm, tmp_path / "link.fbx", protect=protect)
    with pytest.raises(ExportError, match="is a folder"):
        (tmp_path / "dir.fbx").mkdir()
        export_fbx(arm, tmp_path / "dir.fbx")
    assert video.read_bytes() == b"video bytes" and clip.read_bytes() == clip_bytes
    assert _temps(tmp_path) == []


def test_an_unpublished_export_keeps_the_previous_file(tmp_path: Path) -> None:
    arm = _animated()
    previous = tmp_path / "out.fbx"
    previous.write_bytes(b"the previous FBX")
    export_fbx_armatures([arm], previous, may_publish=lambda: False)  # its caller has gone
    assert previous.read_bytes() == b"the previous FBX" and _temps(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="umask")
def test_exports_get_ordinary_permissions_and_leave_no_temporary_file(tmp_path: Path) -> None:
    arm = _animated()
    old = os.umask(0o022)
    try:
        paths = [export_fbx(arm, tmp_path / "a.fbx"), export_bvh(arm, tmp_path / "a.bvh")]
    finally:
        os.umask(old)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bvh", "a.fbx"]
