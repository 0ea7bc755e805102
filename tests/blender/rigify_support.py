"""Rigify generated headless from Blender's bundled add-on, and a clip of varied poses.

``generate_rigify()`` enables the bundled ``rigify`` add-on, adds the Human meta-rig and runs
Generate Rig (about 5-7 s; 15-25 s on a busy machine), returning (meta-rig, generated rig). ``varied_pose_track()`` is a
person in the poses that broke retargeting onto Rigify: T-pose, arms up, deep squat, torso
twist, knee-up reach, lean back, forearm twist, all under a slow body turn.
"""

from __future__ import annotations

import addon_utils
import bpy
import numpy as np
from anim_support import UPRIGHT

from glot_blender.core.motion_clip import TrackMotion
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES

#: DEF bone heads that stand for SMPL joints in a generated Rigify rig (joint -> DEF bone)
RIGIFY_DEF: dict[str, str] = {
    "pelvis": "DEF-spine", "spine1": "DEF-spine.001", "spine2": "DEF-spine.002",
    "spine3": "DEF-spine.003", "neck": "DEF-spine.004", "head": "DEF-spine.006",
}
for _side, _s in (("left", "L"), ("right", "R")):
    for _joint, _bone in (("hip", "thigh"), ("knee", "shin"), ("ankle", "foot"), ("foot", "toe"),
                          ("collar", "shoulder"), ("shoulder", "upper_arm"), ("elbow", "forearm"),
                          ("wrist", "hand")):
        RIGIFY_DEF[f"{_side}_{_joint}"] = f"DEF-{_bone}.{_s}"


def generate_rigify(basic: bool = False) -> tuple[object, object]:
    """(meta-rig, generated rig) in the current (empty) scene: the Human meta-rig (706 bones
    generated, with face), or with ``basic`` the Basic Human (222 bones, under a second)."""
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    if basic:
        bpy.ops.object.armature_basic_human_metarig_add()
    else:
        bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    bpy.ops.pose.rigify_generate()
    rig = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE" and o is not meta)
    bpy.ops.object.mode_set(mode="OBJECT")
    return meta, rig


def _pose(**joints: tuple[float, float, float]) -> np.ndarray:
    out = np.zeros((24, 3))
    for name, aa in joints.items():
        out[JOINT_NAMES.index(name)] = aa
    return out


#: key poses, SMPL model frame (x: the person's left, y: up, z: forward), axis-angle
KEY_POSES = {
    "t_pose": _pose(),
    "arms_up": _pose(left_shoulder=(0, 0, 1.4), right_shoulder=(0, 0, -1.4), left_collar=(0, 0, 0.3),
                     right_collar=(0, 0, -0.3)),
    "deep_squat": _pose(left_hip=(-1.7, 0, 0.1), right_hip=(-1.7, 0, -0.1), left_knee=(2.1, 0, 0),
                        right_knee=(2.1, 0, 0), left_ankle=(-0.3, 0, 0), right_ankle=(-0.3, 0, 0),
                        spine1=(0.3, 0, 0), left_shoulder=(0, 0.9, -0.3), right_shoulder=(0, -0.9, 0.3)),
    "torso_twist": _pose(spine1=(0, 0.35, 0), spine2=(0, 0.35, 0), spine3=(0, 0.35, 0),
                         neck=(0, -0.3, 0), left_elbow=(0, 1.0, 0)),
    "knee_up_reach": _pose(left_hip=(-1.5, 0, 0), left_knee=(1.6, 0, 0), right_shoulder=(0, 1.0, -0.6),
                           right_elbow=(0, 0.4, 0), spine2=(0.2, 0, 0.1), head=(0.3, 0.2, 0)),
    "lean_back": _pose(spine1=(-0.25, 0, 0), spine2=(-0.25, 0, 0), spine3=(-0.2, 0, 0),
                       neck=(-0.2, 0, 0), head=(-0.2, 0, 0), left_shoulder=(0, 0, -0.9),
                       right_shoulder=(0, 0, 0.9)),
    "forearm_twist": _pose(left_elbow=(1.3, 0, 0), right_elbow=(-1.3, 0, 0), left_wrist=(0.5, 0, 0.3),
                           right_wrist=(-0.5, 0, -0.3), left_collar=(0, 0.2, 0), pelvis=(0, 0, 0)),
}


def varied_pose_track(frames_per_pose: int = 6, track_id: int = 1) -> TrackMotion:
    """The key poses in turn (linear blends between them), turning slowly about the vertical."""
    keys = list(KEY_POSES.values()) + [KEY_POSES["t_pose"]]
    rows = []
    for a, b in zip(keys[:-1], keys[1:]):
        for t in np.linspace(0.0, 1.0, frames_per_pose, endpoint=False):
            rows.append((1 - t) * a + t * b)
    rows.append(keys[-1])
    poses = np.array(rows)
    n = len(poses)
    yaw = np.linspace(0.0, 1.2, n)  # about the camera's (downward) y axis: a slow body turn
    orient = matrix_to_axis_angle(axis_angle_to_matrix(yaw[:, None] * [0.0, 1.0, 0.0])
                                  @ axis_angle_to_matrix(np.asarray(UPRIGHT)))
    poses[:, 0] = orient + poses[:, 0]
    transl = np.array([0.0, 0.4, 4.0]) + np.linspace(0, 1, n)[:, None] * [0.5, 0.0, 0.3]
    return TrackMotion(
        track_id=track_id, frame_ids=np.arange(n), global_orient=poses[:, 0],
        body_pose=poses[:, 1:].reshape(n, 69), betas=np.zeros((n, 10)),
        cam_crop=np.tile([1.0, 0.0, 0.0], (n, 1)), bbox=np.tile([320.0, 240.0, 100.0, 200.0], (n, 1)),
        transl=transl, rest_joints=DEFAULT_REST_JOINTS, joints3d=np.zeros((n, 24, 3)),
        confidence=np.ones(n), filled=np.zeros(n, dtype=bool),
    )
