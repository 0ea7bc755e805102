"""Add-on preferences: the server's Python and environment, the models folder with a live
checklist, device, default field of view and smoothing."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences

from .core import locations
from .server_env import CREATE_ENV_BUTTON
from .session import get_runtime

ADDON_ID = __package__

#: Model files by backend when the server is not running, by their official names (the
#: server's answer to ``initialize`` replaces this as soon as it runs). Kept equal to
#: inference_server.registry.backend_files() (checked by tests/blender/test_ext_*.py).
#: Each entry: (accepted file names, what it is, required for analysis).
MODEL_FILES: dict[str, tuple[tuple[tuple[str, ...], str, bool], ...]] = {
    "glot": (
        ((locations.GLOT_CHECKPOINTS[0],), "GLoT checkpoint", True),
        ((locations.SPIN_CHECKPOINT,), "SPIN ResNet-50 feature extractor", True),
    ),
    "yolo": (
        ((locations.YOLO_CFG,), "YOLOv3 network description", True),
        ((locations.YOLO_WEIGHTS,), "YOLOv3 COCO weights", True),
    ),
    "body": ((locations.SMPL_PICKLES, "SMPL body mesh (optional)", False),),
}

# Fixed numbers: the choice is stored as a number, and the GPU items come and go with the
# server, so positions must not decide it (cuda:N is CUDA_NUMBER_BASE + N).
BASE_DEVICES = (
    (
        "auto",
        "Auto",
        "The fastest device the server finds (CUDA GPU, Apple MPS, else CPU)",
        "NONE",
        0,
    ),
    ("cpu", "CPU", "Run on the processor", "NONE", 1),
)
MPS_DEVICE = ("mps", "Apple MPS", "Apple Silicon GPU through Metal", "NONE", 2)
CUDA_NUMBER_BASE = 100


def get_prefs(context: bpy.types.Context | None = None) -> GLOT_AP_preferences:
    context = context or bpy.context
    return context.preferences.addons[ADDON_ID].preferences


def _device_items(_self: AddonPreferences, _context: bpy.types.Context) -> list[tuple]:
    """auto, cpu, every CUDA GPU the running server reported, Apple MPS."""
    items = list(BASE_DEVICES)
    try:
        runtime = get_runtime()
    except RuntimeError:
        return items + [MPS_DEVICE]
    for device in runtime.session.info.get("devices", []) if runtime.session.info else []:
        ident = str(device.get("id", ""))
        if ident.startswith("cuda"):
            index = int(ident[5:]) if ident[5:].isdigit() else 0
            name = f"GPU {index}: {device.get('name', 'CUDA')}"
            items.append((ident, name, f"CUDA device {ident}", "NONE", CUDA_NUMBER_BASE + index))
    items.append(MPS_DEVICE)
    # Blender keeps only pointers to these strings: the runtime holds them while the menu lives.
    runtime.enum_items["device"] = items
    return items


def models_search_dirs(models_dir: str) -> tuple[Path, ...]:
    """Where the server looks for model files, in its order: the chosen folder (a Blender
    path), GLOT_MODELS_DIR, the user data folder's models (core.locations)."""
    return locations.models_search_dirs(bpy.path.abspath(models_dir) if models_dir else None)


def file_checklist(models_dir: str) -> list[tuple[str, str, bool, bool]]:
    """(backend, file name, present, required) for every known model file, by name."""
    dirs = models_search_dirs(models_dir)
    rows = []
    for backend, files in MODEL_FILES.items():
        for names, _purpose, required in files:
            present = locations.find_model_file(names, dirs) is not None
            rows.append((backend, names[0], present, required))
    return rows


class GLOT_AP_preferences(AddonPreferences):
    bl_idname = ADDON_ID

    server_python: StringProperty(
        name="Server Python",
        subtype="FILE_PATH",
        description=f"Python with torch and the inference server ({CREATE_ENV_BUTTON} makes one)",
    )
    env_dir: StringProperty(
        name="Environment Folder",
        subtype="DIR_PATH",
        description=f"Where {CREATE_ENV_BUTTON} puts the server's virtual environment ('' = default)",
    )
    models_dir: StringProperty(
        name="Models Folder",
        subtype="DIR_PATH",
        description="Folder with the GLoT, SPIN, YOLO and SMPL files, under their official names",
    )
    device: EnumProperty(
        name="Device", items=_device_items, description="Where the server runs the networks"
    )
    server_threads: IntProperty(
        name="CPU Threads",
        min=0,
        max=256,
        default=0,
        description="CPU threads the server may use (0 = all); fewer keeps Blender responsive",
    )
    default_fov_deg: FloatProperty(
        name="Default Field of View",
        min=0.0,
        max=179.0,
        default=0.0,
        subtype="NONE",
        description="Horizontal field of view of the videos in degrees (0 = the server's estimate)",
    )
    default_smoothing: FloatProperty(
        name="Default Smoothing",
        min=0.0,
        max=1.0,
        default=0.5,
        subtype="FACTOR",
        description="Smoothing given to a newly loaded motion clip",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        self._draw_server(layout, context)
        self._draw_models(layout)
        box = layout.box()
        box.label(text="Defaults", icon="PREFERENCES")
        box.prop(self, "device")
        box.prop(self, "server_threads")
        box.prop(self, "default_fov_deg")
        box.prop(self, "default_smoothing")

    def _draw_server(self, layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
        box = layout.box()
        box.label(text="Inference Server", icon="CONSOLE")
        row = box.row(align=True)
        row.prop(self, "server_python")
        row.operator("glot.detect_python", text="", icon="VIEWZOOM")
        box.prop(self, "env_dir")
        job = context.window_manager.glot_job
        if job.env_running:
            box.progress(factor=job.env_fraction, text=job.env_stage or "Setting up")
        else:
            box.operator("glot.create_env", icon="PACKAGE")
        if job.env_log:
            col = box.column(align=True)
            for line in job.env_log.splitlines()[-8:]:
                col.label(text=line)
        row = box.row(align=True)
        try:
            running = get_runtime().session.is_running()
        except RuntimeError:
            running = False
        row.label(
            text="Server running" if running else "Server stopped",
            icon="CHECKMARK" if running else "X",
        )
        row.operator("glot.restart_server", icon="FILE_REFRESH")
        row.operator("glot.stop_server", icon="CANCEL")
        row.operator("glot.open_log", icon="TEXT")

    def _draw_models(self, layout: bpy.types.UILayout) -> None:
        box = layout.box()
        box.label(text="Model Files", icon="FILE_FOLDER")
        box.prop(self, "models_dir")
        try:
            info = get_runtime().session.info
        except RuntimeError:
            info = {}
        backends = info.get("backends") if info else None
        col = box.column(align=True)
        if backends:
            col.label(text="As reported by the running server:")
            for name, state in backends.items():
                missing = state.get("missing") or []
                ready = bool(state.get("ready"))
                text = f"{name}: ready" if ready else f"{name}: missing {', '.join(missing)}"
                col.label(text=text, icon="CHECKMARK" if ready else "ERROR")
            auto = info.get("auto_detector") or {}
            if auto.get("detector"):
                col.label(text=f"Person detector (auto): {auto['detector']}", icon="VIEWZOOM")
                col.label(text=str(auto.get("reason", "")))
            return
        for backend, name, present, required in file_checklist(self.models_dir):
            icon = "CHECKMARK" if present else ("ERROR" if required else "INFO")
            col.label(text=f"{backend}: {name}", icon=icon)


CLASSES = (GLOT_AP_preferences,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
