"""The values a motion clip may hold, checked when a clip is read (numpy + stdlib).

A clip is a file people open and share; one with a NaN frame rate, a negative frame count,
an infinite box or a person listed twice must be refused with one sentence when it is read,
not end in a traceback deep inside the Blender import. Shapes are checked on the npy
headers by :mod:`.motion_clip` (before anything is decompressed); the values are checked
here, on the clip built from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .motion_clip import MotionClip, TrackMotion

#: more analysed frames than this is a damaged file (four days at 30 fps)
MAX_FRAMES = 10_000_000
#: more people than this is a damaged file
MAX_TRACKS = 10_000
#: frame rates outside (0, MAX_FPS] are damaged values
MAX_FPS = 1000.0
#: image sides beyond this are damaged values
MAX_SIDE_PX = 100_000
#: largest text value (software versions, options JSON, names) read, bytes
MAX_TEXT_BYTES = 1 << 20
#: largest single array read (a MAX_FRAMES-frame joints3d), bytes
MAX_MEMBER_BYTES = MAX_FRAMES * 24 * 3 * 4


class MotionClipError(ValueError):
    """A motion clip file that cannot be read or written; the message says why."""


def _finite_between(value: Any, lo: float, hi: float) -> bool:
    try:
        return math.isfinite(value) and lo <= value <= hi
    except (TypeError, OverflowError):
        return False


def check_counts(values: Mapping[str, Any], name: str) -> None:
    """The clip's scalars (fps, frame_count, start_frame, frame_step, width, height, focal_px,
    source_size) are in range; MotionClipError naming the first that is not."""
    rules = (
        ("fps", 1e-6, MAX_FPS, "frames per second"),
        ("frame_count", 0, MAX_FRAMES, "frames"),
        ("start_frame", 0, MAX_FRAMES, "the first frame index"),
        ("frame_step", 1, MAX_FRAMES, "the stride between frames"),
        ("width", 1, MAX_SIDE_PX, "pixels"),
        ("height", 1, MAX_SIDE_PX, "pixels"),
        ("focal_px", 0.0, 1e7, "pixels (0: unknown)"),
        ("source_size", 0, 2**62, "bytes"),
    )
    for key, lo, hi, unit in rules:
        if key in values and not _finite_between(values[key], lo, hi):
            raise MotionClipError(f"'{name}': {key} = {values[key]!r:.40} is not a valid value "
                                  f"({unit}, {lo:g} to {hi:g}): the file is damaged")


def _check_track(track: TrackMotion, frame_count: int, frame_step: int, name: str) -> None:
    ids = track.frame_ids
    where = f"'{name}': person {track.track_id}"
    if ids[0] < 0 or ids[-1] >= MAX_FRAMES * frame_step:
        raise MotionClipError(f"{where} has frame ids outside 0..{MAX_FRAMES * frame_step - 1}")
    span = (int(ids[-1]) - int(ids[0])) // frame_step
    if span >= max(frame_count, 1):
        raise MotionClipError(f"{where} spans {span + 1} analysed frames, more than the clip's "
                              f"{frame_count}: its frame ids are damaged")
    for field in ("cam_crop", "bbox", "confidence"):
        if not np.all(np.isfinite(getattr(track, field))):
            raise MotionClipError(f"{where}: '{field}' contains NaN or infinity")
    if np.any(track.confidence < 0.0) or np.any(track.confidence > 1.0):
        raise MotionClipError(f"{where}: 'confidence' must lie in 0..1")
    for field in ("world_transl", "world_orient"):
        value = getattr(track, field, None)
        if value is not None and not np.all(np.isfinite(value)):
            raise MotionClipError(f"{where}: '{field}' contains NaN or infinity")


def check_clip_values(clip: MotionClip, name: str) -> None:
    """Every value of a clip read from ``name`` is usable; MotionClipError naming the first
    that is not (see the module docstring)."""
    check_counts({key: getattr(clip, key) for key in (
        "fps", "frame_count", "start_frame", "frame_step", "width", "height", "focal_px",
        "source_size")}, name)
    ids = [t.track_id for t in clip.tracks]
    if len(set(ids)) != len(ids):
        raise MotionClipError(f"'{name}' lists a person id twice: {ids[:20]}")
    for track in clip.tracks:
        _check_track(track, clip.frame_count, clip.frame_step, name)
