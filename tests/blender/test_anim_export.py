"""FBX and BVH export, re-imported into an empty scene: rest pose and animation survive."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
from anim_support import (
    box_body,
    evaluated_vertices,
    make_clip,
    make_track,
    scene_snapshot,
    world_heads,
)
from assimp_fbx import read_fbx

from glot_blender.blender.actions import action_fcurves
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import TRACK_ID_PROP, create_smpl_armature
from glot_blender.blender.errors import ExportError
from glot_blender.blender.export import (
    FBX_PRESETS,
    export_bvh,
    export_fbx,
    export_fbx_armatures,
    export_fbx_per_armature,
)
from glot_blender.core.smpl_skeleton import JOINT_NAMES

NUM_FRAMES = 6
POS_TOL_M = 1e-3  # FBX/BVH store floats as text or float32 after axis conversion


def animated_smpl() -> tuple[object, object]:
    track = make_track(num_frames=NUM_FRAMES, seed=11)
    arm = create_smpl_armature(track.rest_joints, name="Performer")
    body = box_body(arm)
    apply_track(arm, make_clip([track]), 1, ApplyOptions())
    return arm, body


def sample(arm: object, body: object | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    heads, verts = [], []
    for f in range(1, NUM_FRAMES + 1):
        bpy.context.scene.frame_set(f)
        heads.append(world_heads(arm, list(JOINT_NAMES)))
        if body is not None:
            verts.append(evaluated_vertices(body))
    return heads, verts


def rest_heads(arm: object) -> np.ndarray:
    mw = np.array(arm.matrix_world)
    h = np.array([tuple(arm.data.bones[n].head_local) for n in JOINT_NAMES])
    return h @ mw[:3, :3].T + mw[:3, 3]


def only(kind: str) -> object:
    found = [o for o in bpy.data.objects if o.type == kind]
    assert len(found) == 1, [o.name for o in bpy.data.objects]
    return found[0]


@pytest.mark.parametrize("preset", sorted(FBX_PRESETS))
def test_anim_export_fbx_roundtrip(preset: str, tmp_path: Path) -> None:
    arm, body = animated_smpl()
    want_rest = rest_heads(arm)
    want_heads, want_verts = sample(arm, body)
    extra = bpy.data.objects.new("Bystander", None)
    bpy.context.scene.collection.objects.link(extra)
    extra.select_set(True)
    bpy.context.view_layer.objects.active = extra
    before = (scene_snapshot(), bpy.context.scene.frame_start, bpy.context.scene.frame_end)
    path = export_fbx(arm, tmp_path / "performer.fbx", preset)
    assert path.is_file()
    assert (scene_snapshot(), bpy.context.scene.frame_start, bpy.context.scene.frame_end) == before
    assert extra.select_get() and not arm.select_get()
    assert bpy.context.view_layer.objects.active == extra
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0,
                             ignore_leaf_bones=FBX_PRESETS[preset].add_leaf_bones)
    arm2, body2 = only("ARMATURE"), only("MESH")
    assert any(m.type == "ARMATURE" and m.object == arm2 for m in body2.modifiers)
    assert {g.name for g in body2.vertex_groups} == set(JOINT_NAMES)
    np.testing.assert_allclose(rest_heads(arm2), want_rest, atol=POS_TOL_M)
    got_heads, got_verts = sample(arm2, body2)
    np.testing.assert_allclose(np.array(got_heads), np.array(want_heads), atol=POS_TOL_M)
    np.testing.assert_allclose(np.array(got_verts), np.array(want_verts), atol=POS_TOL_M)


def test_anim_export_bvh_roundtrip(tmp_path: Path) -> None:
    arm, _ = animated_smpl()
    want_heads, _ = sample(arm, None)
    path = export_bvh(arm, tmp_path / "performer.bvh")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(path), rotate_mode="NATIVE", axis_forward="Y", axis_up="Z")
    arm2 = only("ARMATURE")
    got_heads, _ = sample(arm2, None)
    np.testing.assert_allclose(np.array(got_heads), np.array(want_heads), atol=POS_TOL_M)


def test_anim_export_refuses_without_armature_or_animation(tmp_path: Path) -> None:
    empty = bpy.data.objects.new("Empty", None)
    bpy.context.scene.collection.objects.link(empty)
    with pytest.raises(ExportError, match="'Empty' is not an armature"):
        export_fbx(empty, tmp_path / "x.fbx")
    arm = create_smpl_armature(make_track(2).rest_joints, name="Still")
    with pytest.raises(ExportError, match="'Still' has no animation"):
        export_bvh(arm, tmp_path / "x.bvh")
    with pytest.raises(ExportError, match="unknown FBX preset 'godot'"):
        export_fbx(arm, tmp_path / "x.fbx", "godot")
    assert not list(tmp_path.iterdir())


def two_people() -> list[object]:
    """Two SMPL rigs made for persons 3 and 7 of one clip (as the add-on marks them)."""
    tracks = [make_track(NUM_FRAMES, seed=s, track_id=tid) for s, tid in ((1, 3), (2, 7))]
    clip = make_clip(tracks)
    rigs = []
    for track in tracks:
        arm = create_smpl_armature(track.rest_joints, name=f"SMPL person {track.track_id}")
        arm[TRACK_ID_PROP] = track.track_id
        box_body(arm)
        apply_track(arm, clip, track.track_id, ApplyOptions())
        rigs.append(arm)
    return rigs


def bone_channels(path: Path) -> list:
    """assimp's animated nodes of ``path`` that are bones (armature nodes left out)."""
    read = read_fbx(path)
    assert len(read.animations) == 1, path
    return [c for c in read.animations[0] if not c.node.startswith("SMPL person")]


def test_anim_export_one_fbx_per_person_reads_apart_in_assimp(tmp_path: Path) -> None:
    """Default for several rigs: NAME_P<id>.fbx each, 24 animated bones with every key."""
    rigs = two_people()
    before = scene_snapshot()
    paths = export_fbx_per_armature(rigs, tmp_path / "crowd.fbx", "unity")
    assert paths == [tmp_path / "crowd_P3.fbx", tmp_path / "crowd_P7.fbx"]
    assert scene_snapshot() == before
    for path in paths:
        channels = bone_channels(path)
        assert sorted(c.node for c in channels) == sorted(JOINT_NAMES)
        assert all(c.rotation_keys == NUM_FRAMES for c in channels), channels
        assert read_fbx(path).num_meshes >= 1  # the body goes along


def test_anim_export_all_in_one_has_unique_bone_names(tmp_path: Path) -> None:
    """One file for all: assimp sees 2 x 24 bones instead of 24 merged by name; the scene
    keeps its bone names and channels."""
    rigs = two_people()
    paths_before = sorted(fc.data_path for fc in action_fcurves(rigs[0].animation_data.action))
    bones_before = [b.name for b in rigs[0].data.bones]
    path = export_fbx_armatures(rigs, tmp_path / "crowd.fbx", "unreal", unique_bones=True)
    channels = bone_channels(path)
    want = {f"P{tid}_{j}" for tid in (3, 7) for j in JOINT_NAMES}
    assert {c.node for c in channels} == want and len(channels) == len(want)
    assert all(c.rotation_keys == NUM_FRAMES for c in channels)
    assert [b.name for b in rigs[0].data.bones] == bones_before
    assert sorted(fc.data_path for fc in action_fcurves(rigs[0].animation_data.action)) == paths_before
    shared = export_fbx_armatures(rigs, tmp_path / "merged.fbx", "unreal")
    assert len(bone_channels(shared)) == len(JOINT_NAMES)  # the collision the option avoids
