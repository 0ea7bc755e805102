"""Put one person's SMPL motion from a motion clip onto an armature, as one new action.

Works for the SMPL armature made by :mod:`.armature` and for any other armature through a
bone map (SMPL joint name -> target bone name, or a list of bones for a chain). The math is
:func:`glot_blender.core.retarget.retarget` (world space, rest-pose correction, chains,
root displacement scaled by leg length); this module reads the armature, validates the map,
writes the keys and keeps the scene unchanged on failure.

Rigs whose deform bones follow controls through constraints (Rigify, detected by
:mod:`.rig_profile`) are measured on the evaluated armature (:mod:`.evaluated`), their
preset's properties are set and keyed (Rigify: limbs to FK, neck and head follow), and after
writing the deform bones are evaluated and compared with SMPL (:mod:`.verify`): the achieved
error per body group goes into the armature's ``glot_retarget_check`` property.

Validate first, then write: a bad bone map or track, or a key that would be NaN or infinite,
raises :class:`AnimError` before anything changes, and an error while writing removes what was
created. Bones the armature's previous action keyed but the new one does not (a smaller bone
map on re-apply), and bones whose pose holds a non-finite value, are put back to rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core import bone_maps
from ..core.foot_contact import FootContactOptions, lock_track_feet
from ..core.motion_clip import MotionClip, TrackMotion
from ..core.retarget import (
    RetargetError,
    RetargetOptions,
    RetargetResult,
    SourceMotion,
    TargetSkeleton,
    normalize_bone_map,
    retarget,
)
from ..core.smoothing import SmoothingOptions, smooth_track
from ..core.smpl_skeleton import JOINT_NAMES
from ..core.world_frame import WorldMotionError, world_as_camera_track
from .armature import smpl_rest_in_blender, target_skeleton
from .errors import AnimError, MissingBonesError
from .evaluated import is_evaluated, measure_skeleton, needs_measurement
from .keyframes import ChannelKeys, action_name, new_action_with_keys, set_scene_fps
from .pose import PoseSnapshot, reset_to_rest, stale_bones
from .rig_profile import RigProfile, detect_bone_map, rig_profile
from .verify import CHECK_PROP, RetargetCheck, check_retarget

#: SMPL joints a target armature must have for motion to make sense
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
)
#: root placement when root motion is on: "origin" (starts at the rig's rest position),
#: "camera" (pelvis where the video shows it, the camera at the world origin) or "world"
#: (the clip's world motion: everyone on one floor, z = 0; clips with a camera solve)
ROOT_PLACEMENTS = ("origin", "camera", "world")

BoneMap = Mapping[str, "str | Sequence[str]"]


@dataclass(frozen=True)
class ApplyOptions:
    """How a track goes onto an armature.

    bone_map: SMPL joint -> target bone name (or list of bones for a chain).
    preset: a rig preset key ("mixamo") or preset file path (rigs/, core.bone_maps), used
    when bone_map is None. With neither: the SMPL joint names when the armature has them
    (rigs made by :func:`.armature.create_smpl_armature`), else the best-fitting preset,
    else name-pattern auto-mapping.
    root_motion: keep the horizontal trajectory (off: in place, vertical motion kept).
    root_placement: "origin" (motion starts at the rig's rest position), "camera" (as seen
    from the video camera, which sits at the world origin looking along +y) or "world" (the
    clip's world motion, core.world_frame: everyone on the clip's floor at z = 0).
    frame_offset: added to every key's frame (the clip's first analysed frame is frame 1).
    smoothing: core smoothing run on the raw track first (the clip itself is never changed,
    so it can be re-applied with other settings).
    foot_lock: remove planted-foot sliding by adjusting the root (core.foot_contact), after
    smoothing; foot_contact tunes the contact detection.
    set_scene_fps / set_scene_range: match the scene's frame rate and range to the clip.
    rig_rules: use what the armature's preset says beyond the map (Rigify: limbs to FK,
    neck/head follow, the hips FK control, deform bones for the rest correction).
    verify: evaluate the deform bones afterwards and store the achieved error (not for SMPL
    rigs, which take SMPL's rotations as they are, nor for an armature Blender does not
    evaluate: disabled in the viewport or in an excluded collection).
    """

    bone_map: BoneMap | None = None
    preset: str | Path | None = None
    root_motion: bool = True
    root_placement: str = "origin"
    frame_offset: int = 0
    smoothing: SmoothingOptions | None = None
    foot_lock: bool = False
    foot_contact: FootContactOptions | None = None
    set_scene_fps: bool = True
    set_scene_range: bool = True
    interpolation: str = "LINEAR"
    required_joints: tuple[str, ...] = REQUIRED_JOINTS
    rig_rules: bool = True
    verify: bool = True

    def __post_init__(self) -> None:
        if self.root_placement not in ROOT_PLACEMENTS:
            raise AnimError(
                f"root placement '{self.root_placement}' is not one of {ROOT_PLACEMENTS}"
            )

    @property
    def retarget_mode(self) -> str:
        """World motion is retargeted as camera-frame motion of a camera at the origin."""
        if not self.root_motion:
            return "in_place"
        return "camera" if self.root_placement == "world" else self.root_placement


def is_smpl_rig(armature_obj: Any) -> bool:
    """Every bone of the SMPL skeleton, named like its joint (rigs made by
    :func:`.armature.create_smpl_armature`; UE5's lone ``pelvis`` does not count)."""
    bones = armature_obj.data.bones
    return all(j in bones for j in JOINT_NAMES)


def smpl_bone_map(armature_obj: Any) -> dict[str, str]:
    """Identity map for armatures whose bones carry the SMPL joint names."""
    bones = armature_obj.data.bones
    return {j: j for j in JOINT_NAMES if j in bones}


def choose_bone_map(armature_obj: Any, options: ApplyOptions) -> dict[str, Any]:
    """The bone map to use (see :class:`ApplyOptions`); a bad preset raises AnimError."""
    if options.bone_map is not None:
        return dict(options.bone_map)
    names = [b.name for b in armature_obj.data.bones]
    try:
        if options.preset is not None:
            preset = bone_maps.load_preset(options.preset)
            # the preset's own names where the armature lacks a bone, so errors name them
            return {**preset.mapping, **bone_maps.resolve(preset, names)}
        if is_smpl_rig(armature_obj):
            return smpl_bone_map(armature_obj)
        return dict(detect_bone_map(armature_obj))
    except bone_maps.PresetError as exc:
        raise AnimError(str(exc)) from exc


def validated_bone_map(
    armature_obj: Any, skeleton: TargetSkeleton, bone_map: BoneMap,
    required: tuple[str, ...],
) -> dict[str, tuple[str, ...]]:
    """The map restricted to existing bones; :class:`MissingBonesError` names every required
    bone the armature lacks, :class:`AnimError` a malformed map."""
    raw = dict(bone_map)
    try:
        mapping = normalize_bone_map(raw)
    except RetargetError as exc:
        raise AnimError(str(exc)) from exc
    present = set(skeleton.names)
    unmapped = [j for j in required if j not in mapping]
    missing = [b for j in required for b in mapping.get(j, ()) if b not in present]
    if missing or unmapped:
        raise MissingBonesError(armature_obj.name, missing, unmapped)
    kept = {j: tuple(b for b in bones if b in present) for j, bones in mapping.items()}
    return {j: bones for j, bones in kept.items() if bones}


def clip_frames(clip: MotionClip, track: TrackMotion, frame_offset: int) -> np.ndarray:
    """Blender frame of each row of ``track``: the clip's first analysed frame is frame 1."""
    step = max(int(clip.frame_step), 1)
    return (track.frame_ids - int(clip.start_frame)) / step + 1 + int(frame_offset)


def source_motion(track: TrackMotion) -> SourceMotion:
    """The track in Blender's world, its rest standing on z = 0 like the SMPL rig's."""
    src = SourceMotion.from_smpl(track.poses, track.transl, track.rest_joints)
    return SourceMotion(smpl_rest_in_blender(track.rest_joints), src.deltas, src.root)


def _data_path(bone: str, prop: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


def bone_keys(result: RetargetResult) -> list[ChannelKeys]:
    """Quaternion keys of driven bones and location keys of the root bone."""
    keys = [ChannelKeys(_data_path(result.root_bone, "location"), result.root_location,
                        result.root_bone)]
    for b in np.nonzero(result.animated)[0]:
        name = result.bone_names[b]
        keys.append(ChannelKeys(_data_path(name, "rotation_quaternion"),
                                result.quaternions[:, b], name))
    return keys


def check_finite(armature_obj: Any, keys: Sequence[ChannelKeys]) -> None:
    """Refuse (AnimError naming the bone) when any key value is NaN or infinite."""
    for ck in keys:
        if not np.all(np.isfinite(np.asarray(ck.values, dtype=np.float64))):
            raise AnimError(
                f"armature '{armature_obj.name}': the motion for bone '{ck.group}' is not finite "
                "(NaN or infinite), so nothing was written; check that bone's rest pose and the map")


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
    pose: PoseSnapshot | None = None
    check: str | None = None


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
    if undo.pose is not None:
        undo.pose.restore()
    if undo.check is not None:
        obj[CHECK_PROP] = undo.check


@dataclass
class Retargeted:
    """What apply_track computes before touching the scene."""

    track: TrackMotion
    source: SourceMotion
    skeleton: TargetSkeleton
    bone_map: dict[str, tuple[str, ...]]
    result: RetargetResult
    profile: RigProfile
    notes: list[str]


def _skeleton(armature_obj: Any, bone_map: Mapping[str, Sequence[str]],
              profile: RigProfile) -> tuple[TargetSkeleton, list[str]]:
    """The plain skeleton, or for a constraint-driven rig the evaluated one, measured with
    the profile's properties set (and put back: the scene is unchanged)."""
    if is_smpl_rig(armature_obj) or not needs_measurement(armature_obj):
        return target_skeleton(armature_obj), []
    target_skeleton(armature_obj)  # the same checks (edit mode, no bones) first
    if not is_evaluated(armature_obj):
        raise AnimError(
            f"armature '{armature_obj.name}' is disabled in the viewport or its collection is "
            "excluded, so Blender does not evaluate its constraints: enable it and apply again")
    driven = [b for bones in bone_map.values() for b in bones] + list(profile.extra_bones)
    saved = PoseSnapshot.take(armature_obj, props=profile.property_targets(armature_obj))
    try:
        profile.switch(armature_obj)
        measured = measure_skeleton(armature_obj, driven, profile.deform_bones)
    finally:
        saved.restore()
    return measured.skeleton, measured.notes


def prepare_track(
    armature_obj: Any, clip: MotionClip, track_id: int, options: ApplyOptions
) -> Retargeted:
    """Everything apply_track computes before touching the scene (raises AnimError)."""
    if not clip.tracks:
        raise AnimError("the motion clip has no people in it: analyse a video where someone is seen")
    try:
        track = clip.track(track_id)
    except KeyError as exc:
        raise AnimError(f"the motion clip has no person {track_id}; it has {clip.track_ids}") from exc
    if options.root_placement == "world":
        try:
            track = world_as_camera_track(track)
        except WorldMotionError as exc:
            raise AnimError(str(exc)) from exc
    plain = target_skeleton(armature_obj)
    bone_map = validated_bone_map(armature_obj, plain, choose_bone_map(armature_obj, options),
                                  options.required_joints)
    profile = rig_profile(armature_obj, options.preset) if options.rig_rules else RigProfile()
    skeleton, notes = _skeleton(armature_obj, bone_map, profile)
    if options.smoothing is not None:
        track = smooth_track(track, clip.fps, options.smoothing)
    if options.foot_lock:
        track, _contacts = lock_track_feet(track, clip.fps, options.foot_contact)
    source = source_motion(track)
    extra = {b: j for b, j in profile.extra_bones.items()
             if not any(b in bones for bones in bone_map.values())}
    try:
        result = retarget(source, skeleton, bone_map,
                          RetargetOptions(root_motion=options.retarget_mode), extra_bones=extra)
    except RetargetError as exc:
        raise AnimError(f"armature '{armature_obj.name}': {exc}") from exc
    return Retargeted(track, source, skeleton, bone_map, result, profile, notes)


def retarget_track(
    armature_obj: Any, clip: MotionClip, track_id: int, options: ApplyOptions
) -> tuple[TrackMotion, RetargetResult]:
    """The (possibly smoothed) track and its retargeted motion; see :func:`prepare_track`."""
    done = prepare_track(armature_obj, clip, track_id, options)
    return done.track, done.result


def apply_track(
    armature_obj: Any,
    clip: MotionClip,
    track_id: int,
    options: ApplyOptions | None = None,
    scene: Any = None,
) -> Any:
    """Write person ``track_id`` of ``clip`` onto ``armature_obj`` as a NEW action named
    ``'GLoT <video stem> P<id>'`` and return it. Other actions and NLA tracks are untouched.

    Raises :class:`AnimError` (scene unchanged) for a clip without that person, an armature
    lacking required bones, a malformed bone map, or motion that would not be finite.
    """
    options = options or ApplyOptions()
    scene = scene or bpy.context.scene
    done = prepare_track(armature_obj, clip, track_id, options)
    result, track = done.result, done.track
    frames = clip_frames(clip, track, options.frame_offset)
    keys = bone_keys(result) + done.profile.keys(armature_obj, len(frames))
    check_finite(armature_obj, keys)
    name = action_name(clip.source_name, track.track_id)
    driven = [result.bone_names[b] for b in np.nonzero(result.animated)[0]]
    stale = stale_bones(armature_obj, {ck.group for ck in keys})
    undo = _snapshot(armature_obj, scene)
    undo.pose = PoseSnapshot.take(armature_obj, stale,
                                  props=done.profile.property_targets(armature_obj))
    undo.check = armature_obj.pop(CHECK_PROP, None)  # a check of the old motion would mislead
    action = None
    try:
        done.profile.switch(armature_obj)
        reset_to_rest(armature_obj, stale)
        for bone in driven:
            armature_obj.pose.bones[bone].rotation_mode = "QUATERNION"
        action = new_action_with_keys(armature_obj, name, frames, keys, options.interpolation)
        if options.set_scene_fps:
            set_scene_fps(scene, clip.fps)
        if options.set_scene_range:
            scene.frame_start = int(np.floor(frames.min()))
            scene.frame_end = int(np.ceil(frames.max()))
        if (options.verify and not is_smpl_rig(armature_obj)
                and is_evaluated(armature_obj) and scene == bpy.context.scene):
            armature_obj[CHECK_PROP] = verify_track(armature_obj, scene, done, frames).text()
        return action
    except Exception:
        _restore(undo, scene, action or _new_action_on(undo))
        raise


def verify_track(armature_obj: Any, scene: Any, done: Retargeted,
                 frames: np.ndarray) -> RetargetCheck:
    """Evaluate the applied motion and measure the deform bones' error (see :mod:`.verify`)."""
    check = check_retarget(armature_obj, scene, done.source, done.result, done.skeleton,
                           done.bone_map, frames, done.profile.deform_bones)
    check.notes.extend(done.notes)
    return check


def _new_action_on(undo: _Undo) -> Any | None:
    anim = undo.obj.animation_data
    if anim is not None and anim.action is not None and anim.action is not undo.action:
        return anim.action
    return None
