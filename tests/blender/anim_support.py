"""Helpers for the BLENDER-ANIM tests: synthetic motion clips, test rigs, scene snapshots."""

from __future__ import annotations

import bpy
import numpy as np

from glot_blender.core.motion_clip import MotionClip, TrackMotion
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

UPRIGHT = np.array([np.pi, 0.0, 0.0])  # global_orient of a person standing before the camera


def make_track(num_frames: int = 12, seed: int = 0, track_id: int = 1) -> TrackMotion:
    """Random but plausible SMPL motion: upright root, joint angles up to ~0.6 rad, walking
    translation 3-4 m in front of the camera."""
    rng = np.random.default_rng(seed)
    n = num_frames
    t = np.linspace(0.0, 1.0, n)[:, None]
    orient = UPRIGHT + rng.normal(0.0, 0.3, 3) * t + rng.normal(0.0, 0.05, (n, 3))
    body = rng.normal(0.0, 0.35, (1, 69)) + rng.normal(0.0, 0.15, (n, 69))
    transl = np.array([-0.5, 0.3, 3.5]) + np.array([1.0, 0.05, 0.5]) * t
    return TrackMotion(
        track_id=track_id,
        frame_ids=np.arange(n),
        global_orient=orient,
        body_pose=body,
        betas=np.zeros((n, 10)),
        cam_crop=np.tile([1.0, 0.0, 0.0], (n, 1)),
        bbox=np.tile([320.0, 240.0, 100.0, 200.0], (n, 1)),
        transl=transl,
        rest_joints=DEFAULT_REST_JOINTS,
        joints3d=np.zeros((n, 24, 3)),
        confidence=np.ones(n),
        filled=np.zeros(n, dtype=bool),
    )


def make_clip(tracks: list[TrackMotion] | None = None, fps: float = 30.0) -> MotionClip:
    tracks = [make_track()] if tracks is None else tracks
    frames = max((int(t.frame_ids.max()) + 1 for t in tracks), default=0)
    return MotionClip(
        fps=fps, frame_count=frames, width=640, height=480, tracks=tracks,
        source_name="walk video.mp4",
    )


def scene_snapshot() -> dict[str, list[str]]:
    """Names in the data collections a failed operation must leave untouched."""
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "actions": sorted(a.name for a in bpy.data.actions),
        "armatures": sorted(a.name for a in bpy.data.armatures),
        "meshes": sorted(m.name for m in bpy.data.meshes),
        "anim": sorted(
            f"{o.name}:{o.animation_data.action.name if o.animation_data and o.animation_data.action else ''}"
            for o in bpy.data.objects
        ),
    }


def world_heads(obj: object, names: list[str]) -> np.ndarray:
    """(len(names), 3) world positions of pose-bone heads at the current frame."""
    mw = np.array(obj.matrix_world)
    heads = np.array([tuple(obj.pose.bones[n].head) for n in names])
    return heads @ mw[:3, :3].T + mw[:3, 3]


def world_directions(obj: object, names: list[str]) -> np.ndarray:
    """(len(names), 3) unit head->tail world directions of pose bones at the current frame."""
    mw = np.array(obj.matrix_world)[:3, :3]
    d = np.array([tuple(obj.pose.bones[n].tail - obj.pose.bones[n].head) for n in names]) @ mw.T
    return d / np.linalg.norm(d, axis=1, keepdims=True)
