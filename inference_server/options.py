"""The options of one analysis, shared by the CLI, the server and the pipeline.

:class:`AnalyzeOptions` checks itself when made: a wrong value raises
:class:`~inference_server.errors.InvalidRequestError` (JSON-RPC -32602, "invalid params")
naming the option, so the CLI, the server and the batch runner refuse the same things with
the same sentence. The backend and detector names are :mod:`glot_blender.core.protocol`'s;
the device is checked against this machine by :func:`inference_server.devices.resolve_device`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from glot_blender.core.protocol import BACKEND_NAMES, DETECTOR_NAMES

from .camera import check_camera
from .errors import InvalidRequestError

#: AnalyzeOptions fields that do not change the motion, so the clip does not record them
NOT_RECORDED = ("video", "output", "device", "models_dir")


@dataclass(frozen=True)
class AnalyzeOptions:
    """One analysis request (the CLI's and the protocol's options).

    start/end: video frame indices, end exclusive (None = to the end); stride: analyse every
    stride-th frame; backend one of BACKEND_NAMES; detector one of DETECTOR_NAMES;
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

    def __post_init__(self) -> None:
        checks = (
            (self.stride >= 1, f"stride must be 1 or more, got {self.stride}"),
            (self.detect_every >= 1, f"detect_every must be 1 or more, got {self.detect_every}"),
            (self.min_track_len >= 1,
             f"min_track_len must be 1 or more, got {self.min_track_len}"),
            (self.start >= 0, f"start must be 0 or more, got {self.start}"),
            (self.end is None or self.end > self.start,
             f"end ({self.end}) must be after start ({self.start}); end is exclusive"),
            (self.backend in BACKEND_NAMES,
             f"unknown backend '{self.backend}': choose one of {', '.join(BACKEND_NAMES)}"),
            (self.detector in DETECTOR_NAMES,
             f"unknown detector '{self.detector}': choose one of {', '.join(DETECTOR_NAMES)}"),
            (Path(self.output).suffix == ".npz",
             f"the output '{Path(self.output).name}' must be a .npz motion clip file"),
        )
        for ok, message in checks:
            if not ok:
                raise InvalidRequestError(message)
        check_camera(self.fov_deg, self.focal_px)

    def check_paths(self) -> None:
        """InvalidRequestError when the output is the video (same file, through links too) or
        cannot be written (a folder, a FIFO, a read-only folder, below a regular file): the
        CLI, the server and the pipeline ask this before any frame is decoded."""
        from .outputs import check_output_path

        check_output_path(self.output, self.video)

    def recorded(self) -> dict[str, Any]:
        """The options that shape the result, as recorded in the clip (``analysis_options``):
        all but where the video and clip are and which device computed it."""
        values = asdict(self)
        for name in NOT_RECORDED:
            values.pop(name)
        return values
