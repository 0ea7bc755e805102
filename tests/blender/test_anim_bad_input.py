"""Bad input leaves the scene exactly as it was: clear errors before (or instead of) changes."""

from __future__ import annotations

import bpy
import pytest
from anim_support import (
    MIXAMO_PREFIX,
    build_mixamo_rig,
    make_clip,
    make_track,
    mixamo_map,
    scene_snapshot,
)

from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature
from glot_blender.blender.errors import AnimError, MissingBonesError


def test_anim_bad_input_missing_required_bones_named() -> None:
    rig = build_mixamo_rig(drop=("left_elbow", "right_knee"))
    before = scene_snapshot()
    with pytest.raises(MissingBonesError) as info:
        apply_track(rig, make_clip(), 1, ApplyOptions(bone_map=mixamo_map()))
    message = str(info.value)
    assert f"'{rig.name}'" in message
    assert MIXAMO_PREFIX + "RightLeg" in message and MIXAMO_PREFIX + "LeftForeArm" in message
    assert info.value.missing == [MIXAMO_PREFIX + "RightLeg", MIXAMO_PREFIX + "LeftForeArm"]
    assert scene_snapshot() == before


def test_anim_bad_input_unrecognised_armature_without_map() -> None:
    data = bpy.data.armatures.new("Blob")
    rig = bpy.data.objects.new("Blob", data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for i, name in enumerate(("Bone", "Bone.001")):
        bone = data.edit_bones.new(name)
        bone.head, bone.tail = (0, 0, i), (0, 0, i + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    before = scene_snapshot()
    with pytest.raises(MissingBonesError, match="no bone mapped for the SMPL joints pelvis, left_hip"):
        apply_track(rig, make_clip(), 1)
    assert scene_snapshot() == before


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "is not valid JSON"),
        ('{"schema": "glot-rig/1", "name": "X", "bones": {"knee_left": "Leg"}}', "knee_left"),
    ],
    ids=["broken-json", "unknown-joint"],
)
def test_anim_bad_input_bad_preset_file(tmp_path, content, match) -> None:
    rig = build_mixamo_rig()
    preset = tmp_path / "my_rig.json"
    preset.write_text(content, encoding="utf-8")
    before = scene_snapshot()
    with pytest.raises(AnimError, match=match) as info:
        apply_track(rig, make_clip(), 1, ApplyOptions(preset=preset))
    assert "my_rig.json" in str(info.value)
    assert scene_snapshot() == before


def test_anim_bad_input_preset_bones_missing_named() -> None:
    rig = build_mixamo_rig(drop=("right_elbow",))
    before = scene_snapshot()
    with pytest.raises(MissingBonesError, match="mixamorig:RightForeArm"):
        apply_track(rig, make_clip(), 1, ApplyOptions(preset="mixamo"))
    assert scene_snapshot() == before


def test_anim_bad_input_clip_without_people_or_person() -> None:
    arm = create_smpl_armature(make_track(2).rest_joints)
    before = scene_snapshot()
    with pytest.raises(AnimError, match="no people"):
        apply_track(arm, make_clip(tracks=[]), 1)
    with pytest.raises(AnimError, match=r"no person 7; it has \[1\]"):
        apply_track(arm, make_clip(), 7)
    assert scene_snapshot() == before


@pytest.mark.parametrize(
    ("bone_map", "match"),
    [
        ({"pelvis": "mixamorig:Hips", "tail": "mixamorig:Spine"}, "'tail' is not an SMPL joint"),
        ({"pelvis": "mixamorig:Hips", "spine1": "mixamorig:Hips"}, "'mixamorig:Hips' is mapped twice"),
    ],
    ids=["unknown-joint", "bone-twice"],
)
def test_anim_bad_input_malformed_bone_map(bone_map, match) -> None:
    rig = build_mixamo_rig()
    before = scene_snapshot()
    with pytest.raises(AnimError, match=match):
        apply_track(rig, make_clip(), 1, ApplyOptions(bone_map=bone_map, required_joints=()))
    assert scene_snapshot() == before


def test_anim_bad_input_failure_while_writing_rolls_back() -> None:
    arm = create_smpl_armature(make_track(2).rest_joints)
    own = bpy.data.actions.new("hand made")
    arm.animation_data_create().action = own
    arm.pose.bones["left_knee"].rotation_mode = "XYZ"
    scene = bpy.context.scene
    scene.render.fps = 24
    before = scene_snapshot()
    with pytest.raises(ValueError, match="unknown keyframe interpolation 'WOBBLY'"):
        apply_track(arm, make_clip(fps=50.0), 1, ApplyOptions(interpolation="WOBBLY"))
    assert scene_snapshot() == before
    assert arm.animation_data.action == own
    assert arm.pose.bones["left_knee"].rotation_mode == "XYZ"
    assert scene.render.fps == 24


def test_anim_bad_input_armature_in_edit_mode() -> None:
    arm = create_smpl_armature(make_track(2).rest_joints, name="Editing")
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        before = scene_snapshot()
        with pytest.raises(AnimError, match="'Editing' is in Edit Mode"):
            apply_track(arm, make_clip(), 1)
        assert scene_snapshot() == before
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
