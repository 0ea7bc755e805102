"""Export the active armature's motion as FBX (Unity / Unreal / Mixamo-style presets) or BVH."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from .reporting import run_reported
from .tasks import export_motion, export_preset_items, export_request


def _armature_selected(context: bpy.types.Context) -> bool:
    obj = context.active_object
    return obj is not None and obj.type == "ARMATURE" and context.mode == "OBJECT"


PRESET_ITEMS = export_preset_items()


class GLOT_OT_export_fbx(bpy.types.Operator, ExportHelper):
    """Export the active armature and its motion as FBX with a game-engine preset"""

    bl_idname = "glot.export_fbx"
    bl_label = "Export FBX"
    bl_options = {"REGISTER"}  # writes a file, changes nothing in the scene

    filename_ext = ".fbx"
    filter_glob: StringProperty(default="*.fbx", options={"HIDDEN"})
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default=PRESET_ITEMS[0][0])

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not _armature_selected(context):
            cls.poll_message_set("Select an armature with motion (Object Mode)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        return run_reported(
            self,
            lambda: f"Exported {export_motion(export_request(context, self.filepath, 'fbx', self.preset))}",
        )


class GLOT_OT_export_bvh(bpy.types.Operator, ExportHelper):
    """Export the active armature's motion as BVH"""

    bl_idname = "glot.export_bvh"
    bl_label = "Export BVH"
    bl_options = {"REGISTER"}  # writes a file, changes nothing in the scene

    filename_ext = ".bvh"
    filter_glob: StringProperty(default="*.bvh", options={"HIDDEN"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _armature_selected(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        return run_reported(
            self, lambda: f"Exported {export_motion(export_request(context, self.filepath, 'bvh', ''))}"
        )


CLASSES = (GLOT_OT_export_fbx, GLOT_OT_export_bvh)
