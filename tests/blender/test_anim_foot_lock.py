"""Foot lock through apply_track: planted feet stop sliding on the Blender rig."""

from __future__ import annotations

import bpy
import numpy as np
from anim_support import UPRIGHT, make_clip, make_track, world_heads

from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature

NUM_FRAMES = 30
FEET = ["left_ankle", "left_foot", "right_ankle", "right_foot"]


def sliding_stand() -> object:
    """Standing still while the root drifts 5 mm/frame sideways (0.15 m/s): skating feet."""
    track = make_track(num_frames=NUM_FRAMES, seed=5)
    track.global_orient[:] = UPRIGHT
    track.body_pose[:] = 0.0
    track.transl[:] = np.array([0.0, 0.3, 3.5]) + np.outer(np.arange(NUM_FRAMES), [0.005, 0.0, 0.0])
    return track


def blender_foot_slide(arm: object) -> float:
    """Mean horizontal foot movement per frame (m) in Blender's evaluated pose."""
    feet = []
    for f in range(1, NUM_FRAMES + 1):
        bpy.context.scene.frame_set(f)
        feet.append(world_heads(arm, FEET))
    step = np.linalg.norm(np.diff(np.array(feet)[..., :2], axis=0), axis=-1)
    return float(step.mean())


def test_anim_foot_lock_removes_sliding() -> None:
    track = sliding_stand()
    clip = make_clip([track])
    arm = create_smpl_armature(track.rest_joints)
    apply_track(arm, clip, 1, ApplyOptions())
    before = blender_foot_slide(arm)
    apply_track(arm, clip, 1, ApplyOptions(foot_lock=True))
    after = blender_foot_slide(arm)
    assert before > 0.004
    assert after < 0.25 * before, (before, after)
