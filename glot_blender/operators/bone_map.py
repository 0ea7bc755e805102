"""Fill the bone map (SMPL joint -> target bone) of the chosen armature from a preset."""

from __future__ import annotations

import bpy

from .tasks import TaskError, fill_bone_map


class GLOT_OT_detect_bone_map(bpy.types.Operator):
    """Detect the target armature's rig type (Mixamo, Rigify, UE5, VRM, ...) and fill the bone map"""

    bl_idname = "glot.detect_bone_map"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        arm = context.scene.glot.target_armature if context.scene else None
        if arm is None:
            cls.poll_message_set("Choose a target armature first")
        return arm is not None and arm.type == "ARMATURE"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            preset, mapped = fill_bone_map(context.scene)
        except TaskError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Bone map '{preset}': {mapped} of 24 SMPL joints mapped")
        return {"FINISHED"}


CLASSES = (GLOT_OT_detect_bone_map,)
