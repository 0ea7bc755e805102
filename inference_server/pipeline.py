"""The analysis pipeline: video in, one motion clip (.npz) with every person's SMPL motion out.

Two streaming passes over the video, never holding more than a small batch of frames:

1. ``decode -> detect (batched, every k-th frame) -> track``: boxes per person and frame;
2. ``decode -> crop the tracked boxes -> backend.encode_crops (batched)``: small per-frame
   features kept per track; then per track ``backend.solve_track`` (stage "pose"), the
   camera-space translation, and ``write_clip`` (stage "write").

:class:`Engine` keeps loaded models between jobs (the server holds one for its lifetime).
Progress goes to a callback as :class:`ProgressEvent`; ``should_cancel`` is polled between
batches and a cancelled job raises :class:`JobCancelled` before anything is written (the clip
is written atomically, so no partial file ever exists).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glot_blender.core.motion_clip import MotionClip, TrackMotion, file_fingerprint, write_clip

from . import __version__
from .backends.base import PoseBackend, TrackInput, TrackPose
from .camera import crop_cam_to_transl, resolve_focal
from .crop import crop_people
from .errors import (
    BackendUnavailableError,
    InvalidRequestError,
    JobCancelled,
    NoPersonError,
    VideoError,
)
from .registry import ModelRegistry

STAGES = ("decode", "detect", "track", "crop", "features", "pose", "write")
BACKENDS = ("auto", "glot", "lite")
#: frames handed to the detector per call (the demo's tracker batch is 12)
DETECT_BATCH = 8
#: progress events per stage are sent at most every this many frames (plus the last one)
PROGRESS_EVERY = 5

#: AnalyzeOptions fields that do not change the motion, so the clip does not record them
NOT_RECORDED = ("video", "output", "device", "models_dir")

ProgressCallback = Callable[["ProgressEvent"], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class AnalyzeOptions:
    """One analysis request (the CLI's and the protocol's options).

    start/end: video frame indices, end exclusive (None = to the end); stride: analyse every
    stride-th frame; backend "auto" | "glot" | "lite"; detector "auto" | "yolo" | "hog" | "onnx";
    device "auto" | "cpu" | "cuda" | "cuda:N" | "mps"; fov_deg (across the longer side) or
    focal_px for the camera-space translation; min_track_len: shorter tracks are dropped
    (analysed frames); detect_every: run the detector on every k-th analysed frame and track
    in between; keep_partial: use the frames before the damage of a truncated video.
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

    def recorded(self) -> dict[str, Any]:
        """The options that shape the result, as recorded in the clip (``analysis_options``):
        all but where the video and clip are and which device computed it."""
        values = asdict(self)
        for name in NOT_RECORDED:
            values.pop(name)
        return values


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units (frames, crops or tracks) of ``stage``; total None = unknown."""

    stage: str
    done: int
    total: int | None
    message: str = ""


@dataclass(frozen=True)
class TrackSummary:
    """One person in the written clip."""

    track_id: int
    num_frames: int
    first_frame: int
    last_frame: int
    filled_ratio: float
    mean_confidence: float


@dataclass
class AnalysisResult:
    """What an analysis produced: the clip path, the people in it, and how it was made.

    timings: seconds spent per stage (decode counts both passes).
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


@dataclass
class PersonTrack:
    """One followed person after pass 1 (tracker output), features filled in pass 2.

    frame_ids (N,) int64; bboxes (N,4) [cx,cy,w,h] square; filled (N,) bool; det_score (N,).
    """

    track_id: int
    frame_ids: np.ndarray
    bboxes: np.ndarray
    filled: np.ndarray
    det_score: np.ndarray
    features: np.ndarray | None = None


# --------------------------------------------------------------------------- job context


class _Job:
    """Per-analysis helpers: progress, cancellation, stage timings, notices."""

    def __init__(self, progress: ProgressCallback | None, should_cancel: CancelCheck | None):
        self._progress = progress
        self.should_cancel = should_cancel
        self.timings: dict[str, float] = {s: 0.0 for s in STAGES}
        self.notices: list[str] = []
        self._last: dict[str, int] = {}

    def check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise JobCancelled("The analysis was cancelled; no motion clip was written.")

    def report(self, stage: str, done: int, total: int | None, message: str = "",
               force: bool = False) -> None:
        if self._progress is None:
            return
        last = self._last.get(stage)
        final = total is not None and done >= total
        if force or final or last is None or done - last >= PROGRESS_EVERY or done < last:
            self._last[stage] = done
            self._progress(ProgressEvent(stage, int(done), total, message))

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - t0


def _timed_frames(job: _Job, frames: Iterator[tuple[int, np.ndarray]]
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """Wrap a frame iterator so decoding time is counted as the "decode" stage."""
    while True:
        with job.timed("decode"):
            item = next(frames, None)
        if item is None:
            return
        yield item


# --------------------------------------------------------------------------- engine


def resolve_device(name: str) -> str:
    """"auto" -> the best available device ("cuda:0", "mps" or "cpu"); others are checked."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        index = 0 if name == "cuda" else name.partition(":")[2]
        if not torch.cuda.is_available():
            raise InvalidRequestError(
                f"device '{name}' was asked for but torch sees no CUDA GPU here: use --device cpu "
                "or auto, or install a CUDA build of torch"
            )
        if not str(index).isdigit() or int(index) >= torch.cuda.device_count():
            raise InvalidRequestError(
                f"device '{name}' does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)"
            )
        return f"cuda:{int(index)}"
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidRequestError("device 'mps' is not available here: use cpu or auto")
        return "mps"
    raise InvalidRequestError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps")


def _validate(options: AnalyzeOptions) -> None:
    checks = (
        (options.stride >= 1, f"stride must be 1 or more, got {options.stride}"),
        (options.detect_every >= 1, f"detect_every must be 1 or more, got {options.detect_every}"),
        (options.min_track_len >= 1, f"min_track_len must be 1 or more, got {options.min_track_len}"),
        (options.start >= 0, f"start must be 0 or more, got {options.start}"),
        (options.end is None or options.end > options.start,
         f"end ({options.end}) must be after start ({options.start}); end is exclusive"),
        (options.backend in BACKENDS,
         f"unknown backend '{options.backend}': choose one of {', '.join(BACKENDS)}"),
        (Path(options.output).suffix == ".npz",
         f"the output '{Path(options.output).name}' must be a .npz motion clip file"),
    )
    for ok, message in checks:
        if not ok:
            raise InvalidRequestError(message)


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
    cls = module.LiteBackend
    factory = getattr(cls, "from_registry", None)
    if factory is not None:
        return factory(registry, device)
    # BlazePose runs on the CPU through mediapipe: the device does not apply
    return cls(device=device) if "device" in inspect.signature(cls).parameters else cls()


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

    # -- description --------------------------------------------------------------------
    def registry(self, models_dir: Path | str | None = None) -> ModelRegistry:
        return ModelRegistry(models_dir if models_dir is not None else self.models_dir)

    def describe(self) -> dict:
        """For the server's ``initialize``: devices and {backend: {ready, missing}}."""
        import torch

        report = self.registry().report()
        devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
        backends = {
            name: {"ready": rep.ready, "missing": rep.missing}
            for name, rep in report.items()
            if name in BACKEND_LOADERS
        }
        lite_ok = importlib.util.find_spec("inference_server.backends.lite_backend") is not None
        if not lite_ok:
            backends["lite"] = {"ready": False, "missing": ["inference_server lite backend"]}
        detectors = {"hog": {"ready": True, "missing": []},
                     "yolo": {"ready": report["yolo"].ready, "missing": report["yolo"].missing}}
        return {
            "devices": devices,
            "default_device": resolve_device("auto"),
            "backends": backends,
            "detectors": detectors,
            "body_model": {"ready": report["body"].ready, "missing": report["body"].missing},
            "models_dirs": [str(d) for d in self.registry().search_dirs],
        }

    # -- model caches -------------------------------------------------------------------
    def _choose_backend(self, name: str, registry: ModelRegistry, job: _Job) -> str:
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

        files = tuple(str(registry.find(n)) for n in ("yolov3.cfg", "yolov3.weights"))
        key = files
        cached = self._detectors.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        det = make_detector(name, registry)
        self._detectors[name] = (key, det)
        return det

    # -- the analysis --------------------------------------------------------------------
    def analyze(self, options: AnalyzeOptions, progress: ProgressCallback | None = None,
                should_cancel: CancelCheck | None = None) -> AnalysisResult:
        """Analyse one video and write its motion clip to ``options.output``.

        Raises VideoError, NoPersonError, ModelFileError, BackendUnavailableError,
        InvalidRequestError or JobCancelled (never leaving a partial output file).
        """
        from .video import open_video

        _validate(options)
        job = _Job(progress, should_cancel)
        info = open_video(options.video)
        job.notices.extend(info.notices)
        focal = resolve_focal(info.width, info.height, options.fov_deg, options.focal_px)
        registry = self.registry(options.models_dir)
        device = resolve_device(self.device if options.device == "auto" else options.device)
        backend_name = self._choose_backend(options.backend, registry, job)
        backend = self.backend(backend_name, registry, device)
        detector = self.detector(options.detector, registry)
        job.check_cancel()

        people = find_people(options, info, detector, job)
        encode_people(options, people, backend, job)
        motions = solve_people(people, backend, info.width, info.height, focal, job)
        clip = _make_clip(options, info, motions, backend, focal)
        job.check_cancel()
        with job.timed("write"):
            path = write_clip(options.output, clip)
        job.report("write", 1, 1, force=True)
        return AnalysisResult(
            path=Path(path),
            tracks=[_summary(t) for t in motions],
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
        )


def _present(registry: ModelRegistry, backend: str) -> dict[str, Path]:
    rep = registry.backend_report(backend) if backend in registry.files else None
    if rep is None:
        return {}
    return {f.file.name: f.path for f in rep.files if f.path is not None}


# --------------------------------------------------------------------------- pass 1


def find_people(options: AnalyzeOptions, info, detector, job: _Job) -> list[PersonTrack]:
    """Pass 1: decode, detect (batched, every ``detect_every``-th frame), track.

    Only the frames of one detector batch are held at a time. Raises NoPersonError when no
    track reaches ``min_track_len``.
    """
    from .track import Tracker, TrackerConfig, is_detection_step
    from .video import frame_range, iter_frames

    wanted = frame_range(info, options.start, options.end, options.stride)
    total = len(wanted)
    tracker = Tracker(TrackerConfig(min_track_len=options.min_track_len))
    queue: list[tuple[int, np.ndarray | None]] = []  # (frame index, frame or None) in order
    pending = 0
    done = 0
    job.report("decode", 0, total, f"{info.width}x{info.height}, {info.fps:g} fps, "
               f"{total} frame(s) to analyse", force=True)

    def flush() -> None:
        nonlocal done
        frames = [f for _, f in queue if f is not None]
        with job.timed("detect"):
            dets = iter(detector.detect(frames)) if frames else iter(())
        with job.timed("track"):
            for idx, frame in queue:
                tracker.update(idx, next(dets) if frame is not None else None)
        done += len(queue)
        queue.clear()
        job.report("detect", done, total)
        job.check_cancel()

    frames = iter_frames(info.path, options.start, options.end, options.stride,
                         keep_partial=options.keep_partial, notices=job.notices)
    for k, (idx, frame) in enumerate(_timed_frames(job, frames)):
        detect_now = is_detection_step(k, total, options.detect_every)
        queue.append((idx, frame if detect_now else None))
        pending += detect_now
        if pending >= DETECT_BATCH:
            flush()
            pending = 0
    if queue:
        flush()
    with job.timed("track"):
        tracks = tracker.finish()
    job.report("track", len(tracks), len(tracks), force=True)
    if not tracks:
        raise NoPersonError(
            f"no person was followed for at least {options.min_track_len} analysed frames in "
            f"frames {wanted.start}..{wanted.stop - 1} of {info.path.name}: check that people "
            "are fully visible and large enough, try --detector yolo, or lower --min-track-len"
        )
    return [
        PersonTrack(int(t.track_id), np.asarray(t.frame_ids, np.int64),
                    np.asarray(t.bboxes, np.float32), np.asarray(t.filled, bool),
                    _scores(t.frame_ids, t.det_score, t.observed, t.filled))
        for t in tracks
    ]


def _scores(frame_ids: np.ndarray, det_score: np.ndarray, observed: np.ndarray,
            filled: np.ndarray) -> np.ndarray:
    """(N,) float32 detector scores; frames the detector skipped (detect_every > 1, neither
    observed nor filled) get the score interpolated from the observed frames around them."""
    score = np.asarray(det_score, np.float32).copy()
    skipped = ~np.asarray(observed, bool) & ~np.asarray(filled, bool)
    seen = np.asarray(observed, bool)
    if skipped.any() and seen.any():
        score[skipped] = np.interp(frame_ids[skipped], frame_ids[seen], score[seen])
    return score


# --------------------------------------------------------------------------- pass 2


def encode_people(options: AnalyzeOptions, people: list[PersonTrack], backend: PoseBackend,
                  job: _Job) -> None:
    """Pass 2: decode again, crop each tracked box, encode crops in batches into ``features``."""
    from .video import iter_frames

    rows: dict[int, list[tuple[int, int]]] = {}
    for p, person in enumerate(people):
        for r, f in enumerate(person.frame_ids.tolist()):
            rows.setdefault(f, []).append((p, r))
    total = sum(len(v) for v in rows.values())
    first, last = min(rows), max(rows)
    batch_crops: list[np.ndarray] = []
    batch_slots: list[tuple[int, int]] = []
    done = 0

    def flush() -> None:
        nonlocal done
        crops = np.concatenate(batch_crops)
        with job.timed("features"):
            feats = backend.encode_crops(crops)
        for (p, r), feat in zip(batch_slots, feats):
            person = people[p]
            if person.features is None:
                person.features = np.zeros((len(person.frame_ids), feat.shape[-1]), np.float32)
            person.features[r] = feat
        done += len(batch_slots)
        batch_crops.clear()
        batch_slots.clear()
        job.report("features", done, total)
        job.check_cancel()

    # the same stride grid as pass 1, limited to the frames that hold a tracked person
    start = options.start + ((first - options.start) // options.stride) * options.stride
    frames = iter_frames(options.video, start, last + 1, options.stride,
                         keep_partial=options.keep_partial)
    job.report("features", 0, total, f"{len(people)} person(s), {total} crops", force=True)
    for idx, frame in _timed_frames(job, frames):
        slots = rows.get(idx)
        if not slots:
            continue
        with job.timed("crop"):
            boxes = np.stack([people[p].bboxes[r] for p, r in slots])
            batch_crops.append(crop_people(frame, boxes, backend.crop_scale, backend.crop_size))
        batch_slots.extend(slots)
        if len(batch_slots) >= backend.batch_size:
            flush()
    if batch_slots:
        flush()
    if done < total:
        raise VideoError(
            f"{Path(options.video).name} gave fewer frames on the second reading ({done} of "
            f"{total} crops): the file may have changed during the analysis; run it again"
        )


def solve_people(people: list[PersonTrack], backend: PoseBackend, width: int, height: int,
                 focal: float, job: _Job) -> list[TrackMotion]:
    """Per track: backend.solve_track, then the camera-space translation (stage "pose")."""
    motions = []
    for i, person in enumerate(people):
        job.check_cancel()
        track = TrackInput(person.track_id, person.frame_ids, person.bboxes, person.features,
                           person.filled, person.det_score)
        with job.timed("pose"):
            pose = backend.solve_track(track, should_cancel=job.should_cancel)
            transl = crop_cam_to_transl(pose.cam_crop, person.bboxes, width, height, focal,
                                        backend.crop_scale)
        motions.append(_motion(person, pose, transl))
        person.features = None  # no longer needed
        job.report("pose", i + 1, len(people), force=True)
    return motions


def _motion(person: PersonTrack, pose: TrackPose, transl: np.ndarray) -> TrackMotion:
    return TrackMotion(
        track_id=person.track_id, frame_ids=person.frame_ids,
        global_orient=pose.global_orient, body_pose=pose.body_pose, betas=pose.betas,
        cam_crop=pose.cam_crop, bbox=person.bboxes, transl=transl,
        rest_joints=pose.rest_joints, joints3d=pose.joints3d, confidence=pose.confidence,
        filled=person.filled,
    )


# --------------------------------------------------------------------------- output


def software_versions() -> dict[str, str]:
    import cv2
    import torch

    return {"glot-mocap": __version__, "torch": torch.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__}


def _make_clip(options: AnalyzeOptions, info, motions: list[TrackMotion], backend: PoseBackend,
               focal: float) -> MotionClip:
    from .video import frame_range

    name, size, sha = file_fingerprint(info.path)
    wanted = frame_range(info, options.start, options.end, options.stride)
    return MotionClip(
        fps=info.fps / options.stride, frame_count=len(wanted), width=info.width,
        height=info.height, tracks=motions, start_frame=wanted.start, frame_step=options.stride,
        focal_px=focal, source_name=name, source_size=size, source_sha256=sha,
        backend=backend.name, checkpoint_sha256=backend.checkpoint_sha256(),
        software=software_versions(), analysis_options=options.recorded(),
    )


def _summary(t: TrackMotion) -> TrackSummary:
    return TrackSummary(t.track_id, t.num_frames, int(t.frame_ids[0]), int(t.frame_ids[-1]),
                        t.filled_ratio, float(t.confidence.mean()))
