"""Rigify as users animate it: the Human meta-rig and the rig Rigify generates from it, with
Blender's bundled Rigify add-on, headless. Detect picks the preset; Apply (user defaults:
smoothing 0.5, root motion from the origin) switches the limbs to FK, makes neck and head
follow, keys the FK controls; the DEF bones, evaluated by Blender, must follow SMPL's forward
kinematics. The rig is generated once per module and reopened from a .blend for each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import addon_utils
import bpy
import numpy as np
import pytest
from anim_support import make_clip, scene_snapshot
from rigify_support import RIGIFY_DEF, generate_rigify, varied_pose_track

from glot_blender.blender.actions import action_fcurves
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.apply_clip import ApplyRequest, apply_motion
from glot_blender.blender.errors import AnimError
from glot_blender.blender.rig_profile import detect_bone_map
from glot_blender.blender.verify import CHECK_PROP
from glot_blender.core import bone_maps
from glot_blender.core.kinematics import CAMERA_TO_BLENDER, forward_kinematics, world_deltas_in_blender
from glot_blender.core.motion_clip import write_clip
from glot_blender.core.retarget import PRIMARY_CHILD
from glot_blender.core.smoothing import SmoothingOptions, smooth_track
from glot_blender.core.smpl_skeleton import JOINT_NAMES

LIMB_JOINTS = tuple(f"{s}_{j}" for s in ("left", "right")
                    for j in ("hip", "knee", "ankle", "collar", "shoulder", "elbow"))
SPINE_JOINTS = ("spine1", "spine2", "spine3", "neck")
LIMB_MAX, LIMB_MEAN = 10.0, 2.0
SPINE_MAX, SPINE_MEAN = 15.0, 4.0
LIMB_SWITCHES = ("thigh_parent.L", "thigh_parent.R", "upper_arm_parent.L", "upper_arm_parent.R")
DEFAULTS = ApplyRequest(clip_path="", track_ids=(1,))  # the panel's defaults


@pytest.fixture(scope="module")
def rigify_blend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Generate once: the file holding the meta-rig and the generated rig, and their names."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    meta, rig = generate_rigify()
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return {"path": str(path), "meta": meta.name, "rig": rig.name}


@pytest.fixture
def rigify(rigify_blend) -> Iterator[tuple[object, object]]:
    """(meta-rig, generated rig) from the module's file, with the Rigify add-on enabled as a
    Rigify user has it (its file-load handler needs it)."""
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    bpy.ops.wm.open_mainfile(filepath=rigify_blend["path"])
    yield bpy.data.objects[rigify_blend["meta"]], bpy.data.objects[rigify_blend["rig"]]


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "varied.npz"
    write_clip(path, make_clip([varied_pose_track()]))
    return path


def _smpl_fk(track):
    """SMPL joints (F, 24, 3) and world rotation changes (F, 24, 3, 3) in Blender's world."""
    fk = forward_kinematics(track.rest_joints, track.poses, track.transl)
    return fk.joints @ CAMERA_TO_BLENDER.T, world_deltas_in_blender(fk.rotations)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _rot_angle(r: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def _world_pose(rig) -> dict[str, np.ndarray]:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = rig.evaluated_get(depsgraph)
    mw = np.array(ev.matrix_world)
    return {pb.name: mw @ np.array(pb.matrix) for pb in ev.pose.bones}


def _deform_errors(rig, track, frames: np.ndarray) -> tuple[dict[str, list[float]], list[str]]:
    """Per SMPL joint and frame, the DEF bones' error against SMPL's forward kinematics
    (degrees), and problems found on the way. Joints with a child: the DEF head-to-child-head
    direction against SMPL's joint-to-child direction. Head and wrists (no child): the DEF
    bone's rotation since the first frame against the SMPL joint's (the rest correction cancels
    out there, since a bone turns by ``D_j(t) @ Q_j``)."""
    joints, deltas = _smpl_fk(track)
    errors: dict[str, list[float]] = {}
    problems = []
    first: dict[str, np.ndarray] = {}
    for row, frame in enumerate(frames):
        bpy.context.scene.frame_set(int(frame))
        pose = _world_pose(rig)
        bad = [n for n, m in pose.items() if not np.all(np.isfinite(m))]
        if bad:
            problems.append(f"frame {frame}: {len(bad)} bones non-finite, e.g. {bad[0]}")
        rot = {j: pose[b][:3, :3] / np.linalg.norm(pose[b][:3, :3], axis=0)
               for j, b in RIGIFY_DEF.items()}
        first = first or rot
        for joint, child in PRIMARY_CHILD.items():
            if joint in RIGIFY_DEF and child in RIGIFY_DEF:
                got = pose[RIGIFY_DEF[child]][:3, 3] - pose[RIGIFY_DEF[joint]][:3, 3]
                want = joints[row, JOINT_NAMES.index(child)] - joints[row, JOINT_NAMES.index(joint)]
                errors.setdefault(joint, []).append(_angle(got, want))

        def turn_error(joint: str) -> float:
            j = JOINT_NAMES.index(joint)
            achieved = rot[joint] @ first[joint].T
            return _rot_angle(achieved.T @ deltas[row, j] @ deltas[0, j].T)

        for joint in ("head", "left_wrist", "right_wrist"):
            errors.setdefault(joint, []).append(turn_error(joint))
        for side in ("left", "right"):
            i_hip, i_ankle = (JOINT_NAMES.index(f"{side}_{j}") for j in ("hip", "ankle"))
            rig_hip, rig_foot = (pose[RIGIFY_DEF[f"{side}_{j}"]][2, 3] for j in ("hip", "ankle"))
            if joints[row, i_ankle, 2] < joints[row, i_hip, 2] and not rig_foot < rig_hip:
                problems.append(f"frame {frame}: {side} foot above its hip")
        for joint in LIMB_JOINTS:  # no flipped twist: each DEF bone turns within 90 deg of SMPL
            if turn_error(joint) > 90.0:
                problems.append(f"frame {frame}: {RIGIFY_DEF[joint]} twisted against {joint}")
    return errors, problems


def _action_finite(rig) -> bool:
    for fc in action_fcurves(rig.animation_data.action):
        co = np.empty(2 * len(fc.keyframe_points))
        fc.keyframe_points.foreach_get("co", co)
        if not np.all(np.isfinite(co)):
            return False
    return True


def test_rigify_detect_and_apply_with_defaults_follows_smpl(rigify, clip_file) -> None:
    _meta, rig = rigify
    bone_map = detect_bone_map(rig)
    assert bone_map.source == "preset:rigify_fk" and len(bone_map) == 22
    assert {bone_map[j] for j in ("pelvis", "neck", "head")} == {"torso", "neck", "head"}
    request = ApplyRequest(
        clip_path=str(clip_file), track_ids=(1,), target="ARMATURE", armature=rig.name,
        bone_map=tuple((j, bone_maps.as_text(b)) for j, b in bone_map.items()))
    assert apply_motion(bpy.context.scene, request) == [rig]
    # limbs in FK, head and neck following the torso: set and keyed
    keyed = {fc.data_path for fc in action_fcurves(rig.animation_data.action)}
    for bone in LIMB_SWITCHES:
        assert rig.pose.bones[bone]["IK_FK"] == 1.0
        assert f'pose.bones["{bone}"]["IK_FK"]' in keyed
    assert rig.pose.bones["torso"]["neck_follow"] == rig.pose.bones["torso"]["head_follow"] == 1.0
    assert _action_finite(rig)
    track = smooth_track(varied_pose_track(), 30.0, SmoothingOptions(strength=DEFAULTS.smoothing))
    errors, problems = _deform_errors(rig, track, np.arange(track.num_frames) + 1)
    assert not problems, problems[:5]
    for joints, worst, mean in ((LIMB_JOINTS + ("left_wrist", "right_wrist"), LIMB_MAX, LIMB_MEAN),
                                (SPINE_JOINTS + ("head",), SPINE_MAX, SPINE_MEAN)):
        values = np.array([errors[j] for j in joints])
        assert values.max() < worst, {j: round(max(errors[j]), 2) for j in joints}
        assert values.mean() < mean
    # the achieved error Apply measured itself, as the panel shows it
    check = rig[CHECK_PROP]
    assert "\n" not in check  # no notes: everything the rig does was modelled
    assert check.startswith("achieved error (mean/max) ") and "legs" in check and "arms" in check
    for part in check.split(") ", 1)[1].split(", "):
        mean_deg, max_deg = (float(v.rstrip("°")) for v in part.split(" ")[1].split("/"))
        assert mean_deg < LIMB_MEAN and max_deg < LIMB_MAX, check


def test_rigify_metarig_detect_maps_spine_neck_head_and_apply_is_exact(rigify) -> None:
    meta, _rig = rigify
    bone_map = detect_bone_map(meta)
    assert bone_map.source == "preset:rigify_metarig"
    assert bone_map["pelvis"] == "spine" and bone_map["head"] == "spine.006"
    assert bone_map["neck"] == ["spine.004", "spine.005"]
    assert len(bone_map) == 22 and not bone_map.missing  # the hands' finger bases have no bone
    track = varied_pose_track(frames_per_pose=3)
    apply_track(meta, make_clip([track]), 1, ApplyOptions(smoothing=None))
    joints, _deltas = _smpl_fk(track)
    metarig_names = {j: b if isinstance(b, str) else b[0] for j, b in bone_map.items()}
    worst = 0.0
    for row in range(track.num_frames):
        bpy.context.scene.frame_set(row + 1)
        pose = _world_pose(meta)
        for joint, child in PRIMARY_CHILD.items():
            if joint in metarig_names and child in metarig_names and joint != "neck":
                got = pose[metarig_names[child]][:3, 3] - pose[metarig_names[joint]][:3, 3]
                want = joints[row, JOINT_NAMES.index(child)] - joints[row, JOINT_NAMES.index(joint)]
                worst = max(worst, _angle(got, want))
    assert worst < 0.5
    assert meta[CHECK_PROP].startswith("achieved error")


def test_rigify_refusal_leaves_switches_and_scene_unchanged(rigify) -> None:
    _meta, rig = rigify
    track = varied_pose_track(frames_per_pose=2)
    track.body_pose[3, 0:3] = np.nan  # left hip on one frame
    before = scene_snapshot()
    with pytest.raises(AnimError, match=r"bone 'thigh_fk\.L' is not finite"):
        apply_track(rig, make_clip([track]), 1, ApplyOptions(smoothing=None))
    assert scene_snapshot() == before
    assert all(rig.pose.bones[b]["IK_FK"] == 0.0 for b in LIMB_SWITCHES)
    assert rig.pose.bones["torso"]["neck_follow"] == 0.5
    assert CHECK_PROP not in rig


def test_rigify_reapply_with_smaller_map_and_hidden_rig(rigify) -> None:
    """Re-apply without spine1 puts spine_fk.001 back at rest (no stale pose, no NaN); a rig
    Blender does not evaluate (disabled in the viewport) is refused, not retargeted blind."""
    _meta, rig = rigify
    clip = make_clip([varied_pose_track(frames_per_pose=2)])
    apply_track(rig, clip, 1, ApplyOptions(smoothing=None))
    bpy.context.scene.frame_set(6)
    assert rig.pose.bones["spine_fk.001"].rotation_quaternion.angle > 0.01
    smaller = {j: b for j, b in detect_bone_map(rig).items() if j != "spine1"}
    apply_track(rig, clip, 1, ApplyOptions(smoothing=None, bone_map=smaller))
    bpy.context.scene.frame_set(7)
    assert tuple(rig.pose.bones["spine_fk.001"].rotation_quaternion) == (1.0, 0.0, 0.0, 0.0)
    assert _action_finite(rig)
    rig.hide_viewport = True
    action = rig.animation_data.action
    with pytest.raises(AnimError, match="disabled in the viewport"):
        apply_track(rig, clip, 1, ApplyOptions(smoothing=None))
    assert rig.animation_data.action == action


def test_rigify_keying_constrained_deform_bones_is_flagged(rigify) -> None:
    """The DEF-bone preset on a generated rig (its DEF bones copy other bones): Apply still
    writes the keys, but its check shows they do not reach the deform bones, and says why."""
    _meta, rig = rigify
    preset = bone_maps.load_preset("rigify_deform")
    apply_track(rig, make_clip([varied_pose_track(frames_per_pose=2)]), 1,
                ApplyOptions(smoothing=None, preset="rigify_deform"))
    summary, *notes = rig[CHECK_PROP].split("\n")
    assert any("do not turn it" in n and "DEF-thigh.L" in n for n in notes), notes
    arms_max = float(summary.split("arms ")[1].split("/")[1].split("°")[0])
    assert arms_max > 20.0
    assert preset.bones["left_hip"] == ("DEF-thigh.L",)
    assert rig.pose.bones["thigh_parent.L"]["IK_FK"] == 0.0  # that preset switches nothing
