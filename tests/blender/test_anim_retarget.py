"""Retargeting onto Mixamo-named rigs with other proportions and T-pose or A-pose rests."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from anim_support import (
    MIXAMO_PREFIX,
    build_mixamo_rig,
    make_clip,
    make_track,
    mixamo_map,
    world_directions,
    world_heads,
)

from glot_blender.blender.actions import action_fcurves
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.core.kinematics import (
    CAMERA_TO_BLENDER,
    forward_kinematics,
    world_deltas_in_blender,
)
from glot_blender.core.retarget import smpl_bone_layout
from glot_blender.core.smpl_skeleton import JOINT_NAMES

MAX_ANGLE_DEG = 1.0
#: a chain bone's own direction may differ from the chain's overall source direction
CHAIN_MAX_ANGLE_DEG = 15.0
NUM_FRAMES = 8


def source_directions(track) -> np.ndarray:
    """(N, 24, 3) posed SMPL bone directions in Blender: from FK joint positions where the
    joint has a child, else its rest direction turned by the joint's world rotation."""
    fk = forward_kinematics(track.rest_joints, track.poses)
    joints = fk.joints @ CAMERA_TO_BLENDER.T
    rest, tails = smpl_bone_layout(track.rest_joints)
    dirs = np.einsum("nij,nj->ni", world_deltas_in_blender(fk.rotations).reshape(-1, 3, 3),
                     np.tile(tails - rest, (track.num_frames, 1))).reshape(-1, 24, 3)
    child = {0: 3, 9: 12, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 12: 15, 13: 16,
             14: 17, 16: 18, 17: 19, 18: 20, 19: 21, 20: 22, 21: 23}
    for j, c in child.items():
        dirs[:, j] = joints[:, c] - joints[:, j]
    return dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)


@pytest.mark.parametrize(
    ("a_pose_deg", "scale", "limb_scale"), [(0.0, 1.25, 0.9), (45.0, 0.8, 1.2)],
    ids=["t-pose-tall", "a-pose-small"],
)
def test_anim_retarget_directions_match_source(a_pose_deg, scale, limb_scale) -> None:
    track = make_track(num_frames=NUM_FRAMES, seed=7)
    rig = build_mixamo_rig(a_pose_deg=a_pose_deg, scale=scale, limb_scale=limb_scale)
    bone_map = mixamo_map()
    apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=bone_map))
    want = source_directions(track)
    joints = [JOINT_NAMES.index(j) for j in bone_map]
    bones = list(bone_map.values())
    worst = 0.0
    for row in range(NUM_FRAMES):
        bpy.context.scene.frame_set(row + 1)
        got = world_directions(rig, bones)
        cos = np.clip(np.sum(got * want[row, joints], axis=1), -1.0, 1.0)
        worst = max(worst, float(np.degrees(np.arccos(cos)).max()))
    assert worst < MAX_ANGLE_DEG, f"worst bone direction error {worst:.3f} deg"


def test_anim_retarget_root_trajectory_scaled_by_leg_length() -> None:
    track = make_track(num_frames=NUM_FRAMES, seed=8)
    rig = build_mixamo_rig(scale=1.5, limb_scale=1.0)
    apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=mixamo_map()))
    hips = []
    for row in range(NUM_FRAMES):
        bpy.context.scene.frame_set(row + 1)
        hips.append(world_heads(rig, [MIXAMO_PREFIX + "Hips"])[0])
    fk = forward_kinematics(track.rest_joints, track.poses, track.transl).joints @ CAMERA_TO_BLENDER.T
    src = fk[:, 0] - fk[0, 0]
    got = np.array(hips) - hips[0]
    np.testing.assert_allclose(got, 1.5 * src, atol=1e-4)


def test_anim_retarget_unmapped_bones_stay_at_rest() -> None:
    track = make_track(num_frames=4, seed=9)
    rig = build_mixamo_rig()
    bone_map = {j: b for j, b in mixamo_map().items() if j not in ("left_wrist", "neck")}
    apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=bone_map))
    bpy.context.scene.frame_set(3)
    for name in (MIXAMO_PREFIX + "LeftHand", MIXAMO_PREFIX + "Neck"):
        basis = np.array(rig.pose.bones[name].matrix_basis)
        np.testing.assert_allclose(basis, np.eye(4), atol=1e-9)


@pytest.mark.parametrize("preset", [None, "mixamo"], ids=["detected", "named"])
def test_anim_retarget_with_rig_preset(preset) -> None:
    track = make_track(num_frames=4, seed=10)
    rig = build_mixamo_rig(a_pose_deg=30.0)
    action = apply_track(rig, make_clip([track]), 1, ApplyOptions(preset=preset))
    driven = {fc.data_path for fc in action_fcurves(action)}
    assert f'pose.bones["{MIXAMO_PREFIX}LeftForeArm"].rotation_quaternion' in driven
    want = source_directions(track)
    bpy.context.scene.frame_set(3)
    got = world_directions(rig, [MIXAMO_PREFIX + "LeftForeArm"])[0]
    assert np.degrees(np.arccos(np.clip(got @ want[2, JOINT_NAMES.index("left_elbow")], -1, 1))) < 1.0


def test_anim_retarget_chain_of_bones_for_one_joint() -> None:
    """Two target bones driven by one SMPL joint (a spine with another bone count): both are
    keyed, the next mapped bone (neck) still matches its source direction within 1 degree and
    the chain bones stay within a few degrees (the correction is per chain, not per bone)."""
    track = make_track(num_frames=4, seed=13)
    rig = build_mixamo_rig()
    bone_map = mixamo_map()
    bone_map.pop("spine2")
    bone_map["spine3"] = [MIXAMO_PREFIX + "Spine1", MIXAMO_PREFIX + "Spine2"]
    action = apply_track(rig, make_clip([track]), 1, ApplyOptions(bone_map=bone_map))
    driven = {fc.data_path for fc in action_fcurves(action)}
    for bone in ("Spine1", "Spine2"):
        assert f'pose.bones["{MIXAMO_PREFIX}{bone}"].rotation_quaternion' in driven
    want = source_directions(track)
    bpy.context.scene.frame_set(2)
    got = world_directions(rig, [MIXAMO_PREFIX + "Spine2", MIXAMO_PREFIX + "Neck"])
    angles = [
        np.degrees(np.arccos(np.clip(got[k] @ want[1, JOINT_NAMES.index(joint)], -1.0, 1.0)))
        for k, joint in enumerate(("spine3", "neck"))
    ]
    assert angles[1] < MAX_ANGLE_DEG
    assert angles[0] < CHAIN_MAX_ANGLE_DEG
