"""The analysis pipeline: video in, one motion clip (.npz) with every person's SMPL motion out.

Two streaming passes over the video, never holding more than a small batch of frames:

1. ``decode -> detect (batched, every k-th frame) -> track``: boxes per person and frame
   (:mod:`.stages.people`);
2. ``decode -> crop the tracked boxes -> backend.encode_crops (batched)``: small per-frame
   features kept per track (:mod:`.stages.features`); then per track ``backend.solve_track``
   (stage "pose", :mod:`.stages.solve`), the camera-space translation, the temporal solver
   (stage "refine", :mod:`.stages.refine`, unless ``refine=False``), the camera's path, the
   floor and everyone's world motion from the camera solve that streamed in pass 1 (stages
   "camera" and "world", :mod:`.stages.world`, unless ``world=False``), and ``write_clip``
   (stage "write", :mod:`.stages.output`).

:class:`Engine` keeps loaded models between jobs (the server holds one for its lifetime).
Progress goes to a callback as :class:`ProgressEvent`; ``should_cancel`` is polled between
batches and a cancelled job raises :class:`JobCancelled` before anything is written (the clip
is written atomically, so no partial file ever exists).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from glot_blender.core.locations import YOLO_CFG, YOLO_WEIGHTS
from glot_blender.core.motion_clip import write_clip

from .backends.base import PoseBackend
from .camera import resolve_focal
from .camera_motion import CameraMotionTracker
from .devices import resolve_device
from .errors import BackendUnavailableError
from .options import AnalyzeOptions
from .registry import ModelRegistry
from .stages.check import check_people
from .stages.context import STAGES, CancelCheck, JobContext, ProgressCallback, ProgressEvent
from .stages.features import encode_people
from .stages.output import AnalysisResult, TrackSummary, make_clip, track_summary
from .stages.people import find_people
from .stages.refine import refine_people
from .stages.solve import solve_people
from .stages.world import ground_motion

__all__ = ["STAGES", "AnalysisResult", "AnalyzeOptions", "Engine", "ProgressEvent", "TrackSummary"]


def load_lite_backend(registry: ModelRegistry, device: str) -> PoseBackend:
    """The BlazePose "lite" backend (inference_server/backends/lite_backend.py), imported lazily."""
    try:
        module = importlib.import_module("inference_server.backends.lite_backend")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the lite backend cannot be loaded ({exc}): install the server's 'lite' extra "
            "(pip install 'glot-mocap[lite]'), or put the GLoT model files in place and use "
            "--backend glot"
        ) from exc
    # BlazePose runs on the CPU through mediapipe: neither the device nor a model file applies
    return module.LiteBackend()


def load_glot_backend(registry: ModelRegistry, device: str) -> PoseBackend:
    from .backends.glot_backend import GlotBackend

    return GlotBackend.from_registry(registry, device)


BACKEND_LOADERS: dict[str, Callable[[ModelRegistry, str], PoseBackend]] = {
    "glot": load_glot_backend,
    "lite": load_lite_backend,
}


class Engine:
    """Runs analyses, keeping loaded backends and detectors between jobs.

    models_dir: the default models folder (an option's ``models_dir`` overrides it);
    device: the default device when an option says "auto".
    """

    def __init__(self, models_dir: Path | str | None = None, device: str = "auto") -> None:
        self.models_dir = models_dir
        self.device = device
        self._backends: dict[str, tuple[tuple, PoseBackend]] = {}
        self._detectors: dict[str, tuple[tuple, object]] = {}
        self._crop_keypoints: tuple | None = None  # (model or None, notice or None)

    # -- description --------------------------------------------------------------------
    def registry(self, models_dir: Path | str | None = None) -> ModelRegistry:
        return ModelRegistry(models_dir if models_dir is not None else self.models_dir)

    def describe(self) -> dict:
        """For the server's ``initialize`` (which adds the device list): the default device,
        {backend: {ready, missing}}, the detectors, the body model and the models folders."""
        report = self.registry().report()
        backends = {
            name: {"ready": rep.ready, "missing": rep.missing}
            for name, rep in report.items()
            if name in BACKEND_LOADERS
        }
        from .blazepose.model import availability
        from .detect import auto_choice

        bp_ready, bp_why = availability()
        choice = auto_choice(self.registry())
        detectors = {"hog": {"ready": True, "missing": []},
                     "blazepose": {"ready": bp_ready, "missing": [] if bp_ready else [bp_why]},
                     "yolo": {"ready": report["yolo"].ready, "missing": report["yolo"].missing}}
        return {
            "default_device": resolve_device("auto"),
            "backends": backends,
            "detectors": detectors,
            "auto_detector": {"detector": choice.detector, "reason": choice.reason},
            "body_model": {"ready": report["body"].ready, "missing": report["body"].missing},
            "models_dirs": [str(d) for d in self.registry().search_dirs],
        }

    # -- model caches -------------------------------------------------------------------
    def _choose_backend(self, name: str, registry: ModelRegistry, job: JobContext) -> str:
        if name != "auto":
            return name
        glot = registry.backend_report("glot")
        if glot.ready:
            return "glot"
        job.notices.append(
            "GLoT model files are missing (" + ", ".join(glot.missing) + "), so the lite "
            f"backend was used; put them in {registry.primary_dir} for GLoT's quality "
            "(`glot-mocap models` lists what is needed)"
        )
        return "lite"

    def backend(self, name: str, registry: ModelRegistry, device: str) -> PoseBackend:
        """A loaded backend, reused while its files and device stay the same."""
        files = tuple(sorted((k, str(v)) for k, v in _present(registry, name).items()))
        key = (device, files)
        cached = self._backends.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._backends.pop(name, None)  # free the old one before loading
        backend = BACKEND_LOADERS[name](registry, device)
        self._backends[name] = (key, backend)
        return backend

    def detector(self, name: str, registry: ModelRegistry):
        from .detect import make_detector

        files = tuple(str(registry.find(n)) for n in (YOLO_CFG, YOLO_WEIGHTS))
        key = files
        cached = self._detectors.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        det = make_detector(name, registry)
        self._detectors[name] = (key, det)
        return det

    def crop_keypoints(self):
        """BlazePose on the crops for backends without 2D keypoints (loaded once), and the
        notice to give when it cannot run (refine.keypoints.make_crop_keypoints)."""
        if self._crop_keypoints is None:
            from .refine.keypoints import make_crop_keypoints

            self._crop_keypoints = make_crop_keypoints()
        return self._crop_keypoints

    # -- the analysis --------------------------------------------------------------------
    def analyze(self, options: AnalyzeOptions, progress: ProgressCallback | None = None,
                should_cancel: CancelCheck | None = None) -> AnalysisResult:
        """Analyse one video and write its motion clip to ``options.output``.

        Raises VideoError, NoPersonError, ModelFileError, BackendUnavailableError,
        InvalidRequestError or JobCancelled (never leaving a partial output file).
        """
        from .video import open_video

        options.check_paths()  # before a frame is decoded: the output is not the video, writable
        job = JobContext(progress, should_cancel)
        info = open_video(options.video)
        job.notices.extend(info.notices)
        focal = resolve_focal(info.width, info.height, options.fov_deg, options.focal_px)
        registry = self.registry(options.models_dir)
        device = resolve_device(self.device if options.device == "auto" else options.device)
        backend_name = self._choose_backend(options.backend, registry, job)
        backend = self.backend(backend_name, registry, device)
        detector = self.detector(options.detector, registry)
        if options.detector == "auto":
            from .detect import auto_choice

            notice = auto_choice(registry).notice
            if notice:
                job.notices.append(notice)
        job.check_cancel()

        keypoints = None
        if options.refine and not backend.has_keypoints_2d:
            keypoints, notice = self.crop_keypoints()
            if notice:
                job.notices.append(notice)
        camera = CameraMotionTracker(info.width, info.height, focal) if options.world else None
        people = find_people(options, info, detector, job, camera)
        encode_people(options, people, backend, job, keypoints)
        people = check_people(people, backend, job)
        motions = solve_people(people, backend, info.width, info.height, focal, job,
                               keep_keypoints=options.refine)
        if options.refine:
            motions = refine_people(people, motions, backend, info, focal,
                                    info.fps / options.stride, job)
        clip = make_clip(options, info, motions, backend, focal)
        if camera is not None:
            clip = ground_motion(clip, camera, job)
        job.check_cancel()
        with job.timed("write"):
            path = write_clip(options.output, clip)
        job.report("write", 1, 1, force=True)
        return AnalysisResult(
            path=Path(path),
            tracks=[replace(track_summary(t), upper_body=p.upper_body)
                    for t, p in zip(motions, people)],
            backend=backend_name,
            detector=getattr(detector, "name", options.detector),
            device=device,
            notices=job.notices,
            fps=clip.fps,
            frame_count=clip.frame_count,
            width=info.width,
            height=info.height,
            focal_px=focal,
            timings=job.timings,
            camera=clip.camera,
        )


def _present(registry: ModelRegistry, backend: str) -> dict[str, Path]:
    rep = registry.backend_report(backend) if backend in registry.files else None
    if rep is None:
        return {}
    return {f.file.name: f.path for f in rep.files if f.path is not None}
