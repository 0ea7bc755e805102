"""Export the active armature's motion as FBX (Unity / Unreal / Mixamo-style presets) or BVH.

FBX of several selected armatures: one file per person (``NAME_P<id>.fbx``) by default, or
one file with every armature's bones prefixed by its person (All in One File)."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from ..blender import export
from .reporting import TaskError, run_reported


@dataclass(frozen=True)
class ExportRequest:
    """Export ``armatures`` (with their actions; the active one first) to ``path`` as
    ``kind`` ("fbx" | "bvh": the first armature only); several FBX armatures go one file
    per person unless ``all_in_one``; ``camera``: a camera object written into each FBX too
    ('' = none)."""

    armatures: tuple[str, ...]
    path: str
    kind: str
    preset: str = ""
    all_in_one: bool = False
    #: (label, path) of the scene's inputs the export must never replace
    protect: tuple[tuple[str, str], ...] = ()
    camera: str = ""


def export_preset_items() -> tuple[tuple[str, str, str], ...]:
    """Enum items of the FBX presets of :mod:`..blender.export`."""
    return tuple((name, name.title(), desc) for name, desc in export.preset_descriptions().items())


def _has_motion(obj: bpy.types.Object) -> bool:
    anim = obj.animation_data
    return anim is not None and anim.action is not None


def export_request(
    context: bpy.types.Context, filepath: str, kind: str, preset: str, all_in_one: bool = False,
    include_camera: bool = False,
) -> ExportRequest:
    """The active armature, which must carry motion, then (FBX) the other selected armatures
    with motion, the chosen file, and with ``include_camera`` the scene's camera."""
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise TaskError("Select the armature to export (it must be the active object)")
    if not filepath:
        raise TaskError("No file chosen: pick where to save the export")
    if not _has_motion(obj):
        raise TaskError(f"Armature '{obj.name}' has no motion: press Apply Motion first")
    settings = context.scene.glot
    movie = settings.movie_clip.filepath if settings.movie_clip is not None else ""
    inputs = (("video", settings.video_path), ("video", movie), ("motion clip", settings.clip_path))
    others = [o.name for o in context.selected_objects
              if o is not obj and o.type == "ARMATURE" and _has_motion(o)] if kind == "fbx" else []
    camera = ""
    if include_camera and kind == "fbx":
        if context.scene.camera is None:
            raise TaskError("The scene has no camera to include: press Set Up Camera first")
        camera = context.scene.camera.name
    return ExportRequest(
        armatures=(obj.name, *sorted(others)), path=bpy.path.abspath(filepath), kind=kind,
        preset=preset, all_in_one=all_in_one, camera=camera,
        protect=tuple((label, bpy.path.abspath(p)) for label, p in inputs if p),
    )


def export_motion(request: ExportRequest) -> str:
    """Write the file(s) (blender.export); says what was written."""
    objs = []
    for name in request.armatures:
        obj = bpy.data.objects.get(name)
        if obj is None:
            raise TaskError(f"Armature '{name}' no longer exists")
        objs.append(obj)
    if request.kind == "bvh":
        return f"Exported {export.export_bvh(objs[0], request.path, protect=request.protect)}"
    camera = bpy.data.objects.get(request.camera) if request.camera else None
    if request.camera and camera is None:
        raise TaskError(f"Camera '{request.camera}' no longer exists")
    if request.all_in_one:
        path = export.export_fbx_armatures(objs, request.path, request.preset,
                                            unique_bones=True, protect=request.protect,
                                            camera=camera)
        return f"Exported {len(objs)} armatures to {path}"
    paths = export.export_fbx_per_armature(objs, request.path, request.preset,
                                           protect=request.protect, camera=camera)
    if len(paths) == 1:
        return f"Exported {paths[0]}"
    return f"Exported one FBX per person: {', '.join(p.name for p in paths)} in {paths[0].parent}"


def _armature_selected(context: bpy.types.Context) -> bool:
    obj = context.active_object
    return obj is not None and obj.type == "ARMATURE" and context.mode == "OBJECT"


PRESET_ITEMS = export_preset_items()


class GLOT_OT_export_fbx(bpy.types.Operator, ExportHelper):
    """Export the active armature (and the other selected ones) with their motion as FBX with a game-engine preset: one file per person"""

    bl_idname = "glot.export_fbx"
    bl_label = "Export FBX"
    bl_options = {"REGISTER"}  # writes a file, changes nothing in the scene

    filename_ext = ".fbx"
    filter_glob: StringProperty(default="*.fbx", options={"HIDDEN"})
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default=PRESET_ITEMS[0][0])
    all_in_one: BoolProperty(
        name="All in One File",
        description="Several armatures: write them into this one file, every bone prefixed by "
        "its person (P3_pelvis) so that other readers keep them apart, instead of one file "
        "per person (NAME_P3.fbx)",
    )
    include_camera: BoolProperty(
        name="Include Camera",
        description="Also write the scene's camera with its animation (Set Up Camera with "
        "placement In the World makes it fly the solved camera path)",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not _armature_selected(context):
            cls.poll_message_set("Select an armature with motion (Object Mode)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        return run_reported(
            self,
            lambda: export_motion(
                export_request(context, self.filepath, "fbx", self.preset, self.all_in_one,
                               self.include_camera)
            ),
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
            self, lambda: export_motion(export_request(context, self.filepath, "bvh", ""))
        )


CLASSES = (GLOT_OT_export_fbx, GLOT_OT_export_bvh)
