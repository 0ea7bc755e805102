"""Put the analysed motion into the scene: apply / re-apply, bone map, camera."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import bpy

from ..blender.apply_clip import ApplyRequest, apply_motion, reapply_motion
from ..blender.body import BODY_SMPL, BODY_STAND_IN
from ..blender.camera import CameraRequest, setup_camera_as_filmed
from ..blender.verify import CHECK_PROP
from ..core.locations import SMPL_PICKLES, find_model_file
from ..core.motion_clip import MotionClip, MotionClipError, read_clip
from ..preferences import get_prefs, models_search_dirs
from ..session import no_analysis_running
from .analyze import video_path_of
from .reporting import TaskError, run_reported


def loaded_clip(scene: bpy.types.Scene) -> MotionClip:
    """The motion clip listed in the panel, read again from its file."""
    path = scene.glot.clip_path
    if not path:
        raise TaskError("No motion clip loaded: press Analyze or Load Clip first")
    try:
        return read_clip(path)
    except MotionClipError as exc:
        raise TaskError(
            f"Cannot read the loaded motion clip ({exc}); analyse the video again"
        ) from exc


def camera_request(context: bpy.types.Context) -> CameraRequest:
    """The loaded clip's video size and focal length; the panel's video as background."""
    clip = loaded_clip(context.scene)
    try:
        video = str(video_path_of(context))
    except TaskError:
        video = ""
    world = context.scene.glot.root_placement == "world" and clip.has_world
    return CameraRequest(
        width=clip.width,
        height=clip.height,
        focal_px=float(clip.focal_px),
        video=video,
        frame_offset=int(context.scene.glot.frame_offset),
        start_frame=int(clip.start_frame),
        trajectory=clip.camera if world else None,
    )


def _body_model(search_dirs: Sequence[Path]) -> str:
    """The SMPL model file (official names) in the models folders, '' when there is none."""
    return str(find_model_file(SMPL_PICKLES, search_dirs) or "")


def motion_request(context: bpy.types.Context) -> ApplyRequest:
    """The loaded clip and the panel's motion settings (smoothing, foot lock, root motion,
    placement, offset), without people or target: what Re-apply and Set Up Camera use."""
    settings = context.scene.glot
    if not settings.clip_path:
        raise TaskError("No motion clip loaded: press Analyze or Load Clip first")
    return ApplyRequest(
        clip_path=settings.clip_path,
        track_ids=(),
        smoothing=float(settings.smoothing),
        foot_lock=bool(settings.foot_lock),
        root_motion=bool(settings.root_motion),
        root_placement=settings.root_placement,
        frame_offset=int(settings.frame_offset),
    )


def apply_request(context: bpy.types.Context, search_dirs: Sequence[Path] = ()) -> ApplyRequest:
    """The panel's people, target and options; search_dirs: model folders where an SMPL
    file gives new rigs the SMPL body (else they get the stand-in body)."""
    settings = context.scene.glot
    base = motion_request(context)
    ids = tuple(t.track_id for t in settings.tracks if t.use)
    if not ids:
        raise TaskError("No person selected: tick at least one person in the list")
    armature = settings.target_armature.name if settings.target_armature else ""
    if settings.target == "ARMATURE":
        if not armature:
            raise TaskError(
                "No target armature chosen: pick one in the Mocap panel or use New SMPL Rig"
            )
        if len(ids) > 1:
            raise TaskError("An existing armature takes one person: tick only one in the list")
    return dataclasses.replace(
        base,
        track_ids=ids,
        target=settings.target,
        armature=armature,
        bone_map=tuple((p.joint, p.bone) for p in settings.bone_map if p.bone),
        smpl_pickle=_body_model(search_dirs) if settings.body_mesh else "",
        body_mesh=bool(settings.body_mesh),
    )


def applied_names(objs: Sequence[bpy.types.Object]) -> str:
    """The armatures' names, each with its achieved error when Apply measured it (the
    measurement's notes, if any, are in the panel)."""

    def name(obj: bpy.types.Object) -> str:
        text = obj.get(CHECK_PROP)
        if not text:
            return obj.name
        summary, *notes = text.split("\n")
        more = f"; {len(notes)} note(s) in the panel" if notes else ""
        return f"{obj.name} ({summary}{more})"

    return ", ".join(name(o) for o in objs)


def body_note(request: ApplyRequest) -> str:
    """What body new SMPL rigs of ``request`` get, as the panel and the report say it."""
    if request.target != "NEW_SMPL" or not request.body_mesh:
        return ""
    if request.smpl_pickle:
        return f"{BODY_SMPL} from {Path(request.smpl_pickle).name}"
    return f"{BODY_STAND_IN} body (no SMPL model file in the models folder)"


def _clip_loaded(context: bpy.types.Context) -> bool:
    scene = context.scene
    return scene is not None and bool(scene.glot.clip_path) and len(scene.glot.tracks) > 0


class GLOT_OT_apply_motion(bpy.types.Operator):
    """Put the ticked people's motion on new SMPL rigs or on the chosen armature"""

    bl_idname = "glot.apply_motion"
    bl_label = "Apply Motion"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not _clip_loaded(context):
            cls.poll_message_set("Analyze a video or load a motion clip first")
            return False
        return no_analysis_running() and context.mode == "OBJECT"

    def execute(self, context: bpy.types.Context) -> set[str]:
        def apply() -> str:
            dirs = models_search_dirs(get_prefs(context).models_dir)
            request = apply_request(context, dirs)
            objs = apply_motion(context.scene, request)
            note = body_note(request)
            if note:
                context.scene.glot.body_made = note
            return f"Motion applied to {applied_names(objs)}" + (f"; body: {note}" if note else "")

        return run_reported(self, apply)


class GLOT_OT_reapply_motion(bpy.types.Operator):
    """Apply again with the current smoothing, foot lock, root motion and offset (no new analysis)"""

    bl_idname = "glot.reapply_motion"
    bl_label = "Re-apply"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _clip_loaded(context) and no_analysis_running() and context.mode == "OBJECT"

    def execute(self, context: bpy.types.Context) -> set[str]:
        def reapply() -> str:
            request = motion_request(context)
            objs = reapply_motion(context.scene, request)
            return f"Motion re-applied to {applied_names(objs)}"

        return run_reported(self, reapply)


class GLOT_OT_setup_camera(bpy.types.Operator):
    """Add a camera matching the video (aspect, focal length) with the video as its background; rigs placed At Origin move to where they were filmed"""

    bl_idname = "glot.setup_camera"
    bl_label = "Set Up Camera"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _clip_loaded(context) and context.mode == "OBJECT"

    def execute(self, context: bpy.types.Context) -> set[str]:
        def camera() -> str:
            settings = context.scene.glot
            cam, moved = setup_camera_as_filmed(
                context.scene, camera_request(context), motion_request(context)
            )
            message = f"Camera '{cam.name}' set up: {cam.data.lens:.1f} mm lens"
            if cam.animation_data is not None:
                message += ", flying the solved camera path"
            if settings.root_placement == "origin":  # what Apply does next agrees with it
                settings.root_placement = "camera"
                message += "; Placement set to As Filmed"
            if moved:
                message += f"; {', '.join(o.name for o in moved)} placed as filmed to match it"
            return message

        return run_reported(self, camera)


CLASSES = (GLOT_OT_apply_motion, GLOT_OT_reapply_motion, GLOT_OT_setup_camera)
