"""Put several people of a motion clip onto armatures in one go, all or nothing.

New SMPL rigs (one per person, tagged with the clip and person so Re-apply finds them
again, optionally with a skinned body mesh) or one existing armature through a bone map.
Each person goes on with :func:`.apply.apply_track` (which smooths and locks feet); a
failure part-way removes the rigs, meshes and actions made so far and gives every armature
its previous action back.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..core import bone_maps
from ..core.motion_clip import MotionClip, MotionClipError, read_clip
from ..core.smoothing import SmoothingOptions
from .apply import ApplyOptions, apply_track
from .armature import CLIP_PROP, TRACK_ID_PROP, create_smpl_armature, create_smpl_mesh
from .errors import AnimError
from .rig_profile import detect_bone_map


@dataclass(frozen=True)
class ApplyRequest:
    """Put people of the clip at ``clip_path`` onto armatures.

    target: "NEW_SMPL" (one SMPL rig per person, reused by a re-apply) or "ARMATURE" (the
    armature named ``armature`` through ``bone_map``: (SMPL joint, target bone) pairs, ''
    bone = unmapped); smoothing 0..1 (0 = off); frame_offset added to every key's frame
    (0: the first analysed frame lands on scene frame 1); smpl_pickle: an SMPL model file
    to give each new SMPL rig a skinned body mesh ('' = rigs only).
    """

    clip_path: str
    track_ids: tuple[int, ...]
    target: str = "NEW_SMPL"
    armature: str = ""
    bone_map: tuple[tuple[str, str], ...] = ()
    smoothing: float = 0.5
    foot_lock: bool = False
    root_motion: bool = True
    root_placement: str = "origin"
    frame_offset: int = 0
    smpl_pickle: str = ""


def apply_options(request: ApplyRequest, bone_map: dict[str, str | list[str]] | None) -> ApplyOptions:
    """The :class:`ApplyOptions` of a request: smoothing, then foot lock, run by apply_track."""
    smoothing = SmoothingOptions(strength=request.smoothing) if request.smoothing > 0 else None
    return ApplyOptions(
        bone_map=bone_map,
        root_motion=request.root_motion,
        root_placement=request.root_placement,
        frame_offset=request.frame_offset,
        smoothing=smoothing,
        foot_lock=request.foot_lock,
    )


def rigs_of_clip(scene: bpy.types.Scene, clip_path: str) -> dict[int, bpy.types.Object]:
    """SMPL rigs made by earlier applies of this clip, by person id."""
    rigs = {}
    for obj in scene.objects:
        if obj.type == "ARMATURE" and obj.get(CLIP_PROP) == clip_path and TRACK_ID_PROP in obj:
            rigs[int(obj[TRACK_ID_PROP])] = obj
    return rigs


def auto_bone_map(armature: bpy.types.Object) -> dict[str, str | list[str]]:
    """The detected preset's map (or the name-pattern map) when the user filled none."""
    return dict(detect_bone_map(armature))


def bone_map_from_pairs(pairs: tuple[tuple[str, str], ...]) -> dict[str, str | list[str]]:
    """The UI list's (joint, text) pairs as a bone map (a "a, b" text is a chain)."""
    out: dict[str, str | list[str]] = {}
    for joint, text in pairs:
        bones = bone_maps.split_bones(text)
        if bones:
            out[joint] = bones[0] if len(bones) == 1 else list(bones)
    return out


@dataclass
class _Applied:
    obj: bpy.types.Object
    created: bool
    previous_action: bpy.types.Action | None
    new_action: bpy.types.Action | None = None
    mesh: bpy.types.Object | None = None


def _rollback(done: list[_Applied]) -> None:
    for item in reversed(done):
        if item.mesh is not None:
            mesh_data = item.mesh.data
            bpy.data.objects.remove(item.mesh)
            if mesh_data.users == 0:
                bpy.data.meshes.remove(mesh_data)
        if item.created:
            data = item.obj.data
            bpy.data.objects.remove(item.obj)
            if data.users == 0:
                bpy.data.armatures.remove(data)
        elif item.obj.animation_data is not None:
            item.obj.animation_data.action = item.previous_action
        if item.new_action is not None and item.new_action.users == 0:
            bpy.data.actions.remove(item.new_action)


def _body_mesh(armature: bpy.types.Object, smpl_pickle: str, betas: np.ndarray) -> bpy.types.Object:
    """The skinned SMPL body for a new rig (mean shape of the track)."""
    try:
        return create_smpl_mesh(
            armature, smpl_pickle, betas.mean(axis=0), name=f"{armature.name} body"
        )
    except (OSError, ValueError, KeyError) as exc:
        raise AnimError(
            f"The SMPL model file {smpl_pickle} cannot be used ({exc}); replace it with the "
            "official file or untick Body Mesh"
        ) from exc


def _read(path: str) -> MotionClip:
    try:
        return read_clip(path)
    except MotionClipError as exc:
        raise AnimError(f"Cannot read the motion clip ({exc}); analyse the video again") from exc


def _targets(
    scene: bpy.types.Scene, request: ApplyRequest, reuse_rigs: bool
) -> list[tuple[int, bpy.types.Object | None]]:
    """(person, armature) pairs; None: a new SMPL rig is made for that person."""
    if request.target == "ARMATURE":
        obj = scene.objects.get(request.armature)
        if obj is None or obj.type != "ARMATURE":
            raise AnimError(
                f"'{request.armature}' is not an armature of this scene: pick another target"
            )
        return [(request.track_ids[0], obj)]
    rigs = rigs_of_clip(scene, request.clip_path) if reuse_rigs else {}
    targets = [(i, rigs.get(i)) for i in request.track_ids]
    if reuse_rigs and not any(obj for _i, obj in targets):
        raise AnimError("No rig made from this clip is in the scene: press Apply first")
    return targets


def _new_rig(scene: bpy.types.Scene, clip: MotionClip, track_id: int, request: ApplyRequest,
             done: list[_Applied]) -> _Applied:
    obj = create_smpl_armature(
        clip.track(track_id).rest_joints, name=f"SMPL person {track_id}", collection=scene.collection
    )
    obj[TRACK_ID_PROP] = track_id
    obj[CLIP_PROP] = request.clip_path
    item = _Applied(obj, True, None)
    done.append(item)
    if request.smpl_pickle:
        item.mesh = _body_mesh(obj, request.smpl_pickle, clip.track(track_id).betas)
    return item


def apply_motion(
    scene: bpy.types.Scene, request: ApplyRequest, reuse_rigs: bool = False
) -> list[bpy.types.Object]:
    """Apply each requested person; all or nothing (a failure removes what was made and
    raises :class:`AnimError`).

    reuse_rigs: put the motion again on the SMPL rigs made earlier for these people
    (Re-apply); actions they leave without users are removed.
    """
    clip = _read(request.clip_path)
    missing = [i for i in request.track_ids if i not in clip.track_ids]
    if missing:
        raise AnimError(f"The motion clip has no person {missing[0]}; load the clip again")
    targets = _targets(scene, request, reuse_rigs)
    bone_map = None
    if request.target == "ARMATURE":
        bone_map = bone_map_from_pairs(request.bone_map) or auto_bone_map(targets[0][1])
    options = apply_options(request, bone_map)
    done: list[_Applied] = []
    try:
        for track_id, obj in targets:
            if obj is None:
                if reuse_rigs:
                    continue
                item = _new_rig(scene, clip, track_id, request, done)
            else:
                anim = obj.animation_data
                item = _Applied(obj, False, anim.action if anim is not None else None)
                done.append(item)
            item.new_action = apply_track(item.obj, clip, track_id, options, scene=scene)
    except Exception:
        _rollback(done)
        raise
    for item in done:
        old = item.previous_action
        if old is not None and old is not item.new_action and old.users == 0:
            bpy.data.actions.remove(old)
    return [item.obj for item in done]
