"""Rigs with degenerate geometry never get a NaN key: Apply retargets or refuses with one
sentence naming the bone (scene unchanged); re-apply puts bones it no longer keys at rest."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest
from anim_support import (
    MIXAMO_PREFIX,
    build_mixamo_rig,
    make_clip,
    make_track,
    mixamo_map,
    scene_snapshot,
)

from glot_blender.blender.actions import action_fcurves
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.errors import AnimError

FRAMES = 10


def _edit(rig, change) -> None:
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    change(rig.data.edit_bones)
    bpy.ops.object.mode_set(mode="OBJECT")


def _share_head(bones) -> None:  # Rigify's spine_fk.001 / spine_fk.002 case
    bones[MIXAMO_PREFIX + "Spine1"].head = bones[MIXAMO_PREFIX + "Spine"].head.copy()


def _tiny_bones(bones) -> None:  # as short as Blender keeps (zero-length bones are deleted)
    for name in ("LeftLeg", "Head"):
        b = bones[MIXAMO_PREFIX + name]
        b.tail = b.head + (b.tail - b.head).normalized() * 1e-4


def _child_at_parent_head(bones) -> None:
    for child, parent in (("LeftForeArm", "LeftArm"), ("RightLeg", "RightUpLeg")):
        bones[MIXAMO_PREFIX + child].use_connect = False
        bones[MIXAMO_PREFIX + child].head = bones[MIXAMO_PREFIX + parent].head.copy()


def _all_values_finite(rig) -> bool:
    for fc in action_fcurves(rig.animation_data.action):
        co = np.empty(2 * len(fc.keyframe_points))
        fc.keyframe_points.foreach_get("co", co)
        if not np.all(np.isfinite(co)):
            return False
    for frame in range(1, FRAMES + 1):
        bpy.context.scene.frame_set(frame)
        for pb in rig.pose.bones:
            if not np.all(np.isfinite(np.array(pb.matrix))):
                return False
    return True


def _world_rotations(rig, bone: str) -> np.ndarray:
    out = []
    for frame in range(1, FRAMES + 1):
        bpy.context.scene.frame_set(frame)
        out.append(np.array(rig.matrix_world)[:3, :3] @ np.array(rig.pose.bones[bone].matrix)[:3, :3])
    return np.array(out)


@pytest.mark.parametrize("change", [_share_head, _tiny_bones, _child_at_parent_head],
                         ids=["shared-head", "tiny-bones", "child-at-parent-head"])
def test_degenerate_rig_gets_finite_keys(change) -> None:
    """Finite everywhere, and a bone whose rest vector has no length takes its parent joint's
    correction (close to the intact rig's, built from the same joints), not float noise's."""
    clip = make_clip([make_track(FRAMES, seed=3)])
    intact = build_mixamo_rig(name="Intact")
    apply_track(intact, clip, 1, ApplyOptions(bone_map=mixamo_map()))
    rig = build_mixamo_rig()
    _edit(rig, change)
    apply_track(rig, clip, 1, ApplyOptions(bone_map=mixamo_map()))
    assert _all_values_finite(rig)
    if change is _share_head:
        bone = MIXAMO_PREFIX + "Spine"
        a, b = _world_rotations(intact, bone), _world_rotations(rig, bone)
        rel = np.einsum("fji,fjk->fik", a, b)
        angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        assert angle.max() < 10.0


def test_non_finite_motion_is_refused_naming_the_bone_scene_unchanged() -> None:
    rig = build_mixamo_rig()
    track = make_track(FRAMES, seed=4)
    track.body_pose[4, 3:6] = np.nan  # right hip (SMPL joint 2) on one frame
    before = scene_snapshot()
    with pytest.raises(AnimError, match=r"bone 'mixamorig:RightUpLeg' is not finite") as err:
        apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=mixamo_map()))
    assert str(err.value).count(". ") == 0  # one sentence
    assert scene_snapshot() == before
    assert rig.animation_data is None


def test_reapply_puts_bones_it_no_longer_keys_back_at_rest() -> None:
    rig = build_mixamo_rig()
    clip = make_clip([make_track(FRAMES, seed=5)])
    apply_track(rig, clip, 1, ApplyOptions(bone_map=mixamo_map()))
    spine = rig.pose.bones[MIXAMO_PREFIX + "Spine"]
    bpy.context.scene.frame_set(5)
    assert spine.rotation_quaternion.angle > 0.05
    neck = rig.pose.bones[MIXAMO_PREFIX + "Neck"]
    neck.rotation_quaternion = (math.nan, 0.0, 0.0, 0.0)  # what the old NaN keys left behind
    smaller = {j: b for j, b in mixamo_map().items() if j not in ("spine1", "neck")}
    apply_track(rig, clip, 1, ApplyOptions(bone_map=smaller))
    bpy.context.scene.frame_set(6)
    assert tuple(spine.rotation_quaternion) == (1.0, 0.0, 0.0, 0.0)
    assert tuple(neck.rotation_quaternion) == (1.0, 0.0, 0.0, 0.0)
    assert _all_values_finite(rig)
