"""Put several people of a motion clip onto armatures in one go, all or nothing.

New SMPL rigs (one per person, each with a visible body: the SMPL mesh when the model file
is there, else the capsule stand-in of :mod:`.body`) or one existing armature through a
bone map. Every armature that receives motion remembers its clip, person, bone map and
placement (custom properties), so :func:`reapply_motion` puts new settings on all of them.
Each person goes on with :func:`.apply.apply_track` (which smooths and locks feet); the
scene's frame range is then set once, to the union of the people applied from the clip. A
failure part-way removes the rigs, meshes and actions made so far and gives every armature
its previous action and properties back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from ..core import bone_maps
from ..core.motion_clip import MotionClip, MotionClipError, read_clip
from ..core.smoothing import SmoothingOptions
from .apply import ApplyOptions, apply_track
from .armature import CLIP_PROP, TRACK_ID_PROP, create_smpl_armature, create_smpl_mesh
from .body import BODY_PROP, BODY_SMPL, BODY_STAND_IN, create_stand_in_body
from .errors import AnimError
from .rig_profile import detect_bone_map

#: custom properties of an armature that received motion, besides person and clip: the
#: target kind ("NEW_SMPL" | "ARMATURE"), the bone map it was given (JSON pairs, '' =
#: detected) and its root placement
TARGET_PROP = "glot_target"
BONE_MAP_PROP = "glot_bone_map"
PLACEMENT_PROP = "glot_placement"
RIG_PROPS = (TRACK_ID_PROP, CLIP_PROP, TARGET_PROP, BONE_MAP_PROP, PLACEMENT_PROP)


@dataclass(frozen=True)
class ApplyRequest:
    """Put people of the clip at ``clip_path`` onto armatures.

    target: "NEW_SMPL" (one SMPL rig per person, reused by a re-apply) or "ARMATURE" (the
    armature named ``armature`` through ``bone_map``: (SMPL joint, target bone) pairs, ''
    bone = unmapped); smoothing 0..1 (0 = off); frame_offset added to every key's frame
    (0: the first analysed frame lands on scene frame 1); body_mesh: give each new SMPL rig
    a body: the skinned SMPL mesh from ``smpl_pickle`` (an SMPL model file), or, when that
    is '', the capsule stand-in (:mod:`.body`).
    """

    clip_path: str
    track_ids: tuple[int, ...]
    target: str = "NEW_SMPL"
    armature: str = ""
    bone_map: tuple[tuple[str, str], ...] = ()
    smoothing: float = 0.5
    foot_lock: bool = False
    root_motion: bool = True
    root_placement: str = "camera"
    frame_offset: int = 0
    smpl_pickle: str = ""
    body_mesh: bool = True


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
        set_scene_range=False,  # once, for all people: set_union_range
    )


def rigs_of_clip(scene: bpy.types.Scene, clip_path: str) -> list[bpy.types.Object]:
    """Armatures of the scene that received motion from this clip (new SMPL rigs and
    existing armatures alike), in the scene's order."""
    return [
        obj for obj in scene.objects
        if obj.type == "ARMATURE" and obj.get(CLIP_PROP) == clip_path and TRACK_ID_PROP in obj
    ]


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
    """One armature touched by an apply: what to put back if a later person fails."""

    obj: bpy.types.Object
    created: bool
    previous_action: bpy.types.Action | None
    previous_props: dict[str, Any] = field(default_factory=dict)
    new_action: bpy.types.Action | None = None
    mesh: bpy.types.Object | None = None


def _remove_mesh(mesh_obj: bpy.types.Object) -> None:
    data = mesh_obj.data
    materials = [m for m in data.materials if m is not None]
    bpy.data.objects.remove(mesh_obj)
    if data.users == 0:
        bpy.data.meshes.remove(data)
    for material in materials:
        if material.users == 0:
            bpy.data.materials.remove(material)


def _rollback(done: list[_Applied]) -> None:
    for item in reversed(done):
        if item.mesh is not None:
            _remove_mesh(item.mesh)
        if item.created:
            data = item.obj.data
            bpy.data.objects.remove(item.obj)
            if data.users == 0:
                bpy.data.armatures.remove(data)
        else:
            if item.obj.animation_data is not None:
                item.obj.animation_data.action = item.previous_action
            for key in RIG_PROPS:
                if key in item.previous_props:
                    item.obj[key] = item.previous_props[key]
                elif key in item.obj:
                    del item.obj[key]
        if item.new_action is not None and item.new_action.users == 0:
            bpy.data.actions.remove(item.new_action)


def _body_mesh(armature: bpy.types.Object, request: ApplyRequest, betas: np.ndarray) -> bpy.types.Object:
    """The new rig's body: the SMPL mesh (mean shape of the track) or the stand-in."""
    name = f"{armature.name} body"
    if not request.smpl_pickle:
        body = create_stand_in_body(armature, name)
        armature[BODY_PROP] = BODY_STAND_IN
        return body
    try:
        body = create_smpl_mesh(armature, request.smpl_pickle, betas.mean(axis=0), name=name)
    except (OSError, ValueError, KeyError) as exc:
        raise AnimError(
            f"The SMPL model file {request.smpl_pickle} cannot be used ({exc}); replace it with "
            "the official file or untick Body Mesh"
        ) from exc
    armature[BODY_PROP] = BODY_SMPL
    return body


def _read(path: str) -> MotionClip:
    try:
        return read_clip(path)
    except MotionClipError as exc:
        raise AnimError(f"Cannot read the motion clip ({exc}); analyse the video again") from exc


def _remember(obj: bpy.types.Object, track_id: int, request: ApplyRequest, target: str,
              bone_map: str) -> None:
    """Tag the armature with what a Re-apply needs: person, clip, target kind, bone map."""
    obj[TRACK_ID_PROP] = track_id
    obj[CLIP_PROP] = request.clip_path
    obj[TARGET_PROP] = target
    obj[BONE_MAP_PROP] = bone_map
    obj[PLACEMENT_PROP] = request.root_placement if request.root_motion else "in_place"


def _new_rig(scene: bpy.types.Scene, clip: MotionClip, track_id: int, request: ApplyRequest,
             done: list[_Applied]) -> _Applied:
    obj = create_smpl_armature(
        clip.track(track_id).rest_joints, name=f"SMPL person {track_id}", collection=scene.collection
    )
    _remember(obj, track_id, request, "NEW_SMPL", "")
    item = _Applied(obj, True, None)
    done.append(item)
    if request.body_mesh:
        item.mesh = _body_mesh(obj, request, clip.track(track_id).betas)
    return item


def _existing(obj: bpy.types.Object, done: list[_Applied]) -> _Applied:
    anim = obj.animation_data
    props = {k: obj[k] for k in RIG_PROPS if k in obj}
    item = _Applied(obj, False, anim.action if anim is not None else None, props)
    done.append(item)
    return item


def _check_people(clip: MotionClip, track_ids: list[int] | tuple[int, ...]) -> None:
    missing = [i for i in track_ids if i not in clip.track_ids]
    if missing:
        raise AnimError(f"The motion clip has no person {missing[0]}; load the clip again")


def _finish(scene: bpy.types.Scene, request: ApplyRequest, done: list[_Applied]) -> None:
    """After every person went on: drop replaced actions nobody uses, set the frame range."""
    for item in done:
        old = item.previous_action
        if old is not None and old is not item.new_action and old.users == 0:
            bpy.data.actions.remove(old)
    set_union_range(scene, rigs_of_clip(scene, request.clip_path))


def set_union_range(scene: bpy.types.Scene, armatures: list[bpy.types.Object]) -> None:
    """Scene frame range = the union of the armatures' action ranges (unchanged if none)."""
    ranges = [o.animation_data.action.frame_range for o in armatures
              if o.animation_data is not None and o.animation_data.action is not None]
    if ranges:
        scene.frame_start = int(np.floor(min(r[0] for r in ranges)))
        scene.frame_end = int(np.ceil(max(r[1] for r in ranges)))


def apply_motion(scene: bpy.types.Scene, request: ApplyRequest) -> list[bpy.types.Object]:
    """Apply each requested person (new SMPL rigs, or the one chosen armature); all or
    nothing (a failure removes what was made and raises :class:`AnimError`)."""
    clip = _read(request.clip_path)
    _check_people(clip, request.track_ids)
    target = None
    if request.target == "ARMATURE":
        target = scene.objects.get(request.armature)
        if target is None or target.type != "ARMATURE":
            raise AnimError(
                f"'{request.armature}' is not an armature of this scene: pick another target"
            )
    done: list[_Applied] = []
    try:
        for track_id in request.track_ids:
            if target is None:
                item = _new_rig(scene, clip, track_id, request, done)
                bone_map = None
            else:
                bone_map = bone_map_from_pairs(request.bone_map) or auto_bone_map(target)
                item = _existing(target, done)
                _remember(target, track_id, request, "ARMATURE", json.dumps(request.bone_map))
            options = apply_options(request, bone_map)
            item.new_action = apply_track(item.obj, clip, track_id, options, scene=scene)
    except Exception:
        _rollback(done)
        raise
    _finish(scene, request, done)
    return [item.obj for item in done]


def reapply_motion(
    scene: bpy.types.Scene, request: ApplyRequest, rigs: list[bpy.types.Object] | None = None
) -> list[bpy.types.Object]:
    """Apply the clip again, with the request's smoothing, foot lock, root motion, placement
    and offset, to EVERY armature that received motion from it (or to ``rigs`` of them);
    each keeps its person and bone map; all or nothing. ``request.track_ids`` and target
    are not used."""
    clip = _read(request.clip_path)
    rigs = rigs_of_clip(scene, request.clip_path) if rigs is None else rigs
    if not rigs:
        raise AnimError("No rig made from this clip is in the scene: press Apply first")
    _check_people(clip, [int(o[TRACK_ID_PROP]) for o in rigs])
    done: list[_Applied] = []
    try:
        for obj in rigs:
            track_id = int(obj[TRACK_ID_PROP])
            target = str(obj.get(TARGET_PROP, "NEW_SMPL"))
            stored = str(obj.get(BONE_MAP_PROP) or "")
            bone_map = None
            if target == "ARMATURE":
                pairs = tuple(tuple(p) for p in json.loads(stored or "[]"))
                bone_map = bone_map_from_pairs(pairs) or auto_bone_map(obj)
            item = _existing(obj, done)
            _remember(obj, track_id, request, target, stored)
            item.new_action = apply_track(obj, clip, track_id, apply_options(request, bone_map),
                                          scene=scene)
    except Exception:
        _rollback(done)
        raise
    _finish(scene, request, done)
    return [item.obj for item in done]


def place_as_filmed(scene: bpy.types.Scene, request: ApplyRequest,
                    placement: str = "camera") -> list[bpy.types.Object]:
    """Re-apply the clip's rigs placed "At Origin" with the "camera" placement, where the
    video camera (Set Up Camera) sees them; rigs in place (root motion off) or already as
    filmed are left alone. With ``placement`` "world" (a camera flying the solved path) the
    rigs placed "At Origin" or "As Filmed" go to the world instead. Returns the rigs moved
    (all or nothing)."""
    moving = ("origin", "camera") if placement == "world" else ("origin",)
    rigs = [o for o in rigs_of_clip(scene, request.clip_path) if o.get(PLACEMENT_PROP) in moving]
    if not rigs:
        return []
    as_filmed = dataclasses.replace(request, root_motion=True, root_placement=placement)
    return reapply_motion(scene, as_filmed, rigs)
