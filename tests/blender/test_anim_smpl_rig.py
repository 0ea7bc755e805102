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
    opts = ApplyOptions(root_placement="camera")
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


def pelvis_path(arm: object, frames: int) -> np.ndarray:
    out = []
    for f in range(1, frames + 1):
        bpy.context.scene.frame_set(f)
        out.append(world_heads(arm, ["pelvis"])[0])
    return np.array(out)


def test_anim_smpl_rig_root_placement_and_in_place() -> None:
    track = make_track(num_frames=6, seed=2)
    fk = forward_kinematics(track.rest_joints, track.poses, track.transl).joints
    src = (fk[:, 0] - fk[0, 0]) @ CAMERA_TO_BLENDER.T
    arm = create_smpl_armature(track.rest_joints)
    rest_pelvis = np.array(tuple(arm.data.bones["pelvis"].head_local))
    assert abs(rest_pelvis[0]) < 1e-6 and abs(rest_pelvis[1]) < 1e-6 and rest_pelvis[2] > 0.8
    apply_track(arm, make_clip([track]), 1, ApplyOptions(root_placement="origin"))
    np.testing.assert_allclose(pelvis_path(arm, 6), rest_pelvis + src, atol=FK_TOL_M)
    apply_track(arm, make_clip([track]), 1, ApplyOptions(root_motion=False))
    path = pelvis_path(arm, 6)
    np.testing.assert_allclose(path[:, :2], np.tile(rest_pelvis[:2], (6, 1)), atol=FK_TOL_M)
    np.testing.assert_allclose(path[:, 2], rest_pelvis[2] + src[:, 2], atol=FK_TOL_M)


def test_anim_smpl_rig_leaves_other_actions_and_nla_alone() -> None:
    track = make_track(num_frames=5, seed=4)
    arm = create_smpl_armature(track.rest_joints)
    stashed = bpy.data.actions.new("walk cycle")
    nla = arm.animation_data_create().nla_tracks.new()
    nla.name = "stash"
    nla.strips.new("walk", 1, stashed)
    first = apply_track(arm, make_clip([track]), 1)
    second = apply_track(arm, make_clip([track]), 1)
    assert first.name in bpy.data.actions and second != first
    assert arm.animation_data.action == second
    assert [t.name for t in arm.animation_data.nla_tracks] == ["stash"]
    assert arm.animation_data.nla_tracks["stash"].strips[0].action == stashed


def keyed_quaternions(action: object, bone: str) -> np.ndarray:
    from glot_blender.blender.actions import action_fcurves

    path = f'pose.bones["{bone}"].rotation_quaternion'
    curves = sorted((fc for fc in action_fcurves(action) if fc.data_path == path),
                    key=lambda fc: fc.array_index)
    out = []
    for fc in curves:
        co = np.empty(len(fc.keyframe_points) * 2)
        fc.keyframe_points.foreach_get("co", co)
        out.append(co[1::2])
    return np.stack(out, axis=1)


def test_anim_smpl_rig_smoothing_is_reappliable() -> None:
    from glot_blender.core.smoothing import SmoothingOptions

    track = make_track(num_frames=40, seed=6)
    raw_pose = track.body_pose.copy()
    arm = create_smpl_armature(track.rest_joints)
    clip = make_clip([track])
    raw = keyed_quaternions(apply_track(arm, clip, 1), "left_knee")
    smooth_opts = SmoothingOptions(method="gaussian", strength=1.0)
    smooth = keyed_quaternions(apply_track(arm, clip, 1, ApplyOptions(smoothing=smooth_opts)),
                               "left_knee")
    accel = [np.abs(np.diff(q, 2, axis=0)).mean() for q in (raw, smooth)]
    assert accel[1] < 0.5 * accel[0]
    np.testing.assert_array_equal(clip.track(1).body_pose, raw_pose)
