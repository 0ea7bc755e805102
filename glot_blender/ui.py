"""The Mocap tab of the 3D viewport's sidebar: video, analysis, people, target, motion, export.

Panels only draw properties and operator buttons: no logic here.
"""

from __future__ import annotations

import textwrap

import bpy
from bpy.types import Panel, UIList

from .blender.verify import CHECK_PROP

from .session import get_runtime

CATEGORY = "Mocap"
#: approximate width of one character of panel text in pixels at UI scale 1
CHAR_PX = 7.0


def _wrapped(context: bpy.types.Context, text: str) -> list[str]:
    """``text`` in lines that fit the sidebar's width."""
    width = context.region.width if context.region is not None else 300
    scale = context.preferences.system.ui_scale if context.preferences else 1.0
    return textwrap.wrap(text, max(20, int(width / (CHAR_PX * scale)) - 4)) or [""]


def _draw_analysis_info(layout, context: bpy.types.Context, settings) -> None:
    """Which backend and detector made the loaded clip, and the job's notices."""
    box = layout.box()
    made = f"Backend: {settings.analysis_backend}"
    if settings.analysis_detector:
        made += f"   Detector: {settings.analysis_detector}"
    box.label(text=made, icon="SETTINGS")
    for notice in filter(None, settings.analysis_notices.splitlines()):
        for i, line in enumerate(_wrapped(context, notice)):
            box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


def _job_running() -> bool:
    try:
        job = get_runtime().analysis
    except RuntimeError:
        return False
    return job is not None and not job.finished


class GLOT_UL_tracks(UIList):
    """People of the motion clip: id, frames covered, share of filled frames."""

    bl_idname = "GLOT_UL_tracks"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.prop(item, "use", text="")
        row.label(text=f"Person {item.track_id}", icon="ARMATURE_DATA")
        row.label(text=f"{item.num_frames} frames")
        row.label(text=f"{item.filled_ratio * 100:.0f}% filled")
        if item.refined == "YES":
            error = f" {item.refine_error_px:.1f} px" if item.refine_error_px >= 0 else ""
            row.label(text=f"refined{error}")
        elif item.refined == "NO":
            row.label(text="not refined", icon="ERROR")


class GLOT_UL_bone_map(UIList):
    """SMPL joint -> target bone, editable (pick from the target armature's bones)."""

    bl_idname = "GLOT_UL_bone_map"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        split = row.split(factor=0.4)
        split.label(text=item.joint)
        arm = data.target_armature
        if arm is not None and arm.type == "ARMATURE" and "," not in item.bone:
            split.prop_search(item, "bone", arm.data, "bones", text="")
        else:
            split.prop(item, "bone", text="")


class _MocapPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class _ClipPanel(_MocapPanel):
    """A sub-panel shown once a motion clip is loaded."""

    bl_parent_id = "GLOT_PT_main"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bool(context.scene.glot.clip_path)


class GLOT_PT_main(_MocapPanel, Panel):
    bl_idname = "GLOT_PT_main"
    bl_label = "Video to Motion"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.glot
        layout.prop(settings, "video_source", expand=True)
        if settings.video_source == "FILE":
            layout.prop(settings, "video_path", text="")
        else:
            layout.template_ID(settings, "movie_clip", open="clip.open")
        row = layout.row(align=True)
        row.prop(settings, "use_frame_range")
        sub = row.row(align=True)
        sub.active = settings.use_frame_range
        sub.prop(settings, "frame_start")
        sub.prop(settings, "frame_end")
        layout.prop(settings, "backend")
        layout.prop(settings, "detector")
        layout.prop(settings, "refine")
        status = context.window_manager.glot_job
        if _job_running() or status.running:
            row = layout.row(align=True)
            row.progress(factor=status.fraction, text=status.stage or "Working")
            row.operator("glot.cancel_analysis", text="", icon="CANCEL")
        else:
            row = layout.row(align=True)
            row.scale_y = 1.4
            row.operator("glot.analyze", icon="PLAY")
            row.operator("glot.load_clip", text="", icon="FILEBROWSER")
        if status.last_message:
            layout.label(text=status.last_message, icon="INFO")
        if settings.clip_path and settings.analysis_backend:
            _draw_analysis_info(layout, context, settings)


class GLOT_PT_people(_ClipPanel, Panel):
    bl_idname = "GLOT_PT_people"
    bl_label = "People"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.glot
        layout = self.layout
        layout.template_list(
            "GLOT_UL_tracks", "", settings, "tracks", settings, "tracks_index", rows=3
        )
        layout.prop(settings, "target", expand=True)
        if settings.target == "NEW_SMPL":
            layout.prop(settings, "body_mesh")
            if settings.body_made:
                layout.label(text=f"Last body made: {settings.body_made}", icon="OUTLINER_OB_MESH")
        if settings.target == "ARMATURE":
            layout.prop(settings, "target_armature")
            row = layout.row(align=True)
            row.label(text=f"Preset: {settings.bone_map_preset or '-'}")
            row.operator("glot.detect_bone_map", text="Detect", icon="VIEWZOOM")
            if len(settings.bone_map):
                layout.template_list(
                    "GLOT_UL_bone_map", "", settings, "bone_map", settings, "bone_map_index", rows=4
                )
            _draw_check(layout, settings.target_armature)


def _draw_check(layout: bpy.types.UILayout, armature: bpy.types.Object | None) -> None:
    """The last Apply's achieved error on the deform bones (blender.verify), one group a line,
    then what the measurement could not model."""
    text = armature.get(CHECK_PROP) if armature is not None else None
    if not text:
        return
    summary, *notes = text.split("\n")
    box = layout.box()
    head, _, groups = summary.partition(" (mean/max) ")
    box.label(text=f"{head[:1].upper()}{head[1:]} (mean/max):", icon="CHECKMARK")
    for part in groups.split(", "):
        box.label(text=part)
    for note in notes:
        box.label(text=note, icon="ERROR")


class GLOT_PT_motion(_ClipPanel, Panel):
    bl_idname = "GLOT_PT_motion"
    bl_label = "Motion"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.glot
        layout = self.layout
        layout.prop(settings, "smoothing", slider=True)
        layout.prop(settings, "foot_lock")
        layout.prop(settings, "root_motion")
        layout.prop(settings, "root_placement")
        layout.prop(settings, "frame_offset")
        row = layout.row(align=True)
        row.scale_y = 1.3
        row.operator("glot.apply_motion", icon="ARMATURE_DATA")
        row.operator("glot.reapply_motion", icon="FILE_REFRESH")
        layout.operator("glot.setup_camera", icon="CAMERA_DATA")


class GLOT_PT_export(_MocapPanel, Panel):
    bl_idname = "GLOT_PT_export"
    bl_label = "Export"
    bl_parent_id = "GLOT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        row = self.layout.row(align=True)
        row.operator("glot.export_fbx", icon="EXPORT")
        row.operator("glot.export_bvh", icon="EXPORT")


class GLOT_PT_server(_MocapPanel, Panel):
    bl_idname = "GLOT_PT_server"
    bl_label = "Server"
    bl_parent_id = "GLOT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        try:
            session = get_runtime().session
        except RuntimeError:
            return
        running = session.is_running()
        info = session.info or {}
        text = f"Running (torch {info.get('torch_version', '?')})" if running else "Stopped"
        layout.label(text=text, icon="CHECKMARK" if running else "X")
        row = layout.row(align=True)
        row.operator("glot.restart_server", icon="FILE_REFRESH")
        row.operator("glot.open_log", text="", icon="TEXT")


CLASSES = (
    GLOT_UL_tracks,
    GLOT_UL_bone_map,
    GLOT_PT_main,
    GLOT_PT_people,
    GLOT_PT_motion,
    GLOT_PT_export,
    GLOT_PT_server,
)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
