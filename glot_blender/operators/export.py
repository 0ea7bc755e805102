"""Export the active armature's motion as FBX (Unity / Unreal / Mixamo-style presets) or BVH."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from ..blender import export
from .reporting import TaskError, run_reported


@dataclass(frozen=True)
class ExportRequest:
    """Export ``armature`` (with its action) to ``path`` as ``kind`` ("fbx" | "bvh")."""

    armature: str
    path: str
    kind: str
    preset: str = ""


def export_preset_items() -> tuple[tuple[str, str, str], ...]:
    """Enum items of the FBX presets of :mod:`..blender.export`."""
    return tuple((name, name.title(), desc) for name, desc in export.preset_descriptions().items())


def export_request(
    context: bpy.types.Context, filepath: str, kind: str, preset: str
) -> ExportRequest:
    """The active armature, which must carry motion, and the chosen file."""
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise TaskError("Select the armature to export (it must be the active object)")
    if not filepath:
        raise TaskError("No file chosen: pick where to save the export")
    anim = obj.animation_data
    if anim is None or anim.action is None:
        raise TaskError(f"Armature '{obj.name}' has no motion: press Apply Motion first")
    return ExportRequest(
        armature=obj.name, path=bpy.path.abspath(filepath), kind=kind, preset=preset
    )


def export_motion(request: ExportRequest) -> str:
    """Write the file (blender.export); the path written."""
    obj = bpy.data.objects.get(request.armature)
    if obj is None:
        raise TaskError(f"Armature '{request.armature}' no longer exists")
    if request.kind == "fbx":
        path = export.export_fbx(obj, request.path, request.preset)
    else:
        path = export.export_bvh(obj, request.path)
    return str(path or request.path)


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
