"""The installed extension against hostile files: a damaged or hostile motion clip is refused
by Load Motion Clip in one sentence with the scene unchanged, and Export refuses to write over
the scene's video or motion clip (through a link too), leaving them byte-identical."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from anim_support import make_clip, make_track
from ext_support import installed_extension

from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature
from glot_blender.core.motion_clip import write_clip


@pytest.fixture(autouse=True)
def clean_blender() -> Iterator[object]:
    """Overrides the folder's factory reset: an empty file per test, the add-on stays on."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield from installed_extension(tmp_path_factory)


def _hostile(valid: Path, path: Path, key: str, member: bytes | None = None,
             value: object = None) -> Path:
    """``valid`` with one member replaced by raw npy bytes or by ``value``."""
    with np.load(valid, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(value) if name == key and member is None
                                      else array)
            data = member if name == key and member is not None else buf.getvalue()
            zf.writestr(name + ".npy", data)
    return path


def _claim(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + b"\0" * 32


def test_hostile_clips_are_refused_and_the_scene_stays(ext, tmp_path: Path) -> None:
    valid = write_clip(tmp_path / "valid.npz", make_clip([make_track(6, track_id=4)]))
    assert bpy.ops.glot.load_clip(filepath=str(valid)) == {"FINISHED"}
    settings = bpy.context.scene.glot
    before = (settings.clip_path, [t.track_id for t in settings.tracks],
              sorted(o.name for o in bpy.data.objects))
    cases = {
        "claim": _hostile(valid, tmp_path / "claim.npz", "track_4/joints3d", _claim((10**9, 24, 3))),
        "nan fps": _hostile(valid, tmp_path / "nan.npz", "fps", value=float("nan")),
        "deep json": _hostile(valid, tmp_path / "deep.npz", "software", value="[" * 100_000),
        "inf width": _hostile(valid, tmp_path / "inf.npz", "width", value=float("inf")),
    }
    for name, path in cases.items():
        content = path.read_bytes()
        with pytest.raises(RuntimeError, match="Cannot load the motion clip") as err:
            bpy.ops.glot.load_clip(filepath=str(path))
        assert path.name in str(err.value) and "Traceback" not in str(err.value), name
        assert path.read_bytes() == content
        after = (settings.clip_path, [t.track_id for t in settings.tracks],
                 sorted(o.name for o in bpy.data.objects))
        assert after == before, name


def test_export_refuses_the_scene_video_and_clip(ext, tmp_path: Path) -> None:
    valid = write_clip(tmp_path / "walk.npz", make_clip([make_track(6)]))
    assert bpy.ops.glot.load_clip(filepath=str(valid)) == {"FINISHED"}
    settings = bpy.context.scene.glot
    video = tmp_path / "walk.bvh"  # a video with an unlucky name
    video.write_bytes(b"video bytes")
    settings.video_source = "FILE"
    settings.video_path = str(video)
    (tmp_path / "clip-link.fbx").symlink_to(valid)
    clip_bytes = valid.read_bytes()
    track = make_track(6, seed=5)
    arm = create_smpl_armature(track.rest_joints, name="Exported")
    apply_track(arm, make_clip([track]), 1, ApplyOptions())
    bpy.context.view_layer.objects.active = arm
    arm.select_set(True)
    with pytest.raises(RuntimeError, match="is the video itself"):
        bpy.ops.glot.export_bvh(filepath=str(video))
    with pytest.raises(RuntimeError, match="is the motion clip itself"):
        bpy.ops.glot.export_fbx(filepath=str(tmp_path / "clip-link.fbx"))
    assert video.read_bytes() == b"video bytes" and valid.read_bytes() == clip_bytes
    assert bpy.ops.glot.export_bvh(filepath=str(tmp_path / "ok.bvh")) == {"FINISHED"}
