"""Helpers for the BLENDER-ANIM tests: synthetic motion clips, test rigs, scene snapshots."""

from __future__ import annotations

import bpy
import numpy as np

from glot_blender.core.motion_clip import MotionClip, TrackMotion
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

UPRIGHT = np.array([np.pi, 0.0, 0.0])  # global_orient of a person standing before the camera


def make_track(num_frames: int = 12, seed: int = 0, track_id: int = 1) -> TrackMotion:
    """Random but plausible SMPL motion: upright root, joint angles up to ~0.6 rad, walking
    translation 3-4 m in front of the camera."""
    rng = np.random.default_rng(seed)
    n = num_frames
    t = np.linspace(0.0, 1.0, n)[:, None]
    orient = UPRIGHT + rng.normal(0.0, 0.3, 3) * t + rng.normal(0.0, 0.05, (n, 3))
    body = rng.normal(0.0, 0.35, (1, 69)) + rng.normal(0.0, 0.15, (n, 69))
    transl = np.array([-0.5, 0.3, 3.5]) + np.array([1.0, 0.05, 0.5]) * t
    return TrackMotion(
        track_id=track_id,
        frame_ids=np.arange(n),
        global_orient=orient,
        body_pose=body,
        betas=np.zeros((n, 10)),
        cam_crop=np.tile([1.0, 0.0, 0.0], (n, 1)),
        bbox=np.tile([320.0, 240.0, 100.0, 200.0], (n, 1)),
        transl=transl,
        rest_joints=DEFAULT_REST_JOINTS.copy(),  # tests reshape a track's body in place
        joints3d=np.zeros((n, 24, 3)),
        confidence=np.ones(n),
        filled=np.zeros(n, dtype=bool),
    )


def make_clip(tracks: list[TrackMotion] | None = None, fps: float = 30.0) -> MotionClip:
    tracks = [make_track()] if tracks is None else tracks
    frames = max((int(t.frame_ids.max()) + 1 for t in tracks), default=0)
    return MotionClip(
        fps=fps, frame_count=frames, width=640, height=480, tracks=tracks,
        source_name="walk video.mp4",
    )


def scene_snapshot() -> dict[str, list[str]]:
    """Names in the data collections a failed operation must leave untouched."""
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "actions": sorted(a.name for a in bpy.data.actions),
        "armatures": sorted(a.name for a in bpy.data.armatures),
        "meshes": sorted(m.name for m in bpy.data.meshes),
        "anim": sorted(
            f"{o.name}:{o.animation_data.action.name if o.animation_data and o.animation_data.action else ''}"
            for o in bpy.data.objects
        ),
    }


def world_heads(obj: object, names: list[str]) -> np.ndarray:
    """(len(names), 3) world positions of pose-bone heads at the current frame."""
    mw = np.array(obj.matrix_world)
    heads = np.array([tuple(obj.pose.bones[n].head) for n in names])
    return heads @ mw[:3, :3].T + mw[:3, 3]


def world_directions(obj: object, names: list[str]) -> np.ndarray:
    """(len(names), 3) unit head->tail world directions of pose bones at the current frame."""
    mw = np.array(obj.matrix_world)[:3, :3]
    d = np.array([tuple(obj.pose.bones[n].tail - obj.pose.bones[n].head) for n in names]) @ mw.T
    return d / np.linalg.norm(d, axis=1, keepdims=True)


#: SMPL joint -> Mixamo bone (without the "mixamorig:" prefix); hands' end joints unmapped
MIXAMO_NAMES: dict[str, str] = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg",
    "spine1": "Spine", "left_knee": "LeftLeg", "right_knee": "RightLeg", "spine2": "Spine1",
    "left_ankle": "LeftFoot", "right_ankle": "RightFoot", "spine3": "Spine2",
    "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "neck": "Neck",
    "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "head": "Head",
    "left_shoulder": "LeftArm", "right_shoulder": "RightArm", "left_elbow": "LeftForeArm",
    "right_elbow": "RightForeArm", "left_wrist": "LeftHand", "right_wrist": "RightHand",
}
MIXAMO_PREFIX = "mixamorig:"


def mixamo_map() -> dict[str, str]:
    return {j: MIXAMO_PREFIX + b for j, b in MIXAMO_NAMES.items()}


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def build_mixamo_rig(
    a_pose_deg: float = 0.0, scale: float = 1.0, limb_scale: float = 1.0, name: str = "Char",
    drop: tuple[str, ...] = (),
) -> object:
    """A Mixamo-named armature built from SMPL-like joints: other proportions (overall
    ``scale``, arms/legs ``limb_scale``), arms lowered by ``a_pose_deg`` (A-pose), bone rolls
    that differ from the SMPL rig's, object moved away from the origin; ``drop`` omits bones."""
    from glot_blender.core.smpl_skeleton import JOINT_NAMES, PARENTS

    joints = _rebuild_chain(limb_scale, scale)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pivot = joints[JOINT_NAMES.index(f"{side}_shoulder")]
        rot = _rot_y(sign * a_pose_deg)
        for part in ("shoulder", "elbow", "wrist", "hand"):
            j = JOINT_NAMES.index(f"{side}_{part}")
            joints[j] = pivot + rot @ (joints[j] - pivot)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = (1.5, -2.0, 0.1)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    children = {p: j for j, p in reversed(list(enumerate(PARENTS)))}
    children[0], children[9] = 3, 12
    for j, joint in enumerate(JOINT_NAMES):
        if joint not in MIXAMO_NAMES or joint in drop:
            continue
        bone = data.edit_bones.new(MIXAMO_PREFIX + MIXAMO_NAMES[joint])
        bone.head = joints[j].tolist()
        kid = children.get(j)
        tail = joints[kid] if kid is not None else joints[j] + 0.5 * (joints[j] - joints[PARENTS[j]])
        bone.tail = tail.tolist()
        bone.roll = 0.3 * j
        p = PARENTS[j]
        if p >= 0 and JOINT_NAMES[p] not in drop:
            bone.parent = data.edit_bones[MIXAMO_PREFIX + MIXAMO_NAMES[JOINT_NAMES[p]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _rebuild_chain(limb_scale: float, scale: float) -> np.ndarray:
    """Joints from scaled segments, parents first, so every limb keeps its children attached."""
    from glot_blender.blender.armature import smpl_rest_in_blender
    from glot_blender.core.smpl_skeleton import JOINT_NAMES, PARENTS

    src = smpl_rest_in_blender(DEFAULT_REST_JOINTS)
    out = src * scale
    for j in range(1, 24):
        p = PARENTS[j]
        k = scale if JOINT_NAMES[j] in ("spine1", "spine2", "spine3", "neck", "head") else scale * limb_scale
        out[j] = out[p] + (src[j] - src[p]) * k
    return out


def box_body(armature_obj: object) -> object:
    """A skinned test mesh for an SMPL armature: one small box around each bone's head,
    rigidly weighted to that bone (24 vertex groups)."""
    from glot_blender.blender.armature import create_skinned_mesh
    from glot_blender.core.smpl_skeleton import JOINT_NAMES

    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * 0.03
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    verts, faces = [], []
    weights = np.zeros((24 * 8, 24))
    for j, name in enumerate(JOINT_NAMES):
        head = np.array(tuple(armature_obj.data.bones[name].head_local))
        verts.append(head + corners)
        faces.extend([(a + 8 * j, b + 8 * j, c + 8 * j) for a, b, c in tris])
        weights[8 * j:8 * j + 8, j] = 1.0
    return create_skinned_mesh(
        armature_obj, np.concatenate(verts), np.array(faces), weights, JOINT_NAMES, "Body"
    )


def evaluated_vertices(obj: object) -> np.ndarray:
    """(V, 3) world positions of a mesh's vertices after modifiers at the current frame."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    mw = np.array(ev.matrix_world)
    return co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
