"""Motion on the SMPL rig reproduces SMPL forward kinematics in Blender's evaluated pose."""

from __future__ import annotations

import bpy
import numpy as np
from anim_support import make_clip, make_track, world_heads

from glot_blender.blender.actions import action_fcurves, channels_of
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature
from glot_blender.core.kinematics import CAMERA_TO_BLENDER, forward_kinematics
from glot_blender.core.smpl_skeleton import JOINT_NAMES

FK_TOL_M = 1e-4


def test_anim_smpl_rig_matches_forward_kinematics() -> None:
    track = make_track(num_frames=10, seed=3)
    clip = make_clip([track])
    arm = create_smpl_armature(track.rest_joints, name="SMPL person")
    opts = ApplyOptions(place_at_origin=False)
    action = apply_track(arm, clip, track.track_id, opts)
    assert action.name == "GLoT walk video P1"
    expected = forward_kinematics(track.rest_joints, track.poses, track.transl).joints
    expected = expected @ CAMERA_TO_BLENDER.T
    scene = bpy.context.scene
    worst = 0.0
    for row in range(track.num_frames):
        scene.frame_set(row + 1)
        got = world_heads(arm, list(JOINT_NAMES))
        worst = max(worst, float(np.abs(got - expected[row]).max()))
    assert worst < FK_TOL_M, f"max joint error {worst:.2e} m"


def test_anim_smpl_rig_action_layout_and_scene() -> None:
    track = make_track(num_frames=8, seed=1)
    arm = create_smpl_armature(track.rest_joints)
    other = bpy.data.actions.new("user's own action")
    action = apply_track(arm, make_clip([track], fps=29.97), 1)
    curves = action_fcurves(action)
    assert len(curves) == 24 * 4 + 3
    assert all(len(fc.keyframe_points) == 8 for fc in curves)
    assert channels_of(arm).action == action
    assert other.name in bpy.data.actions
    scene = bpy.context.scene
    assert (scene.render.fps, round(scene.render.fps_base, 4)) == (30, 1.001)
    assert (scene.frame_start, scene.frame_end) == (1, 8)
    assert all(pb.rotation_mode == "QUATERNION" for pb in arm.pose.bones)


def test_anim_smpl_rig_place_at_origin_puts_feet_on_ground() -> None:
    track = make_track(num_frames=6, seed=2)
    arm = create_smpl_armature(track.rest_joints)
    apply_track(arm, make_clip([track]), 1, ApplyOptions(place_at_origin=True))
    feet = ["left_ankle", "right_ankle", "left_foot", "right_foot"]
    lowest, first = [], None
    for f in range(1, 7):
        bpy.context.scene.frame_set(f)
        heads = world_heads(arm, feet + ["pelvis"])
        lowest.append(heads[:4, 2].min())
        first = heads[4] if first is None else first
    assert abs(min(lowest)) < FK_TOL_M
    assert np.abs(first[:2]).max() < FK_TOL_M
