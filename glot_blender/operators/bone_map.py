"""Fill the bone map (SMPL joint -> target bone) of the chosen armature from a preset."""

from __future__ import annotations

import bpy

from .reporting import run_reported
from .tasks import fill_bone_map


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
        def detect() -> str:
            preset, mapped = fill_bone_map(context.scene)
            return f"Bone map '{preset}': {mapped} of 24 SMPL joints mapped"

        return run_reported(self, detect)


CLASSES = (GLOT_OT_detect_bone_map,)
