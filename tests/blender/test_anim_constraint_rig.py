"""A constraint-driven rig without a preset: the measurement on the evaluated armature is
generic, not Rigify-only. A game-style rig: Mixamo-named controls all parented to nothing but
following each other through Child Of constraints, and DEF bones (the ones a mesh would
deform with) copying the controls through Copy Transforms. Keyed through the controls, the
DEF bones must follow SMPL as closely as a plain rig's bones do."""

from __future__ import annotations

import bpy
import numpy as np
from anim_support import build_mixamo_rig, make_clip, make_track, mixamo_map
from test_anim_retarget import source_directions

from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.verify import CHECK_PROP
from glot_blender.core.smpl_skeleton import JOINT_NAMES

FRAMES = 8
DEF = "DEF-"


def constraint_rig() -> object:
    rig = build_mixamo_rig(name="Game")
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    bones = rig.data.edit_bones
    logical = {b.name: b.parent.name if b.parent else None for b in bones}
    for name in list(logical):
        d = bones.new(DEF + name)
        d.head, d.tail, d.roll = bones[name].head, bones[name].tail, bones[name].roll
    for name, parent in logical.items():
        bones[DEF + name].parent = bones[DEF + parent] if parent else None
        bones[name].parent = None  # controls flat: only constraints say who follows whom
        bones[name].use_deform = False
    bpy.ops.object.mode_set(mode="OBJECT")
    for name, parent in logical.items():
        if parent:
            c = rig.pose.bones[name].constraints.new("CHILD_OF")
            c.target, c.subtarget = rig, parent
            c.set_inverse_pending = True
        c = rig.pose.bones[DEF + name].constraints.new("COPY_TRANSFORMS")
        c.target, c.subtarget = rig, name
    bpy.context.view_layer.update()
    return rig


def _def_direction_error(rig, track) -> float:
    want = source_directions(track)
    bone_map = mixamo_map()
    joints = [JOINT_NAMES.index(j) for j in bone_map]
    mw = np.array(rig.matrix_world)[:3, :3]
    worst = 0.0
    for row in range(track.num_frames):
        bpy.context.scene.frame_set(row + 1)
        ev = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        got = np.array([np.array(ev.pose.bones[DEF + b].tail - ev.pose.bones[DEF + b].head)
                        for b in bone_map.values()]) @ mw.T
        got /= np.linalg.norm(got, axis=1, keepdims=True)
        cos = np.clip(np.sum(got * want[row, joints], axis=1), -1.0, 1.0)
        worst = max(worst, float(np.degrees(np.arccos(cos)).max()))
    return worst


def test_controls_following_by_constraints_are_measured() -> None:
    rig = constraint_rig()
    rest = {pb.name: np.array(pb.matrix) for pb in rig.pose.bones}
    for name, m in rest.items():  # the set-up keeps the rest pose
        assert np.allclose(m, np.array(rig.data.bones[name].matrix_local), atol=1e-4), name
    track = make_track(num_frames=FRAMES, seed=11)
    apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=mixamo_map(), smoothing=None))
    assert _def_direction_error(rig, track) < 1.0
    assert "arms 0.0°" in rig[CHECK_PROP] and "legs 0.0°" in rig[CHECK_PROP]


def test_without_measurement_the_same_rig_is_far_off(monkeypatch) -> None:
    """The measurement is what makes it work: read from edit bones alone (every control a
    root), the keys double the parents' rotations, and Apply's own check says so."""
    import glot_blender.blender.apply as apply_module

    rig = constraint_rig()
    track = make_track(num_frames=FRAMES, seed=11)
    monkeypatch.setattr(apply_module, "needs_measurement", lambda obj: False)
    apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=mixamo_map(), smoothing=None))
    assert _def_direction_error(rig, track) > 20.0
    arms = rig[CHECK_PROP].split("arms ")[1].split("°/")[1]
    assert float(arms.rstrip("°,").split("°")[0]) > 20.0
