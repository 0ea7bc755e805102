"""The motion clip file: the one format shared by the server, the command line and Blender.

One ``.npz`` per analysis, readable with ``np.load(path, allow_pickle=False)``. This module
is the only place that knows the schema; it imports numpy and the standard library only, so
the inference server, the command line and the Blender extension all use this same code.

Layout (schema ``"glot-motion/2"``; ``read_clip`` also reads ``"glot-motion/1"``, which is
version 2 without the world-grounding keys marked (v2) below)::

    schema              str      "glot-motion/2"
    fps                 float    frames per second of the analysed frames
    frame_count         int      number of analysed video frames (after range and stride)
    start_frame         int      first analysed video frame index
    frame_step          int      stride between analysed frames
    width, height       int      video size in pixels (after rotation metadata is applied)
    focal_px            float    focal length in pixels used for ``transl``
    source_name         str      video file name (no folder)
    source_size         int      video file size in bytes
    source_sha256       str      sha256 of the video's first MiB
    backend             str      "glot" | "lite" | ...
    checkpoint_sha256   str      sha256 of the model checkpoint ("" when not applicable)
    software            str      JSON object: name -> version
    created             str      ISO-8601 UTC creation time
    analysis_options    str      JSON object: the options that shaped the result (range, stride,
                                 backend, detector, ...); optional, ``{}`` when absent
    tracks              int64 (P,)   person ids
    track_<ID>/frame_ids      int64   (N,)      video frame index of each row
    track_<ID>/global_orient  float32 (N,3)     axis-angle, SMPL convention
    track_<ID>/body_pose      float32 (N,69)    axis-angle of joints 1..23
    track_<ID>/betas          float32 (N,10)
    track_<ID>/cam_crop       float32 (N,3)     weak-perspective crop camera [s, tx, ty]
    track_<ID>/bbox           float32 (N,4)     [cx, cy, w, h] in pixels
    track_<ID>/transl         float32 (N,3)     camera-space root translation in metres
    track_<ID>/rest_joints    float32 (24,3)    SMPL rest joints for the track's shape
    track_<ID>/joints3d       float32 (N,24,3)  posed SMPL joints (root-relative model space)
    track_<ID>/confidence     float32 (N,)      0..1
    track_<ID>/filled         bool    (N,)      True where the frame was filled across a gap
    track_<ID>/refined        bool    ()        optional: the temporal solver ran on the track
                                                and its motion is the solver's (absent: it did
                                                not run, e.g. ``--no-refine`` or older clips)
    track_<ID>/refine_error_px float64 ()       optional, beside ``refined``: the solver's final
                                                mean 2D error in pixels (NaN: no 2D evidence)
  world grounding (v2; all of them or none, written when the analysis solved the camera):
    camera_rotation     float64 (F,3,3)  world-from-camera per analysed frame (video camera
                                         frame: x right, y down, z forward; F = frame_count)
    camera_position     float64 (F,3)    camera centre in the world, metres
    camera_motion       str      "static" | "turning" | "moving"
    camera_rotation_deg float    total turning over the clip (sum of frame-to-frame angles)
    world_up            str      "floor" (fitted to the feet) | "level" (camera held level)
    floor_residual_m    float    RMS distance of the feet's contact points to the floor (-1: no fit)
    track_<ID>/world_transl   float32 (N,3)  SMPL translation in the world frame (z up, floor
                                             z = 0), metres
    track_<ID>/world_orient   float32 (N,3)  SMPL root axis-angle in the world frame
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .clip_values import (
    MAX_MEMBER_BYTES,
    MAX_TEXT_BYTES,
    MAX_TRACKS,
    MotionClipError,
    check_clip_values,
    check_counts,
)
from .npz_archive import CheckedNpz
from .safe_files import display, file_kind, publishing

SCHEMA = "glot-motion/2"
#: schemas read_clip accepts (glot-motion/1: no world grounding; see docs/motion-clip.md)
READABLE_SCHEMAS = ("glot-motion/1", SCHEMA)
NUM_JOINTS = 24
NUM_BETAS = 10
HASH_PREFIX_BYTES = 1 << 20

# field name -> (trailing shape, dtype); the leading axis is N (frames) unless noted.
_TRACK_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "frame_ids": ((), "int64"),
    "global_orient": ((3,), "float32"),
    "body_pose": ((69,), "float32"),
    "betas": ((NUM_BETAS,), "float32"),
    "cam_crop": ((3,), "float32"),
    "bbox": ((4,), "float32"),
    "transl": ((3,), "float32"),
    "joints3d": ((NUM_JOINTS, 3), "float32"),
    "confidence": ((), "float32"),
    "filled": ((), "bool"),
}
_REST_FIELD = "rest_joints"  # (24, 3), no frame axis
#: per-track world-grounding fields (v2): present for every track or for none
_WORLD_FIELDS = ("world_transl", "world_orient")
#: video-level camera scalars (v2), with the CameraTrajectory attribute each one fills
_CAMERA_SCALARS: dict[str, tuple[str, type]] = {
    "camera_motion": ("kind", str),
    "camera_rotation_deg": ("total_rotation_deg", float),
    "world_up": ("up_source", str),
    "floor_residual_m": ("floor_residual_m", float),
}
#: optional per-track scalars written by the temporal solver (absent when it did not run)
_REFINED_FIELD = "refined"
_REFINE_ERROR_FIELD = "refine_error_px"

_SCALARS: dict[str, type] = {
    "fps": float,
    "frame_count": int,
    "start_frame": int,
    "frame_step": int,
    "width": int,
    "height": int,
    "focal_px": float,
    "source_name": str,
    "source_size": int,
    "source_sha256": str,
    "backend": str,
    "checkpoint_sha256": str,
    "software": str,
    "created": str,
    "analysis_options": str,
}
#: JSON-object scalars: written as JSON text, read back as dicts
_JSON_SCALARS = ("software", "analysis_options")
#: scalars older clips may lack, with the value read for them
_OPTIONAL_SCALARS: dict[str, Any] = {"analysis_options": "{}"}


@dataclass
class TrackMotion:
    """SMPL motion of one tracked person.

    Shapes: N = number of frames in the track.
    frame_ids (N,) int64; global_orient (N,3) and body_pose (N,69) axis-angle;
    betas (N,10); cam_crop (N,3) [s,tx,ty]; bbox (N,4) [cx,cy,w,h] px;
    transl (N,3) m camera space; rest_joints (24,3) m; joints3d (N,24,3) m;
    confidence (N,) 0..1; filled (N,) bool; world_transl / world_orient (N,3) the SMPL
    translation and root axis-angle in the world frame, or None (no camera solve).
    confidence (N,) 0..1; filled (N,) bool; refined: whether the temporal solver refined the
    motion (None: it did not run); refine_error_px: its final mean 2D error (NaN: no 2D).
    """

    track_id: int
    frame_ids: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    cam_crop: np.ndarray
    bbox: np.ndarray
    transl: np.ndarray
    rest_joints: np.ndarray
    joints3d: np.ndarray
    confidence: np.ndarray
    filled: np.ndarray
    world_transl: np.ndarray | None = None
    world_orient: np.ndarray | None = None
    refined: bool | None = None
    refine_error_px: float = float("nan")

    def __post_init__(self) -> None:
        self.track_id = int(self.track_id)
        self.refined = None if self.refined is None else bool(self.refined)
        self.refine_error_px = float(self.refine_error_px)
        for name, (trailing, dtype) in _TRACK_FIELDS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        self.rest_joints = np.ascontiguousarray(self.rest_joints, dtype="float32")
        for name in _WORLD_FIELDS:
            if getattr(self, name) is not None:
                setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype="float32"))
        _validate_track(self)

    @property
    def num_frames(self) -> int:
        return int(self.frame_ids.shape[0])

    @property
    def poses(self) -> np.ndarray:
        """(N, 24, 3) axis-angle of all 24 SMPL joints (root first)."""
        return np.concatenate([self.global_orient, self.body_pose], axis=1).reshape(-1, 24, 3)

    @property
    def filled_ratio(self) -> float:
        return float(self.filled.mean()) if self.num_frames else 0.0

    @property
    def has_world(self) -> bool:
        return self.world_transl is not None and self.world_orient is not None


@dataclass
class CameraTrajectory:
    """The video camera's motion in the world (z up, floor at z = 0), one row per analysed
    frame: rotation (F,3,3) world-from-camera (video camera frame x right, y down, z forward),
    position (F,3) metres; kind "static" | "turning" | "moving"; total_rotation_deg;
    up_source "floor" | "level"; floor_residual_m (RMS, -1 when no floor was fitted)."""

    rotation: np.ndarray
    position: np.ndarray
    kind: str = "static"
    total_rotation_deg: float = 0.0
    up_source: str = "level"
    floor_residual_m: float = -1.0

    def __post_init__(self) -> None:
        self.rotation = np.ascontiguousarray(self.rotation, dtype=np.float64)
        self.position = np.ascontiguousarray(self.position, dtype=np.float64)


@dataclass
class MotionClip:
    """One analysed video: its metadata and the motion of every person found."""

    fps: float
    frame_count: int
    width: int
    height: int
    tracks: list[TrackMotion] = field(default_factory=list)
    start_frame: int = 0
    frame_step: int = 1
    focal_px: float = 0.0
    source_name: str = ""
    source_size: int = 0
    source_sha256: str = ""
    backend: str = ""
    checkpoint_sha256: str = ""
    software: dict[str, str] = field(default_factory=dict)
    created: str = ""
    analysis_options: dict[str, Any] = field(default_factory=dict)
    camera: CameraTrajectory | None = None

    def track(self, track_id: int) -> TrackMotion:
        for t in self.tracks:
            if t.track_id == int(track_id):
                return t
        raise KeyError(f"the motion clip has no person with id {track_id}")

    @property
    def track_ids(self) -> list[int]:
        return [t.track_id for t in self.tracks]

    @property
    def has_world(self) -> bool:
        """True when the analysis solved the camera: every person has world motion."""
        return self.camera is not None


def file_fingerprint(path: str | os.PathLike[str]) -> tuple[str, int, str]:
    """(file name, size in bytes, sha256 hex of the first MiB) of a file."""
    p = Path(path)
    with p.open("rb") as fh:
        digest = hashlib.sha256(fh.read(HASH_PREFIX_BYTES)).hexdigest()
    return p.name, p.stat().st_size, digest


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _validate_track(t: TrackMotion) -> None:
    n = t.frame_ids.shape[0] if t.frame_ids.ndim == 1 else -1
    if n < 1:
        raise MotionClipError(f"track {t.track_id}: frame_ids must be a non-empty 1-D array")
    for name, (trailing, _dtype) in _TRACK_FIELDS.items():
        arr = getattr(t, name)
        if arr.shape != (n, *trailing):
            raise MotionClipError(
                f"track {t.track_id}: '{name}' has shape {arr.shape}, expected {(n, *trailing)}"
            )
    if t.rest_joints.shape != (NUM_JOINTS, 3):
        raise MotionClipError(
            f"track {t.track_id}: 'rest_joints' has shape {t.rest_joints.shape}, expected (24, 3)"
        )
    for name in ("global_orient", "body_pose", "betas", "transl", "joints3d", "rest_joints"):
        if not np.all(np.isfinite(getattr(t, name))):
            raise MotionClipError(f"track {t.track_id}: '{name}' contains NaN or infinity")
    if np.any(np.diff(t.frame_ids) <= 0):
        raise MotionClipError(f"track {t.track_id}: frame_ids must be strictly increasing")
    _validate_world_track(t, n)


def _validate_world_track(t: TrackMotion, n: int) -> None:
    present = [getattr(t, name) is not None for name in _WORLD_FIELDS]
    if any(present) and not all(present):
        raise MotionClipError(f"track {t.track_id}: world_transl and world_orient go together")
    for name in _WORLD_FIELDS if all(present) else ():
        arr = getattr(t, name)
        if arr.shape != (n, 3):
            raise MotionClipError(
                f"track {t.track_id}: '{name}' has shape {arr.shape}, expected {(n, 3)}")
        if not np.all(np.isfinite(arr)):
            raise MotionClipError(f"track {t.track_id}: '{name}' contains NaN or infinity")


def _validate_camera(clip: MotionClip) -> None:
    """A camera solve matches the frame count, is finite and orthonormal, and comes with
    world motion for every person."""
    cam = clip.camera
    if cam is None:
        if any(t.has_world for t in clip.tracks):
            raise MotionClipError("people have world motion but the clip has no camera solve")
        return
    f = int(clip.frame_count)
    if cam.rotation.shape != (f, 3, 3) or cam.position.shape != (f, 3):
        raise MotionClipError(
            f"camera_rotation {cam.rotation.shape} / camera_position {cam.position.shape} must "
            f"be ({f}, 3, 3) / ({f}, 3): one per analysed frame")
    if not (np.all(np.isfinite(cam.rotation)) and np.all(np.isfinite(cam.position))):
        raise MotionClipError("the camera solve contains NaN or infinity")
    gram = np.einsum("fji,fjk->fik", cam.rotation, cam.rotation)
    if f and np.abs(gram - np.eye(3)).max() > 1e-4:
        raise MotionClipError("camera_rotation holds matrices that are not rotations")
    missing = [t.track_id for t in clip.tracks if not t.has_world]
    if missing:
        raise MotionClipError(f"people {missing} lack world_transl/world_orient")


def _to_arrays(clip: MotionClip) -> dict[str, np.ndarray]:
    ids = [t.track_id for t in clip.tracks]
    if len(set(ids)) != len(ids):
        raise MotionClipError(f"duplicate person ids in the clip: {ids}")
    arrays: dict[str, np.ndarray] = {"schema": np.array(SCHEMA)}
    for name, kind in _SCALARS.items():
        value: Any = getattr(clip, name)
        if name in _JSON_SCALARS:
            value = json.dumps(value, sort_keys=True)
        elif name == "created" and not value:
            value = now_iso()
        arrays[name] = np.array(kind(value))
    arrays["tracks"] = np.asarray(ids, dtype=np.int64).reshape(-1)
    for t in clip.tracks:
        _validate_track(t)
        prefix = f"track_{t.track_id}/"
        for name in (*_TRACK_FIELDS, _REST_FIELD):
            arrays[prefix + name] = getattr(t, name)
        if t.refined is not None:
            arrays[prefix + _REFINED_FIELD] = np.array(t.refined)
            arrays[prefix + _REFINE_ERROR_FIELD] = np.array(t.refine_error_px, dtype=np.float64)
    arrays.update(_camera_arrays(clip))
    return arrays


def _camera_arrays(clip: MotionClip) -> dict[str, np.ndarray]:
    """The v2 world-grounding keys ({} for a clip without a camera solve)."""
    _validate_camera(clip)
    cam = clip.camera
    if cam is None:
        return {}
    out = {"camera_rotation": cam.rotation, "camera_position": cam.position}
    for key, (attr, kind) in _CAMERA_SCALARS.items():
        out[key] = np.array(kind(getattr(cam, attr)))
    for t in clip.tracks:
        for name in _WORLD_FIELDS:
            out[f"track_{t.track_id}/{name}"] = getattr(t, name)
    return out


def write_clip(path: str | os.PathLike[str], clip: MotionClip) -> Path:
    """Write ``clip`` to ``path`` atomically: through a temporary file in the same folder
    (:func:`.safe_files.publishing`), so a failed write leaves the previous file untouched."""
    target = Path(path)
    if target.suffix != ".npz":
        raise MotionClipError(f"motion clip files end in .npz, got '{target.name}'")
    arrays = _to_arrays(clip)
    with publishing(target, suffix=".npz") as temp, open(temp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return target


def _scalar(data: CheckedNpz, name: str, kind: type, path: Path) -> Any:
    if name not in data:
        raise MotionClipError(f"'{path.name}' is missing the key '{name}': not a complete motion clip")
    if data.header(name).shape != ():  # checked before anything is decompressed
        raise MotionClipError(f"'{path.name}': key '{name}' must be a single value")
    if kind is str and data.header(name).nbytes > MAX_TEXT_BYTES:
        raise MotionClipError(f"'{path.name}': key '{name}' is longer than {MAX_TEXT_BYTES} bytes")
    try:
        return kind(data[name].item())
    except (TypeError, ValueError, OverflowError) as exc:
        raise MotionClipError(f"'{path.name}': key '{name}' is not a {kind.__name__}") from exc


def _refine_fields(data: Any, prefix: str, p: Path) -> dict[str, Any]:
    """The optional solver fields of one track (none in older clips or without the solver)."""
    if prefix + _REFINED_FIELD not in data:
        return {}
    refined = _scalar(data, prefix + _REFINED_FIELD, bool, p)
    error_key = prefix + _REFINE_ERROR_FIELD
    error = _scalar(data, error_key, float, p) if error_key in data else float("nan")
    return {"refined": refined, "refine_error_px": error}


def read_clip(path: str | os.PathLike[str]) -> MotionClip:
    """Read and fully validate a motion clip; raises :class:`MotionClipError` on any defect."""
    p = Path(path)
    if not p.exists():
        raise MotionClipError(f"motion clip '{display(p)}' does not exist")
    kind = file_kind(p)
    if kind is not None:
        raise MotionClipError(f"motion clip '{display(p)}' is {kind}, not a file")
    try:
        with CheckedNpz(p, MAX_MEMBER_BYTES) as data:
            clip = _from_npz(data, p)
        check_clip_values(clip, p.name)
        return clip
    except MotionClipError as exc:
        if p.name in str(exc):
            raise
        raise MotionClipError(f"'{display(p.name)}': {exc}") from exc
    except RecursionError as exc:
        raise MotionClipError(f"'{display(p.name)}' holds text nested too deeply to read") from exc
    except (OSError, ValueError, TypeError, OverflowError, KeyError, IndexError, MemoryError,
            zipfile.BadZipFile, EOFError) as exc:  # only MotionClipError leaves read_clip
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise MotionClipError(f"'{display(p.name)}' is not a readable motion clip "
                              f"({reason})") from exc


def _from_npz(data: Any, p: Path) -> MotionClip:
    schema = _scalar(data, "schema", str, p)
    if schema not in READABLE_SCHEMAS:
        raise MotionClipError(
            f"'{p.name}' has schema '{schema}', this version reads "
            f"{' and '.join(READABLE_SCHEMAS)}: update the add-on or re-run the analysis"
        )
    values = {}
    for name, kind in _SCALARS.items():
        missing_optional = name in _OPTIONAL_SCALARS and name not in data
        values[name] = _OPTIONAL_SCALARS[name] if missing_optional else _scalar(data, name, kind, p)
    for name in _JSON_SCALARS:
        try:
            values[name] = json.loads(values[name] or "{}")
        except (json.JSONDecodeError, RecursionError) as exc:
            raise MotionClipError(f"'{p.name}': '{name}' is not valid JSON (or nested too "
                                  "deeply)") from exc
        if not isinstance(values[name], dict):
            raise MotionClipError(f"'{p.name}': '{name}' is not a JSON object")
    check_counts(values, p.name)
    if "tracks" not in data:
        raise MotionClipError(f"'{p.name}' is missing the key 'tracks'")
    track_ids = _track_ids(data, p)
    tracks = []
    for tid in track_ids:
        _check_track_headers(data, f"track_{tid}/", int(values["frame_count"]), schema, p)
        fields = {}
        for name in (*_TRACK_FIELDS, _REST_FIELD):
            key = f"track_{tid}/{name}"
            if key not in data:
                raise MotionClipError(f"'{p.name}' is missing '{key}'")
            fields[name] = data[key]
        for name in _WORLD_FIELDS if schema != READABLE_SCHEMAS[0] else ():
            key = f"track_{tid}/{name}"
            if key in data:
                fields[name] = data[key]
        fields.update(_refine_fields(data, f"track_{tid}/", p))
        tracks.append(TrackMotion(track_id=int(tid), **fields))
    camera = _read_camera(data, p) if schema != READABLE_SCHEMAS[0] else None
    clip = MotionClip(tracks=tracks, camera=camera, **values)
    _validate_camera(clip)
    return clip


def _track_ids(data: CheckedNpz, p: Path) -> list[int]:
    """The person ids: a 1-D integer member of at most MAX_TRACKS distinct ids."""
    head = data.header("tracks")
    if len(head.shape) > 1 or head.dtype.kind not in "iu" or \
            (head.shape and head.shape[0] > MAX_TRACKS):
        raise MotionClipError(f"'{p.name}': 'tracks' must list at most {MAX_TRACKS} integer "
                              f"person ids, found {head.dtype.str} {head.shape}")
    ids = np.asarray(data["tracks"]).reshape(-1).tolist()
    if len(set(ids)) != len(ids):
        raise MotionClipError(f"'{p.name}' lists a person id twice: {ids[:20]}")
    return ids


def _check_track_headers(data: CheckedNpz, prefix: str, frame_count: int, schema: str,
                         p: Path) -> None:
    """Every array of one track has the shape the schema gives it, with N (its frames) at
    most ``frame_count``: checked on the npy headers, before anything is decompressed."""
    key = prefix + "frame_ids"
    if key not in data:
        raise MotionClipError(f"'{p.name}' is missing '{key}'")
    shape = data.header(key).shape
    n = shape[0] if len(shape) == 1 else -1
    if not 1 <= n <= max(frame_count, 1):
        raise MotionClipError(f"'{p.name}': '{key}' has shape {shape}: a track has 1 to "
                              f"frame_count ({frame_count}) frames")
    expected = {name: (n, *trailing) for name, (trailing, _) in _TRACK_FIELDS.items()}
    expected[_REST_FIELD] = (NUM_JOINTS, 3)
    if schema != READABLE_SCHEMAS[0]:
        expected.update({name: (n, 3) for name in _WORLD_FIELDS})
    for name, want in expected.items():
        key = prefix + name
        if key in data and data.header(key).shape != want:
            raise MotionClipError(f"'{p.name}': '{key}' has shape {data.header(key).shape}, "
                                  f"expected {want}")


def _read_camera(data: Any, p: Path) -> CameraTrajectory | None:
    """The v2 camera solve, None when the clip has none (a v2 clip without world grounding)."""
    if "camera_rotation" not in data:
        return None
    if "camera_position" not in data:
        raise MotionClipError(f"'{p.name}' has camera_rotation but no camera_position")
    frames = max(int(_scalar(data, "frame_count", int, p)), 1)
    for key, trailing in (("camera_rotation", (3, 3)), ("camera_position", (3,))):
        shape = data.header(key).shape
        if len(shape) != 1 + len(trailing) or shape[1:] != trailing or shape[0] > frames:
            raise MotionClipError(f"'{p.name}': '{key}' has shape {shape}, expected "
                                  f"(frames, {', '.join(map(str, trailing))})")
    values = {attr: _scalar(data, key, kind, p) for key, (attr, kind) in _CAMERA_SCALARS.items()}
    return CameraTrajectory(np.asarray(data["camera_rotation"]),
                            np.asarray(data["camera_position"]), **values)
