"""Writing many keyframes fast: one ``keyframe_points.add`` + ``foreach_set`` per F-curve.

Never one ``keyframe_insert`` per key: a 10-minute clip has 18,000 frames x 24 bones x
7 channels, and per-key insertion is orders of magnitude slower (see
``benchmarks/keyframes.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from .actions import ActionChannels, new_action_for

DEFAULT_INTERPOLATION = "LINEAR"
#: NTSC-style rates written as fps / fps_base (29.97 = 30 / 1.001)
NTSC_BASE = 1.001
FPS_MATCH_TOL = 1e-3


@dataclass(frozen=True)
class ChannelKeys:
    """Keys of one array property on one ID.

    data_path: e.g. ``'pose.bones["pelvis"].rotation_quaternion'``; values (N, C) for the
    property's first C components; group: F-curve group name (usually the bone name).
    """

    data_path: str
    values: np.ndarray
    group: str = ""


def interpolation_value(name: str) -> int:
    """Blender's integer value of the keyframe interpolation enum ``name`` (e.g. 'LINEAR')."""
    items = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items
    if name not in items:
        raise ValueError(f"unknown keyframe interpolation '{name}'; use one of {list(items.keys())}")
    return items[name].value


def write_fcurve(fcurve: object, frames: np.ndarray, values: np.ndarray, interp: int) -> None:
    """Append ``len(frames)`` keys to an F-curve in bulk. frames (N,), values (N,)."""
    n = int(frames.shape[0])
    points = fcurve.keyframe_points
    start = len(points)
    co = np.empty((start + n, 2), dtype=np.float32)
    ipo = np.full(start + n, interp, dtype=np.int32)
    if start:  # keep existing keys: read them back, then set old + new in one call
        points.foreach_get("co", co[:start].ravel())
        points.foreach_get("interpolation", ipo[:start])
    co[start:, 0] = frames
    co[start:, 1] = values
    points.add(n)
    points.foreach_set("co", co.ravel())
    points.foreach_set("interpolation", ipo)
    fcurve.update()


def write_channels(
    channels: ActionChannels,
    frames: np.ndarray,
    keys: Sequence[ChannelKeys],
    interpolation: str = DEFAULT_INTERPOLATION,
) -> int:
    """Write every channel's keys at ``frames`` (N,) into ``channels``; returns keys written."""
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    interp = interpolation_value(interpolation)
    total = 0
    for ck in keys:
        values = np.asarray(ck.values, dtype=np.float64).reshape(frames.shape[0], -1)
        for index in range(values.shape[1]):
            fc = channels.fcurve(ck.data_path, index, ck.group)
            write_fcurve(fc, frames, values[:, index], interp)
            total += frames.shape[0]
    return total


def action_name(source_name: str, track_id: int) -> str:
    """The action name for one person of one clip: ``'GLoT <video stem> P<id>'``."""
    stem = Path(source_name).stem if source_name else "clip"
    return f"GLoT {stem} P{int(track_id)}"


def new_action_with_keys(
    id_data: object,
    name: str,
    frames: np.ndarray,
    keys: Sequence[ChannelKeys],
    interpolation: str = DEFAULT_INTERPOLATION,
) -> object:
    """Create a new action on ``id_data`` holding ``keys``; returns the action."""
    channels = new_action_for(id_data, name)
    write_channels(channels, frames, keys, interpolation)
    action = channels.action
    action.use_frame_range = False
    return action


def set_scene_fps(scene: object, fps: float) -> None:
    """Set ``scene.render.fps``/``fps_base`` to ``fps`` (29.97 becomes 30 / 1.001)."""
    if not fps > 0:
        raise ValueError(f"the clip's frame rate must be positive, got {fps}")
    rounded = round(fps)
    if abs(fps - rounded) < FPS_MATCH_TOL:
        scene.render.fps, scene.render.fps_base = int(rounded), 1.0
        return
    ntsc = round(fps * NTSC_BASE)
    if abs(ntsc / NTSC_BASE - fps) < FPS_MATCH_TOL:
        scene.render.fps, scene.render.fps_base = int(ntsc), NTSC_BASE
        return
    scene.render.fps = max(1, int(np.ceil(fps)))
    scene.render.fps_base = scene.render.fps / fps
