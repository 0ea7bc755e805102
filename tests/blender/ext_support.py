"""Helpers for tests that drive the installed extension (built zip, Blender's own extension
API, the real server): install/enable, preferences, the runtime, keyframe reading."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import bpy
import pytest

from glot_blender.build import build_extension

ADDON = "bl_ext.user_default.glot_mocap"


def installed_extension(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generator for a module-scoped fixture: the built zip installed and enabled (yields the
    installed package); disabled and factory-reset afterwards."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    zip_path = build_extension(tmp_path_factory.mktemp("dist")).zip_path
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}
    assert ADDON in bpy.context.preferences.addons
    yield importlib.import_module(ADDON)
    if ADDON in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=ADDON)
    bpy.ops.wm.read_factory_settings(use_empty=True)


def prefs():
    return bpy.context.preferences.addons[ADDON].preferences


def use_server(models_dir: Path) -> None:
    """This test's Python runs the server, on ``models_dir``, one thread, on the CPU."""
    p = prefs()
    p.server_python = sys.executable
    p.models_dir = str(models_dir)
    p.server_threads = 1
    p.device = "cpu"


def runtime(ext: ModuleType):
    return importlib.import_module(f"{ext.__name__}.session").get_runtime()


def ext_module(ext: ModuleType, name: str) -> ModuleType:
    """A module of the installed extension (``"operators.analyze"``)."""
    return importlib.import_module(f"{ext.__name__}.{name}")


def fcurves_of(obj) -> list:
    """The F-curves of the object's action (legacy or slotted actions)."""
    action = obj.animation_data.action
    fcurves = getattr(action, "fcurves", None)
    if fcurves is not None:  # Blender < 4.4 (legacy actions)
        return list(fcurves)
    slot = obj.animation_data.action_slot
    curves = []
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                curves.extend(bag.fcurves)
    return curves


def mixamo_armature(name: str = "Character") -> bpy.types.Object:
    """A Mixamo-named armature in T-pose with other proportions than SMPL."""
    spec = {  # bone: (parent, head, tail)
        "mixamorig:Hips": (None, (0, 0, 1.0), (0, 0, 1.1)),
        "mixamorig:Spine": ("mixamorig:Hips", (0, 0, 1.1), (0, 0, 1.25)),
        "mixamorig:Spine1": ("mixamorig:Spine", (0, 0, 1.25), (0, 0, 1.4)),
        "mixamorig:Spine2": ("mixamorig:Spine1", (0, 0, 1.4), (0, 0, 1.55)),
        "mixamorig:Neck": ("mixamorig:Spine2", (0, 0, 1.55), (0, 0, 1.65)),
        "mixamorig:Head": ("mixamorig:Neck", (0, 0, 1.65), (0, 0, 1.85)),
        "mixamorig:LeftShoulder": ("mixamorig:Spine2", (0.05, 0, 1.5), (0.18, 0, 1.5)),
        "mixamorig:LeftArm": ("mixamorig:LeftShoulder", (0.18, 0, 1.5), (0.45, 0, 1.5)),
        "mixamorig:LeftForeArm": ("mixamorig:LeftArm", (0.45, 0, 1.5), (0.7, 0, 1.5)),
        "mixamorig:LeftHand": ("mixamorig:LeftForeArm", (0.7, 0, 1.5), (0.8, 0, 1.5)),
        "mixamorig:RightShoulder": ("mixamorig:Spine2", (-0.05, 0, 1.5), (-0.18, 0, 1.5)),
        "mixamorig:RightArm": ("mixamorig:RightShoulder", (-0.18, 0, 1.5), (-0.45, 0, 1.5)),
        "mixamorig:RightForeArm": ("mixamorig:RightArm", (-0.45, 0, 1.5), (-0.7, 0, 1.5)),
        "mixamorig:RightHand": ("mixamorig:RightForeArm", (-0.7, 0, 1.5), (-0.8, 0, 1.5)),
        "mixamorig:LeftUpLeg": ("mixamorig:Hips", (0.1, 0, 1.0), (0.1, 0, 0.55)),
        "mixamorig:LeftLeg": ("mixamorig:LeftUpLeg", (0.1, 0, 0.55), (0.1, 0, 0.1)),
        "mixamorig:LeftFoot": ("mixamorig:LeftLeg", (0.1, 0, 0.1), (0.1, -0.12, 0.02)),
        "mixamorig:LeftToeBase": ("mixamorig:LeftFoot", (0.1, -0.12, 0.02), (0.1, -0.2, 0.02)),
        "mixamorig:RightUpLeg": ("mixamorig:Hips", (-0.1, 0, 1.0), (-0.1, 0, 0.55)),
        "mixamorig:RightLeg": ("mixamorig:RightUpLeg", (-0.1, 0, 0.55), (-0.1, 0, 0.1)),
        "mixamorig:RightFoot": ("mixamorig:RightLeg", (-0.1, 0, 0.1), (-0.1, -0.12, 0.02)),
        "mixamorig:RightToeBase": ("mixamorig:RightFoot", (-0.1, -0.12, 0.02), (-0.1, -0.2, 0.02)),
    }
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone, (parent, head, tail) in spec.items():
        eb = data.edit_bones.new(bone)
        eb.head, eb.tail = head, tail
        if parent:
            eb.parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj
