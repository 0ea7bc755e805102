"""The motion clip of an analysis (with where it came from and how it was made) and the
summary of the people in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glot_blender.core.motion_clip import (
    CameraTrajectory,
    MotionClip,
    TrackMotion,
    file_fingerprint,
)

from .. import __version__
from ..backends.base import PoseBackend
from ..options import AnalyzeOptions


@dataclass(frozen=True)
class TrackSummary:
    """One person in the written clip."""

    track_id: int
    num_frames: int
    first_frame: int
    last_frame: int
    filled_ratio: float
    mean_confidence: float
    refined: bool | None = None
    refine_error_px: float = float("nan")
    #: only the upper body was in view: the legs are at rest, not estimated
    upper_body: bool = False


@dataclass
class AnalysisResult:
    """What an analysis produced: the clip path, the people in it, and how it was made.

    timings: seconds spent per stage (decode counts both passes); camera: the clip's camera
    trajectory (None when the analysis did not ground the motion in the world).
    """

    path: Path
    tracks: list[TrackSummary]
    backend: str
    detector: str
    device: str
    notices: list[str] = field(default_factory=list)
    fps: float = 0.0
    frame_count: int = 0
    width: int = 0
    height: int = 0
    focal_px: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    camera: CameraTrajectory | None = None


def software_versions() -> dict[str, str]:
    import cv2
    import torch

    return {"glot-mocap": __version__, "torch": torch.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__}


def make_clip(options: AnalyzeOptions, info, motions: list[TrackMotion], backend: PoseBackend,
               focal: float) -> MotionClip:
    from ..video import frame_range

    name, size, sha = file_fingerprint(info.path)
    wanted = frame_range(info, options.start, options.end, options.stride)
    return MotionClip(
        fps=info.fps / options.stride, frame_count=len(wanted), width=info.width,
        height=info.height, tracks=motions, start_frame=wanted.start, frame_step=options.stride,
        focal_px=focal, source_name=name, source_size=size, source_sha256=sha,
        backend=backend.name, checkpoint_sha256=backend.checkpoint_sha256(),
        software=software_versions(), analysis_options=options.recorded(),
    )


def track_summary(t: TrackMotion) -> TrackSummary:
    return TrackSummary(t.track_id, t.num_frames, int(t.frame_ids[0]), int(t.frame_ids[-1]),
                        t.filled_ratio, float(t.confidence.mean()), t.refined, t.refine_error_px)
