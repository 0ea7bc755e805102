"""The Blender test environment: user resources isolated, factory reset between tests."""

from __future__ import annotations

from pathlib import Path

import bpy


def test_anim_env_user_resources_are_isolated(blender_user_dir: Path) -> None:
    config = Path(bpy.utils.user_resource("CONFIG")).resolve()
    assert blender_user_dir.resolve() in config.parents or config == blender_user_dir.resolve()
    assert Path.home().resolve() / ".config" not in config.parents


def test_anim_env_starts_empty_and_leaves_nothing() -> None:
    assert len(bpy.data.objects) == 0 and len(bpy.data.actions) == 0
    bpy.data.objects.new("leftover", None)
    bpy.data.actions.new("leftover")


def test_anim_env_previous_test_left_nothing() -> None:
    assert "leftover" not in bpy.data.objects and "leftover" not in bpy.data.actions


def test_anim_env_coexists_with_torch() -> None:
    import torch

    torch.set_num_threads(1)
    assert float(torch.ones(3).sum()) == 3.0
    bpy.ops.object.empty_add()
    assert len(bpy.data.objects) == 1
