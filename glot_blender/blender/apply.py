"""Put one person's SMPL motion from a motion clip onto an armature, as one new action.

Works for the SMPL armature made by :mod:`.armature` and for any other armature through a
bone map (SMPL joint name -> target bone name). Retargeting is done in Blender's world with
rest-pose correction: each mapped bone is first turned from its own rest direction onto the
SMPL bone's rest direction, then gets the SMPL bone's world rotation change, so T-pose and
A-pose characters both follow the source bone directions. Unmapped bones stay at rest.

Validate first, then write: a bad bone map or track raises before anything changes, and an
error while writing removes what was created, so the scene is left as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from ..core.kinematics import CAMERA_TO_BLENDER, forward_kinematics, world_deltas_in_blender
from ..core.motion_clip import MotionClip, TrackMotion
from ..core.rotations import matrix_to_quaternion, quaternion_continuity, rotation_between
from ..core.smoothing import SmoothingOptions, smooth_track
from ..core.smpl_skeleton import JOINT_NAMES, PARENTS
from .armature import RestSkeleton, read_rest_skeleton, smpl_rest_in_blender, source_directions
from .errors import AnimError, MissingBonesError
from .keyframes import ChannelKeys, action_name, new_action_with_keys, set_scene_fps
from .posemath import basis_from_pose, compose

#: SMPL joints a target armature must have for motion to make sense
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
)
FOOT_JOINTS = (7, 8, 10, 11)
LEG_CHAINS = ((1, 4, 7), (2, 5, 8))
ROOT_JOINT = "pelvis"


@dataclass(frozen=True)
class ApplyOptions:
    """How a track goes onto an armature.

    bone_map: SMPL joint name -> target bone name (None: SMPL names when the armature has
    them); root_motion: keep the horizontal trajectory (off: the root stays above its first
    position, vertical motion kept); place_at_origin: first frame's pelvis above the world
    origin and the lowest foot of the clip on z = 0 (off: camera at the origin, as analysed);
    frame_offset: added to every key's frame (the clip's first analysed frame is frame 1);
    smoothing: core smoothing applied to the raw track first (re-appliable: the clip is
    never modified);
    set_scene_fps / set_scene_range: match the scene to the clip.
    """

    bone_map: Mapping[str, str] | None = None
    root_motion: bool = True
    place_at_origin: bool = True
    frame_offset: int = 0
    smoothing: SmoothingOptions | None = None
    set_scene_fps: bool = True
    set_scene_range: bool = True
    interpolation: str = "LINEAR"
    required_joints: tuple[str, ...] = REQUIRED_JOINTS
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetargetPlan:
    """A validated mapping: target bone index per mapped SMPL joint."""

    skeleton: RestSkeleton
    joint_to_bone: dict[int, int]

    @property
    def root_bone(self) -> int:
        return self.joint_to_bone[0]


def smpl_bone_map(armature_obj: object) -> dict[str, str]:
    """Identity map for armatures whose bones carry the SMPL joint names."""
    bones = armature_obj.data.bones
    return {j: j for j in JOINT_NAMES if j in bones}


def plan_retarget(
    armature_obj: object, bone_map: Mapping[str, str] | None, required: tuple[str, ...]
) -> RetargetPlan:
    """Check the armature against the map; raises :class:`MissingBonesError` naming bones."""
    skeleton = read_rest_skeleton(armature_obj)
    mapping = dict(bone_map) if bone_map is not None else smpl_bone_map(armature_obj)
    unknown = sorted(j for j in mapping if j not in JOINT_NAMES)
    if unknown:
        raise AnimError(f"the bone map names SMPL joints that do not exist: {', '.join(unknown)}")
    missing = [
        mapping.get(j, j) for j in required if mapping.get(j) not in skeleton.names
    ]
    if missing:
        raise MissingBonesError(armature_obj.name, missing)
    joint_to_bone = {
        JOINT_NAMES.index(j): skeleton.index(b)
        for j, b in mapping.items()
        if b in skeleton.names
    }
    if 0 not in joint_to_bone:
        raise MissingBonesError(armature_obj.name, [mapping.get(ROOT_JOINT, ROOT_JOINT)])
    return RetargetPlan(skeleton, joint_to_bone)


def clip_frames(clip: MotionClip, track: TrackMotion, frame_offset: int) -> np.ndarray:
    """Blender frame of each row of ``track``: the clip's first analysed frame is frame 1."""
    step = max(int(clip.frame_step), 1)
    return (track.frame_ids - int(clip.start_frame)) / step + 1 + int(frame_offset)


def source_motion(
    track: TrackMotion, options: ApplyOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World rotation changes (N,24,3,3) from SMPL rest, pelvis trajectory (N,3), feet z min.

    Everything in Blender's world (z up); the trajectory is the pelvis position per frame.
    """
    poses = np.asarray(track.poses, dtype=np.float64)
    transl = np.asarray(track.transl, dtype=np.float64)
    fk = forward_kinematics(track.rest_joints, poses, transl, PARENTS)
    world_rot = world_deltas_in_blender(fk.rotations)
    joints_world = fk.joints @ CAMERA_TO_BLENDER.T
    traj = joints_world[:, 0].copy()
    if options.place_at_origin:
        floor = joints_world[:, FOOT_JOINTS, 2].min()
        traj -= np.array([traj[0, 0], traj[0, 1], floor])
    if not options.root_motion:
        traj[:, :2] = traj[0, :2]
    return world_rot, traj, joints_world


def leg_scale(plan: RetargetPlan, src_rest: np.ndarray) -> float:
    """Target leg length / SMPL leg length (1 when the target's legs are not mapped)."""
    ratios = []
    for chain in LEG_CHAINS:
        if all(j in plan.joint_to_bone for j in chain):
            heads = plan.skeleton.heads[[plan.joint_to_bone[j] for j in chain]]
            tgt = np.linalg.norm(np.diff(heads, axis=0), axis=1).sum()
            src = np.linalg.norm(np.diff(src_rest[list(chain)], axis=0), axis=1).sum()
            ratios.append(tgt / src)
    return float(np.mean(ratios)) if ratios else 1.0


def target_pose(
    plan: RetargetPlan, world_rot: np.ndarray, traj: np.ndarray, rest_joints: np.ndarray
) -> np.ndarray:
    """Armature-space pose matrices (N, B, 4, 4) of every target bone."""
    sk = plan.skeleton
    src_rest = smpl_rest_in_blender(rest_joints)
    src_dir = source_directions(src_rest)
    scale = leg_scale(plan, src_rest)
    bone_to_joint = {b: j for j, b in plan.joint_to_bone.items()}
    n = world_rot.shape[0]
    pose = np.empty((n, len(sk.names), 4, 4))
    for b, p in enumerate(sk.parents):
        rest_b = sk.rest[b]
        chained = rest_b if p < 0 else pose[:, p] @ (np.linalg.inv(sk.rest[p]) @ rest_b)
        j = bone_to_joint.get(b)
        if j is None:
            pose[:, b] = chained
            continue
        correction = rotation_between(rest_b[:3, 1], src_dir[j])
        rot = world_rot[:, j] @ correction @ rest_b[:3, :3]
        head = chained[..., :3, 3] if chained.ndim == 3 else np.broadcast_to(chained[:3, 3], (n, 3))
        if b == plan.root_bone:
            head = sk.heads[b] + scale * (traj - src_rest[0])
        pose[:, b] = compose(rot, head)
    return pose


def _data_path(bone: str, prop: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


def bone_keys(plan: RetargetPlan, basis: np.ndarray) -> list[ChannelKeys]:
    """Quaternion keys for mapped bones (sign-continuous) and location keys for the root."""
    keys: list[ChannelKeys] = []
    for j in sorted(plan.joint_to_bone):
        b = plan.joint_to_bone[j]
        name = plan.skeleton.names[b]
        quat = quaternion_continuity(matrix_to_quaternion(basis[:, b, :3, :3]))
        if b == plan.root_bone:
            keys.append(ChannelKeys(_data_path(name, "location"), basis[:, b, :3, 3], name))
        keys.append(ChannelKeys(_data_path(name, "rotation_quaternion"), quat, name))
    return keys


@dataclass
class _Undo:
    """What apply_track changed, to put back on failure."""

    obj: Any
    had_anim: bool
    action: Any
    slot: Any
    modes: dict[str, str]
    fps: tuple[int, float]
    frame_range: tuple[int, int]


def _snapshot(obj: Any, scene: Any) -> _Undo:
    anim = obj.animation_data
    return _Undo(
        obj=obj,
        had_anim=anim is not None,
        action=anim.action if anim else None,
        slot=getattr(anim, "action_slot", None) if anim else None,
        modes={pb.name: pb.rotation_mode for pb in obj.pose.bones},
        fps=(scene.render.fps, scene.render.fps_base),
        frame_range=(scene.frame_start, scene.frame_end),
    )


def _restore(undo: _Undo, scene: Any, created_action: Any | None) -> None:
    obj = undo.obj
    if created_action is not None:
        bpy.data.actions.remove(created_action)
    if not undo.had_anim:
        obj.animation_data_clear()
    elif obj.animation_data is not None:
        obj.animation_data.action = undo.action
        if undo.slot is not None:
            obj.animation_data.action_slot = undo.slot
    for name, mode in undo.modes.items():
        obj.pose.bones[name].rotation_mode = mode
    scene.render.fps, scene.render.fps_base = undo.fps
    scene.frame_start, scene.frame_end = undo.frame_range


def apply_track(
    armature_obj: Any,
    clip: MotionClip,
    track_id: int,
    options: ApplyOptions | None = None,
    scene: Any = None,
) -> Any:
    """Write track ``track_id`` of ``clip`` onto ``armature_obj`` as a new action; returns it.

    Raises :class:`AnimError` (nothing changed) for a clip without that person or an armature
    lacking required bones.
    """
    options = options or ApplyOptions()
    scene = scene or bpy.context.scene
    if not clip.tracks:
        raise AnimError("the motion clip has no people in it: analyse a video where someone is seen")
    try:
        track = clip.track(track_id)
    except KeyError as exc:
        raise AnimError(f"the motion clip has no person {track_id}; it has {clip.track_ids}") from exc
    plan = plan_retarget(armature_obj, options.bone_map, options.required_joints)
    if options.smoothing is not None:
        track = smooth_track(track, clip.fps, options.smoothing)
    world_rot, traj, _ = source_motion(track, options)
    pose = target_pose(plan, world_rot, traj, track.rest_joints)
    basis = basis_from_pose(pose, plan.skeleton.rest, plan.skeleton.parents)
    keys = bone_keys(plan, basis)
    frames = clip_frames(clip, track, options.frame_offset)
    name = action_name(clip.source_name, track.track_id)
    return _write(armature_obj, plan, scene, frames, keys, name, clip.fps, options)


def _write(
    obj: Any,
    plan: RetargetPlan,
    scene: Any,
    frames: np.ndarray,
    keys: list[ChannelKeys],
    name: str,
    fps: float,
    options: ApplyOptions,
) -> Any:
    undo = _snapshot(obj, scene)
    action = None
    try:
        for b in plan.joint_to_bone.values():
            obj.pose.bones[plan.skeleton.names[b]].rotation_mode = "QUATERNION"
        action = new_action_with_keys(obj, name, frames, keys, options.interpolation)
        if options.set_scene_fps:
            set_scene_fps(scene, fps)
        if options.set_scene_range:
            scene.frame_start = int(np.floor(frames.min()))
            scene.frame_end = int(np.ceil(frames.max()))
        return action
    except Exception:
        _restore(undo, scene, action or _find_new_action(name, undo))
        raise


def _find_new_action(name: str, undo: _Undo) -> Any | None:
    anim = undo.obj.animation_data
    if anim is not None and anim.action is not None and anim.action is not undo.action:
        return anim.action
    return None

