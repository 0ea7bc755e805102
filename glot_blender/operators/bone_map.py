"""Fill the bone map (SMPL joint -> target bone) of the chosen armature from a preset."""

from __future__ import annotations

import bpy

from ..blender import rigify
from ..blender.rig_profile import detect_bone_map
from ..core import bone_maps
from ..core.smpl_skeleton import JOINT_NAMES
from .reporting import TaskError, run_reported


#: what Detect adds to its report for presets whose Apply does more than key the map
RIG_NOTES = {rigify.GENERATED_PRESET: "; Apply switches the limbs to FK and makes neck and head "
                                      "follow the torso"}


def fill_bone_map(scene: bpy.types.Scene) -> tuple[str, int]:
    """Detect the target armature's preset (Rigify rules, name scoring, name patterns as
    fallback; :func:`..blender.rig_profile.detect_bone_map`) and list the map in
    ``scene.glot.bone_map``: all 24 SMPL joints, '' = unmapped, a chain as "a, b, c".
    Returns (preset key or "auto", number of joints mapped)."""
    settings = scene.glot
    arm = settings.target_armature
    if arm is None or arm.type != "ARMATURE":
        raise TaskError("Choose a target armature first")
    result = detect_bone_map(arm)  # AnimError is reported like TaskError
    if not result:
        raise TaskError(
            f"No bone of '{arm.name}' matches a known rig or name pattern: fill the map by hand"
        )
    settings.bone_map.clear()
    for joint in JOINT_NAMES:
        pair = settings.bone_map.add()
        pair.joint = joint
        pair.bone = bone_maps.as_text(result[joint]) if joint in result else ""
    settings.bone_map_preset = result.source.removeprefix("preset:")
    return settings.bone_map_preset, len(result)


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
            note = RIG_NOTES.get(preset, "")
            return f"Bone map '{preset}': {mapped} of 24 SMPL joints mapped{note}"

        return run_reported(self, detect)


CLASSES = (GLOT_OT_detect_bone_map,)
