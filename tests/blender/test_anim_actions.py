"""The Blender test environment, the action compatibility layer and bulk keyframes."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest

from glot_blender.blender import actions
from glot_blender.blender.keyframes import (
    ChannelKeys,
    action_name,
    new_action_with_keys,
    set_scene_fps,
    write_channels,
)


def test_anim_env_user_resources_are_isolated(blender_user_dir: Path) -> None:
    config = Path(bpy.utils.user_resource("CONFIG")).resolve()
    assert blender_user_dir.resolve() in config.parents or config == blender_user_dir.resolve()


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


def empty() -> object:
    obj = bpy.data.objects.new("Target", None)
    bpy.context.scene.collection.objects.link(obj)
    return obj


@pytest.mark.parametrize("group_kwarg", [True, False], ids=["fcurves-new-group", "group-assigned"])
def test_anim_actions_new_action_slot_and_groups(group_kwarg, monkeypatch) -> None:
    if not group_kwarg:  # the Blender 4.4/4.5 path: fcurves.new without group_name
        monkeypatch.setattr(actions, "_fcurves_new_takes_group", lambda fcurves: False)
    obj = empty()
    channels = actions.new_action_for(obj, "GLoT test P1")
    loc = [channels.fcurve("location", i, "Object Transforms") for i in range(3)]
    assert channels.fcurve("location", 1) is loc[1]
    assert {fc.group.name for fc in loc} == {"Object Transforms"}
    again = actions.channels_of(obj)
    assert again.action == channels.action and len(again.fcurves) == 3
    assert len(actions.action_fcurves(channels.action)) == 3
    if actions.has_slotted_actions():
        assert obj.animation_data.action_slot == channels.slot
        assert channels.slot.target_id_type == "OBJECT"


def test_anim_actions_bulk_keys_evaluate_and_append() -> None:
    obj = empty()
    frames = np.arange(1, 11, dtype=float)
    values = np.stack([np.sin(frames), np.cos(frames), frames], axis=1)
    action = new_action_with_keys(obj, "A", frames, [ChannelKeys("location", values, "Loc")])
    for f in (1, 4, 10):
        bpy.context.scene.frame_set(f)
        np.testing.assert_allclose(tuple(obj.location), values[f - 1], atol=1e-6)
    fc = actions.action_fcurves(action)[0]
    assert {k.interpolation for k in fc.keyframe_points} == {"LINEAR"}
    assert fc.evaluate(2.5) == pytest.approx((np.sin(2) + np.sin(3)) / 2, abs=1e-6)
    more = write_channels(actions.channels_of(obj), np.array([11.0, 12.0]),
                          [ChannelKeys("location", np.ones((2, 3)))], "CONSTANT")
    assert more == 6 and len(fc.keyframe_points) == 12
    assert fc.keyframe_points[0].co[1] == pytest.approx(np.sin(1.0), abs=1e-6)
    assert fc.keyframe_points[11].interpolation == "CONSTANT"


@pytest.mark.parametrize(
    ("fps", "want"),
    [(30.0, (30, 1.0)), (25.0, (25, 1.0)), (29.97, (30, 1.001)), (23.976, (24, 1.001)),
     (59.94, (60, 1.001))],
)
def test_anim_actions_scene_fps(fps, want) -> None:
    scene = bpy.context.scene
    set_scene_fps(scene, fps)
    assert scene.render.fps == want[0]
    assert scene.render.fps_base == pytest.approx(want[1], abs=1e-6)
    assert scene.render.fps / scene.render.fps_base == pytest.approx(fps, rel=1e-3)


def test_anim_actions_odd_fps_and_names() -> None:
    scene = bpy.context.scene
    set_scene_fps(scene, 12.5)
    assert scene.render.fps / scene.render.fps_base == pytest.approx(12.5, rel=1e-6)
    with pytest.raises(ValueError, match="positive"):
        set_scene_fps(scene, 0.0)
    assert action_name("/videos/My Dance.MOV", 3) == "GLoT My Dance P3"
    assert action_name("", 0) == "GLoT clip P0"
