"""Put the analysed motion into the scene: apply / re-apply, bone map, camera."""

from __future__ import annotations

import bpy

from ..preferences import get_prefs, models_search_dirs
from .reporting import run_reported
from .runtime import no_analysis_running
from .tasks import (
    apply_motion,
    apply_request,
    camera_request,
    setup_camera,
)


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
            objs = apply_motion(context.scene, apply_request(context, dirs))
            return f"Motion applied to {', '.join(o.name for o in objs)}"

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
            request = apply_request(context, models_search_dirs(get_prefs(context).models_dir))
            objs = apply_motion(context.scene, request, reuse_rigs=request.target == "NEW_SMPL")
            return f"Motion re-applied to {', '.join(o.name for o in objs)}"

        return run_reported(self, reapply)


class GLOT_OT_setup_camera(bpy.types.Operator):
    """Add a camera matching the video (aspect, focal length) with the video as its background"""

    bl_idname = "glot.setup_camera"
    bl_label = "Set Up Camera"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _clip_loaded(context) and context.mode == "OBJECT"

    def execute(self, context: bpy.types.Context) -> set[str]:
        def camera() -> str:
            cam = setup_camera(context.scene, camera_request(context))
            return f"Camera '{cam.name}' set up: {cam.data.lens:.1f} mm lens"

        return run_reported(self, camera)


CLASSES = (GLOT_OT_apply_motion, GLOT_OT_reapply_motion, GLOT_OT_setup_camera)
