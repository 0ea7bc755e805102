"""Stage "world": the camera's path, the floor and everyone's world motion
(:mod:`inference_server.world`), from the camera solve of pass 1."""

from __future__ import annotations

from glot_blender.core.motion_clip import MotionClip

from ..camera_motion import CameraMotionTracker
from ..world import ground_clip
from .context import JobContext


def ground_motion(clip: MotionClip, camera: CameraMotionTracker, job: JobContext) -> MotionClip:
    """The clip with its camera trajectory and world motion; fallbacks become notices."""
    job.check_cancel()
    with job.timed("world"):
        clip, notices = ground_clip(clip, camera.finish(clip.frame_count))
    job.notices.extend(notices)
    return clip
