"""The options of one analysis, shared by the CLI, the server and the pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: AnalyzeOptions fields that do not change the motion, so the clip does not record them
NOT_RECORDED = ("video", "output", "device", "models_dir")


@dataclass(frozen=True)
class AnalyzeOptions:
    """One analysis request (the CLI's and the protocol's options).

    start/end: video frame indices, end exclusive (None = to the end); stride: analyse every
    stride-th frame; backend "auto" | "glot" | "lite"; detector one of detect.DETECTOR_NAMES;
    device "auto" | "cpu" | "cuda" | "cuda:N" | "mps"; fov_deg (across the longer side) or
    focal_px for the camera-space translation; min_track_len: shorter tracks are dropped
    (analysed frames); detect_every: run the detector on every k-th analysed frame and track
    in between; keep_partial: use the frames before the damage of a truncated video;
    refine: run the temporal solver over each track (False: the backend's own output, for
    GLoT exactly the official model's); world: solve the camera's motion and the floor and
    write everyone's world motion (motion clip version 2, docs/world.md).
    """

    video: Path | str
    output: Path | str
    start: int = 0
    end: int | None = None
    stride: int = 1
    backend: str = "auto"
    detector: str = "auto"
    device: str = "auto"
    fov_deg: float | None = None
    focal_px: float | None = None
    min_track_len: int = 25
    models_dir: Path | str | None = None
    detect_every: int = 1
    keep_partial: bool = False
    refine: bool = True
    world: bool = True

    def recorded(self) -> dict[str, Any]:
        """The options that shape the result, as recorded in the clip (``analysis_options``):
        all but where the video and clip are and which device computed it."""
        values = asdict(self)
        for name in NOT_RECORDED:
            values.pop(name)
        return values
