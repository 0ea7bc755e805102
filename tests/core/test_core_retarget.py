"""Retargeting SMPL motion onto numpy-described armatures (no bpy)."""

from __future__ import annotations

import numpy as np
import pytest
from core_rigs import mixamo_like_rig, smpl_joints_blender
from core_synthetic import smooth_random_motion

from glot_blender.core.kinematics import camera_to_blender, forward_kinematics
from glot_blender.core.retarget import (
    PRIMARY_CHILD,
    RetargetError,
    RetargetOptions,
    SourceMotion,
    TargetSkeleton,
    pose_matrices,
    retarget,
    smpl_bone_layout,
)
from glot_blender.core.rotations import matrix_angle
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES, PARENTS

FRAMES = 40


@pytest.fixture(scope="module")
def smpl_motion():
    poses, transl = smooth_random_motion(FRAMES, seed=5, amplitude=0.9)
    fk = forward_kinematics(DEFAULT_REST_JOINTS, poses, transl)
    _, world = camera_to_blender(None, fk.joints)
    return SourceMotion.from_smpl(poses, transl, DEFAULT_REST_JOINTS), world


def _posed_heads(skel, result):
    mats = pose_matrices(skel, result.quaternions.astype(np.float64), result.root_bone,
                         result.root_location)
    world = np.einsum("ij,fbj->fbi", skel.object_matrix, mats[:, :, :, 3])
    return world[..., :3]


def test_smpl_rig_reproduces_forward_kinematics(smpl_motion):
    source, want = smpl_motion
    heads, tails = smpl_bone_layout(DEFAULT_REST_JOINTS)
    rolls = np.random.default_rng(7).uniform(-np.pi, np.pi, 24)
    skel = TargetSkeleton.from_heads_tails(JOINT_NAMES, PARENTS, heads, tails, rolls)
    result = retarget(source, skel, {n: n for n in JOINT_NAMES})
    got = _posed_heads(skel, result)
    assert np.abs(got - want).max() < 1e-4
    assert result.scale == pytest.approx(1.0)
    assert result.quaternions.shape == (FRAMES, 24, 4) and result.root_bone == "pelvis"
    dots = np.sum(result.quaternions[1:] * result.quaternions[:-1], -1)
    assert np.all(dots > 0)  # sign continuity


def _direction_errors(skel, rig_map, result, want, skip=()):
    got = _posed_heads(skel, result)
    errors = {}
    for joint, bones in rig_map.items():
        child = PRIMARY_CHILD.get(joint)
        if child not in rig_map or joint in skip or not isinstance(bones, str):
            continue
        b = skel.index(bones)
        c_bones = rig_map[child]
        c = skel.index(c_bones if isinstance(c_bones, str) else c_bones[0])
        src = want[:, JOINT_NAMES.index(child)] - want[:, JOINT_NAMES.index(joint)]
        dst = got[:, c] - got[:, b]
        cos = np.sum(src * dst, -1) / np.linalg.norm(src, axis=-1) / np.linalg.norm(dst, axis=-1)
        errors[joint] = np.degrees(np.arccos(np.clip(cos, -1, 1))).max()
    return errors


FBX_LIKE = np.diag([0.01, 0.01, 0.01, 1.0]) @ np.array(
    [[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]])


@pytest.mark.parametrize(("a_pose", "object_matrix"),
                         [(0.0, None), (45.0, None), (40.0, FBX_LIKE)],
                         ids=["t-pose", "a-pose", "a-pose-fbx-axes-cm"])
def test_mixamo_like_rig_directions_within_one_degree(smpl_motion, a_pose, object_matrix):
    source, want = smpl_motion
    joints = smpl_joints_blender(leg_scale=1.15, arm_scale=0.85, spine_scale=1.2, a_pose_deg=a_pose)
    if object_matrix is not None:  # armature space in cm, y up, as an FBX import would give
        joints = joints @ object_matrix[:3, :3] / 0.01**2
    rig = mixamo_like_rig(joints, seed=3, object_matrix=object_matrix)
    result = retarget(source, rig.skeleton, rig.bone_map)
    errors = _direction_errors(rig.skeleton, rig.bone_map, result, want)
    assert len(errors) == 16
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1.0, f"{worst}: {errors[worst]:.3f} degrees"
    # unmapped bones stay at rest relative to their parent
    for name in ("mixamorig:Root", "mixamorig:LeftArmRoll", "mixamorig:HeadTop_End"):
        i = rig.skeleton.index(name)
        assert not result.animated[i]
        assert np.allclose(result.quaternions[:, i], [1, 0, 0, 0])
    assert result.scale == pytest.approx(1.15, rel=1e-6)


def test_rest_pose_correction_matters_for_a_pose(smpl_motion):
    source, want = smpl_motion
    rig = mixamo_like_rig(smpl_joints_blender(a_pose_deg=45.0), seed=1)
    plain = retarget(source, rig.skeleton, rig.bone_map, RetargetOptions(rest_correction=False))
    errors = _direction_errors(rig.skeleton, rig.bone_map, plain, want)
    assert errors["left_shoulder"] > 30.0  # without correction the arms stay 45 degrees low


def _straight_spine_rest() -> np.ndarray:
    """SMPL rest joints with pelvis, spines, neck and head on one vertical line (model frame)."""
    rest = DEFAULT_REST_JOINTS.astype(np.float64).copy()
    for name in ("spine1", "spine2", "spine3", "neck", "head"):
        rest[JOINT_NAMES.index(name), [0, 2]] = rest[0, [0, 2]]
    return rest


@pytest.mark.parametrize("spine_count", [2, 5])
def test_spine_chains_of_other_lengths(spine_count):
    rest = _straight_spine_rest()
    poses, transl = smooth_random_motion(FRAMES, seed=9, amplitude=0.9)
    source = SourceMotion.from_smpl(poses, transl, rest)
    want = camera_to_blender(None, forward_kinematics(rest, poses, transl).joints)[1]
    rig = mixamo_like_rig(smpl_joints_blender(rest=rest, arm_scale=1.1), spine_count=spine_count,
                          neck_count=2, seed=4)
    result = retarget(source, rig.skeleton, rig.bone_map)
    errors = _direction_errors(rig.skeleton, rig.bone_map, result, want)
    assert errors and max(errors.values()) < 1.0
    skel = rig.skeleton
    mats = pose_matrices(skel, result.quaternions.astype(np.float64), result.root_bone,
                         result.root_location)
    world_delta = mats[:, :, :3, :3] @ np.swapaxes(skel.rest_matrices[:, :3, :3], -1, -2)
    # the last bone of each chain turns exactly like its SMPL joint
    for joint in ("spine3", "neck"):
        bones = rig.bone_map[joint]
        last = skel.index(bones if isinstance(bones, str) else bones[-1])
        src = source.deltas[:, JOINT_NAMES.index(joint)]
        assert matrix_angle(world_delta[:, last], src).max() < 1e-6
    # a chain spreads its bend evenly: consecutive bones turn by the same relative rotation
    for joint, bones in rig.bone_map.items():
        if isinstance(bones, list):
            idx = [skel.index(b) for b in bones]
            rel = np.swapaxes(world_delta[:, idx[0]], -1, -2) @ world_delta[:, idx[1]]
            first_parent = int(skel.parents[idx[0]])
            rel0 = np.swapaxes(world_delta[:, first_parent], -1, -2) @ world_delta[:, idx[0]]
            assert np.allclose(rel, rel0, atol=1e-6), joint
            assert matrix_angle(rel, np.eye(3)).max() > 1e-3


def test_root_translation_scaled_by_leg_length_and_modes(smpl_motion):
    source, _want = smpl_motion
    rig = mixamo_like_rig(smpl_joints_blender(leg_scale=1.3), seed=2, root_bone=False)
    skel = rig.skeleton
    hips = skel.index("mixamorig:Hips")
    rest_head = skel.heads[hips]
    result = retarget(source, skel, rig.bone_map)
    assert result.scale == pytest.approx(1.3, rel=1e-6)
    got = _posed_heads(skel, result)[:, hips]
    assert np.allclose(got - rest_head, 1.3 * (source.root - source.rest_joints[0]), atol=1e-9)
    origin = _posed_heads(skel, retarget(source, skel, rig.bone_map, RetargetOptions("origin")))
    assert np.allclose(origin[0, hips], rest_head, atol=1e-9)
    assert np.allclose(origin[:, hips] - origin[:1, hips], got - got[:1], atol=1e-9)
    in_place = _posed_heads(skel, retarget(source, skel, rig.bone_map, RetargetOptions("in_place")))
    assert np.allclose(in_place[:, hips, :2], rest_head[:2], atol=1e-9)
    fixed = retarget(source, skel, rig.bone_map, RetargetOptions(scale=2.0))
    assert fixed.scale == 2.0


def test_bad_maps_name_the_fault(smpl_motion):
    source, _ = smpl_motion
    rig = mixamo_like_rig(smpl_joints_blender(), seed=0)
    bad = dict(rig.bone_map)
    bad.pop("pelvis")
    with pytest.raises(RetargetError, match="pelvis"):
        retarget(source, rig.skeleton, bad)
    with pytest.raises(RetargetError, match="mixamorig:Nope"):
        retarget(source, rig.skeleton, {**rig.bone_map, "left_hand": "mixamorig:Nope"})
    with pytest.raises(RetargetError, match="left_pinky"):
        retarget(source, rig.skeleton, {**rig.bone_map, "left_pinky": "mixamorig:Head"})
    with pytest.raises(RetargetError, match="mapped twice"):
        retarget(source, rig.skeleton, {**rig.bone_map, "left_hand": "mixamorig:Head"})
    with pytest.raises(RetargetError, match="root_motion|not one of"):
        RetargetOptions(root_motion="teleport")


def test_long_clip_is_fast_enough_to_be_vectorised():
    """Not a timing assertion: an 18,000-frame clip runs through (shape check only)."""
    poses, transl = smooth_random_motion(18000, seed=1)
    source = SourceMotion.from_smpl(poses, transl, DEFAULT_REST_JOINTS)
    rig = mixamo_like_rig(smpl_joints_blender(), seed=0)
    result = retarget(source, rig.skeleton, rig.bone_map)
    assert result.quaternions.shape == (18000, len(rig.skeleton.names), 4)


def test_character_facing_away_is_turned_to_face_like_the_source(smpl_motion):
    source, want = smpl_motion
    turn = np.eye(4)
    turn[:2, :2] = [[-1, 0], [0, -1]]  # the whole armature object turned 180 degrees about z
    rig = mixamo_like_rig(smpl_joints_blender(a_pose_deg=30.0), seed=6, object_matrix=turn)
    result = retarget(source, rig.skeleton, rig.bone_map)
    errors = _direction_errors(rig.skeleton, rig.bone_map, result, want)
    assert max(errors.values()) < 1.0


def _degenerate_rig(kind: str):
    """A Mixamo-like rig broken the way real rigs are: Rigify's FK spine controls share a
    head, a zero-length bone, a child sitting on its parent's head."""
    rig = mixamo_like_rig(smpl_joints_blender(), seed=4)
    skel = rig.skeleton
    heads = skel.heads.copy()
    tails = heads + 0.1 * skel.rest_matrices[:, :3, 1]
    idx = {name: skel.index(bone) for name, bone in rig.bone_map.items() if isinstance(bone, str)}
    if kind == "shared-head":  # spine2 starts where spine1 starts
        heads[idx["spine2"]] = heads[idx["spine1"]]
    elif kind == "zero-length":  # knee bone with head == tail, a head with no length
        tails[idx["left_knee"]] = heads[idx["left_knee"]]
        tails[idx["head"]] = heads[idx["head"]]
    elif kind == "child-at-parent-head":
        heads[idx["left_elbow"]] = heads[idx["left_shoulder"]]
        heads[idx["right_knee"]] = heads[idx["right_hip"]]
    elif kind == "all-at-one-point":
        heads[:] = heads[idx["pelvis"]]
    skel = TargetSkeleton.from_heads_tails(skel.names, skel.parents, heads, tails)
    return skel, rig.bone_map


@pytest.mark.parametrize("kind", ["shared-head", "zero-length", "child-at-parent-head",
                                  "all-at-one-point"])
def test_degenerate_rigs_never_give_nan(smpl_motion, kind):
    """Zero-length correction vectors fall back to the parent joint's correction: every key
    is finite, and joints with a usable vector still follow the source."""
    source, want = smpl_motion
    skel, bone_map = _degenerate_rig(kind)
    with np.errstate(all="raise"):  # not even a RuntimeWarning on the way
        result = retarget(source, skel, bone_map)
    assert result.non_finite_bone() is None
    assert np.all(np.isfinite(result.quaternions)) and np.all(np.isfinite(result.root_location))
    if kind == "shared-head":
        errors = _direction_errors(skel, bone_map, result, want, skip=("spine1", "spine2"))
        assert max(errors.values()) < 1.0


def test_non_finite_motion_is_refused_naming_the_bone(smpl_motion):
    source, _want = smpl_motion
    rig = mixamo_like_rig(smpl_joints_blender(), seed=4)
    bad = SourceMotion(source.rest_joints, source.deltas.copy(), source.root)
    bad.deltas[3, JOINT_NAMES.index("left_knee")] = np.nan
    with pytest.raises(RetargetError, match="mixamorig:LeftLeg.*not finite"):
        retarget(bad, rig.skeleton, rig.bone_map)


def _world_deltas(skel, result):
    """(B, F, 3, 3) world rotation change of every bone under the keys of ``result``,
    evaluated like Blender with the skeleton's parents and partly followed bones."""
    from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
    from glot_blender.core.rotations import quaternion_to_matrix

    rest = skel.rest_matrices[:, :3, :3]
    eye = np.broadcast_to(np.eye(3), (result.quaternions.shape[0], 3, 3))
    out = [None] * len(skel.names)
    for b in skel.order():
        p, q = int(skel.parents[b]), int(skel.partial[b])
        frame = eye if p < 0 else out[p]
        if q >= 0:
            rel = np.swapaxes(frame, -1, -2) @ out[q]
            frame = frame @ axis_angle_to_matrix(skel.partial_weight[b] * matrix_to_axis_angle(rel))
        local = quaternion_to_matrix(result.quaternions[:, b].astype(np.float64))
        out[b] = frame @ rest[b] @ local @ rest[b].T
    return out


def test_partly_followed_parent_frame(smpl_motion):
    """A bone whose parent frame turns with its parent and half-way towards a second bone (a
    constraint at influence 0.5, as measured on Rigify) gets the local rotation that still
    turns it exactly as the plain rig's bone turns."""
    source, _want = smpl_motion
    rig = mixamo_like_rig(smpl_joints_blender(), seed=2)
    skel = rig.skeleton
    # followed: a bone of another branch, so the order must put it first (not the edit tree's)
    other, neck = (skel.index(rig.bone_map[j]) for j in ("right_knee", "neck"))
    partial = np.full(len(skel.names), -1)
    weight = np.zeros(len(skel.names))
    partial[neck], weight[neck] = other, 0.5
    measured = TargetSkeleton(skel.names, skel.parents, skel.rest_matrices, skel.object_matrix,
                              partial=partial, partial_weight=weight)
    assert measured.order().index(other) < measured.order().index(neck)
    plain, result = retarget(source, skel, rig.bone_map), retarget(source, measured, rig.bone_map)
    want, got = _world_deltas(skel, plain), _world_deltas(measured, result)
    assert not np.allclose(plain.quaternions[:, neck], result.quaternions[:, neck], atol=1e-3)
    for b in np.nonzero(plain.animated)[0]:
        assert np.allclose(got[b], want[b], atol=1e-4), skel.names[b]
