"""Synthetic armatures for tests/core: Mixamo-like rigs built as numpy data, with other
proportions, T- or A-pose rests, spine chains of any length, unmapped extra bones and
arbitrary bone rolls."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glot_blender.core.kinematics import smpl_rest_to_blender
from glot_blender.core.retarget import TargetSkeleton
from glot_blender.core.rotations import axis_angle_to_matrix
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES, PARENTS

PREFIX = "mixamorig:"
LIMBS = {  # SMPL joint -> Mixamo-like bone name (without prefix), per side
    "hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase",
    "collar": "Shoulder", "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand",
}


@dataclass
class Rig:
    skeleton: TargetSkeleton
    bone_map: dict[str, str | list[str]]


def smpl_joints_blender(rest=DEFAULT_REST_JOINTS, leg_scale=1.0, arm_scale=1.0, spine_scale=1.0,
                        a_pose_deg=0.0) -> np.ndarray:
    """SMPL-like joint positions (24, 3) in Blender space with other proportions / A-pose."""
    base = smpl_rest_to_blender(rest)
    out = base.copy()
    down_l = axis_angle_to_matrix(np.array([0.0, np.radians(a_pose_deg), 0.0]))
    down_r = axis_angle_to_matrix(np.array([0.0, -np.radians(a_pose_deg), 0.0]))
    for j in range(1, 24):
        name, p = JOINT_NAMES[j], PARENTS[j]
        off = base[j] - base[p]
        if any(k in name for k in ("hip", "knee", "ankle", "foot")):
            off = off * leg_scale
        elif any(k in name for k in ("elbow", "wrist", "hand")) or name.endswith("_shoulder"):
            off = off * arm_scale
            off = (down_l if name.startswith("left") else down_r) @ off
        elif name.startswith("spine") or name in ("neck", "head"):
            off = off * spine_scale
        out[j] = out[p] + off
    return out


def mixamo_like_rig(joints: np.ndarray, spine_count: int = 3, neck_count: int = 1, seed: int = 0,
                    root_bone: bool = True, object_matrix: np.ndarray | None = None) -> Rig:
    """A rig whose mapped bone heads sit at ``joints`` (24, 3, armature space before
    object_matrix); spine/neck chains are spread along the SMPL polyline."""
    names: list[str] = []
    parents: list[int] = []
    heads: list[np.ndarray] = []
    bone_map: dict[str, str | list[str]] = {}

    def add(name: str, parent: str | None, head: np.ndarray) -> str:
        names.append(PREFIX + name)
        parents.append(-1 if parent is None else names.index(PREFIX + parent))
        heads.append(np.asarray(head, dtype=np.float64))
        return PREFIX + name

    j = {n: joints[i] for i, n in enumerate(JOINT_NAMES)}
    top = None
    if root_bone:
        add("Root", None, [j["pelvis"][0], j["pelvis"][1], j["left_foot"][2]])
        top = "Root"
    bone_map["pelvis"] = add("Hips", top, j["pelvis"])
    # spine chain along spine1 -> spine2 -> spine3 polyline, split into the SMPL groups
    groups = np.array_split(np.arange(spine_count), 3) if spine_count >= 3 else (
        [np.array([0]), np.array([], int), np.array([1])] if spine_count == 2 else
        [np.array([], int), np.array([], int), np.array([0])])
    pts = [j["spine1"], j["spine2"], j["spine3"], j["neck"]]
    parent = "Hips"
    for g, (seg_a, seg_b, smpl) in enumerate(zip(pts[:3], pts[1:], ("spine1", "spine2", "spine3"))):
        chain = []
        for k, _idx in enumerate(groups[g]):
            f = k / max(len(groups[g]), 1)
            parent = add(f"Spine{len(names)}", parent, seg_a + f * (seg_b - seg_a))[len(PREFIX):]
            chain.append(PREFIX + parent)
        if chain:
            bone_map[smpl] = chain if len(chain) > 1 else chain[0]
    chest = parent
    necks = []
    for k in range(neck_count):
        f = k / neck_count
        parent = add(f"Neck{k}", parent, j["neck"] + f * (j["head"] - j["neck"]))[len(PREFIX):]
        necks.append(PREFIX + parent)
    bone_map["neck"] = necks if len(necks) > 1 else necks[0]
    bone_map["head"] = add("Head", parent, j["head"])
    add("HeadTop_End", "Head", j["head"] + [0, 0, 0.15])
    for side, Side in (("left", "Left"), ("right", "Right")):
        bone_map[f"{side}_hip"] = add(f"{Side}UpLeg", "Hips", j[f"{side}_hip"])
        bone_map[f"{side}_knee"] = add(f"{Side}Leg", f"{Side}UpLeg", j[f"{side}_knee"])
        bone_map[f"{side}_ankle"] = add(f"{Side}Foot", f"{Side}Leg", j[f"{side}_ankle"])
        bone_map[f"{side}_foot"] = add(f"{Side}ToeBase", f"{Side}Foot", j[f"{side}_foot"])
        add(f"{Side}Toe_End", f"{Side}ToeBase", j[f"{side}_foot"] + [0, -0.08, 0])
        bone_map[f"{side}_collar"] = add(f"{Side}Shoulder", chest, j[f"{side}_collar"])
        bone_map[f"{side}_shoulder"] = add(f"{Side}Arm", f"{Side}Shoulder", j[f"{side}_shoulder"])
        add(f"{Side}ArmRoll", f"{Side}Arm", 0.5 * (j[f"{side}_shoulder"] + j[f"{side}_elbow"]))
        bone_map[f"{side}_elbow"] = add(f"{Side}ForeArm", f"{Side}ArmRoll", j[f"{side}_elbow"])
        bone_map[f"{side}_wrist"] = add(f"{Side}Hand", f"{Side}ForeArm", j[f"{side}_wrist"])
        add(f"{Side}HandMiddle1", f"{Side}Hand", j[f"{side}_hand"])
    heads_arr = np.array(heads)
    tails = heads_arr.copy()
    for i in range(len(names)):
        kids = [c for c, p in enumerate(parents) if p == i]
        if kids:
            tails[i] = heads_arr[kids[-1]]
        if not kids or np.linalg.norm(tails[i] - heads_arr[i]) < 1e-4:
            p = parents[i]
            d = heads_arr[i] - heads_arr[p] if p >= 0 else np.array([0.0, 0.0, 0.1])
            tails[i] = heads_arr[i] + 0.5 * d
    rolls = np.random.default_rng(seed).uniform(-np.pi, np.pi, len(names))
    skel = TargetSkeleton.from_heads_tails(names, parents, heads_arr, tails, rolls, object_matrix)
    return Rig(skel, bone_map)
