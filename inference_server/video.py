"""Streaming video decoding with OpenCV: one frame at a time, never all frames, never JPEG dumps.

``open_video(path)`` checks the file and returns a ``VideoInfo``; ``iter_frames(path, ...)``
yields ``(frame_index, BGR frame)`` for a frame range and stride. Rotation metadata of phone
videos (the mp4 display matrix, which OpenCV exposes as ``CAP_PROP_ORIENTATION_META``) is
applied, so frames come out upright and ``VideoInfo.width/height`` are the upright size.

Every failure a user can meet raises ``VideoError`` with one sentence naming the file: a
missing file, a file that is not a video, zero frames, an absurd size, or a video that stops
early (truncated/corrupt: the message names the last good frame). With ``keep_partial=True``
a video that stops early ends the iteration quietly after a notice instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from glot_blender.core.safe_files import display, file_kind

from .cv_names import opencv_name
from .errors import InvalidRequestError, VideoError

log = logging.getLogger(__name__)

MIN_SIDE_PX = 16  # smaller frames cannot hold a person worth analysing
MAX_SIDE_PX = 8192  # 8K; anything larger is almost certainly a broken header
MAX_FRAME_COUNT = 10_000_000  # ~4 days at 30 fps: a larger count is a broken header
MIN_FPS, MAX_FPS = 1.0, 1000.0  # outside this the container's rate is not trusted
FALLBACK_FPS = 30.0  # used (with a notice) when the container gives no usable rate
END_TOLERANCE_FRAMES = 1  # containers may overstate the frame count by this much
SEEK_MIN_FRAMES = 300  # starts at or after this frame seek instead of decoding forward
ROTATIONS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, checked.

    fps: the file's real frame rate (``FALLBACK_FPS`` if the file has none, see ``notices``).
    frame_count: frames in the file as the container states them.
    width, height: size of the frames ``iter_frames`` yields (after rotation), in pixels.
    rotation: clockwise degrees (0, 90, 180, 270) applied to every decoded frame.
    notices: human-readable remarks (e.g. a missing frame rate), empty when all is well.
    """

    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int = 0
    notices: tuple[str, ...] = ()


def _capture(path: Path) -> cv2.VideoCapture:
    """An opened VideoCapture with OpenCV's auto-rotation asked for, or VideoError."""
    if not path.exists():
        raise VideoError(f"Video file {display(path)} does not exist: check the path.")
    kind = file_kind(path)
    if kind is not None:
        raise VideoError(f"{display(path)} is {kind}, not a video file: pick the video file "
                         "itself.")
    with opencv_name(path, VideoError) as name:
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap = cv2.VideoCapture(name)
    if not cap.isOpened():
        raise VideoError(
            f"{path.name} is not a video OpenCV can read (unknown format, or a damaged or "
            "incomplete file): convert it to H.264 .mp4 and try again."
        )
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _rotation_of(cap: cv2.VideoCapture) -> tuple[int, bool]:
    """(clockwise rotation in degrees from the metadata, whether OpenCV already applies it)."""
    meta = cap.get(cv2.CAP_PROP_ORIENTATION_META)
    rotation = round(meta) % 360 if np.isfinite(meta) and abs(meta) <= 360 else 0
    if rotation not in ROTATIONS:
        return 0, True
    return rotation, cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1


def _upright(frame: np.ndarray, rotation: int, opencv_rotates: bool) -> np.ndarray:
    if rotation and not opencv_rotates:
        return cv2.rotate(frame, ROTATIONS[rotation])
    return frame


def open_video(path: Path | str) -> VideoInfo:
    """Open and check a video; decodes its first frame to be sure it is one.

    Raises VideoError for a missing file, a file that is not a video, a video without any
    frame and an absurd frame size or count.
    """
    path = Path(path)
    cap = _capture(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(
                f"{path.name} contains no frame that can be decoded (empty or damaged video)."
            )
        rotation, opencv_rotates = _rotation_of(cap)
        frame = _upright(frame, rotation, opencv_rotates)
        height, width = frame.shape[:2]
        _check_size(path, width, height)
        notices: list[str] = []
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if np.isfinite(count) and count > 0 else 0
        if count == 0:  # a stream without a frame count (raw MJPEG, some recorders)
            count = 1 + _count_remaining(cap)
            notices.append(
                f"{path.name} does not state its frame count; counted {count} frames by decoding."
            )
        if count > MAX_FRAME_COUNT:
            raise VideoError(
                f"{path.name} claims {count} frames, more than {MAX_FRAME_COUNT}: the file's "
                "header is probably damaged; re-encode it."
            )
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (MIN_FPS <= fps <= MAX_FPS):
            notices.append(
                f"{path.name} states no usable frame rate ({fps:g}); assuming {FALLBACK_FPS:g} fps."
            )
            fps = FALLBACK_FPS
        return VideoInfo(path, fps, count, width, height, rotation, tuple(notices))
    finally:
        cap.release()


def _count_remaining(cap: cv2.VideoCapture) -> int:
    """Frames left in the capture, counted by grabbing them (decodes, no colour conversion)."""
    n = 0
    while n <= MAX_FRAME_COUNT and cap.grab():
        n += 1
    return n


def _check_size(path: Path, width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE_PX:
        raise VideoError(
            f"{path.name} has tiny frames ({width}x{height} px, less than {MIN_SIDE_PX} px on "
            "a side): use the original video."
        )
    if max(width, height) > MAX_SIDE_PX:
        raise VideoError(
            f"{path.name} has frames of {width}x{height} px, larger than {MAX_SIDE_PX} px on a "
            "side: scale it down (e.g. to 1920 px) first."
        )


def frame_range(info: VideoInfo, start: int = 0, end: int | None = None, stride: int = 1) -> range:
    """The frame indices ``iter_frames`` will yield: start..end (exclusive), every stride-th.

    ``end=None`` (or past the end) means the last frame. Raises InvalidRequestError for a
    negative start, a stride below 1, or a range holding no frame of the video.
    """
    if stride < 1:
        raise InvalidRequestError(f"stride must be 1 or more, got {stride}.")
    if start < 0:
        raise InvalidRequestError(f"start frame must be 0 or more, got {start}.")
    stop = info.frame_count if end is None else min(end, info.frame_count)
    if start >= stop:
        raise InvalidRequestError(
            f"frame range start={start}, end={end} holds no frame of {info.path.name} "
            f"({info.frame_count} frames): pick a start below {info.frame_count} and an end "
            "after the start."
        )
    return range(start, stop, stride)


def iter_frames(
    path: Path | str,
    start: int = 0,
    end: int | None = None,
    stride: int = 1,
    *,
    keep_partial: bool = False,
    notices: list[str] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` for frames ``start, start+stride, ... < end``.

    frame: (H, W, 3) uint8 BGR, upright (rotation metadata applied).
    If the video stops before the frames its container announces (truncated or corrupt), a
    VideoError names the last good frame; with ``keep_partial=True`` a notice is logged and
    appended to ``notices`` instead, and the iteration simply ends.
    """
    info = open_video(path)
    wanted = frame_range(info, start, end, stride)
    cap = _capture(info.path)
    try:
        rotation, opencv_rotates = _rotation_of(cap)
        index = _skip_to(cap, wanted.start)
        last_good = index - 1
        for target in wanted:
            while index < target:  # stride: decode-skip without colour conversion
                if not cap.grab():
                    break
                last_good = index
                index += 1
            ok, frame = cap.read() if index == target else (False, None)
            if not ok or frame is None:
                _stopped_early(info, last_good, target, wanted, keep_partial, notices)
                return
            last_good = index
            index += 1
            yield target, _upright(frame, rotation, opencv_rotates)
    finally:
        cap.release()


def _skip_to(cap: cv2.VideoCapture, start: int) -> int:
    """Position the capture at frame ``start``; returns the index of the next frame read."""
    if start >= SEEK_MIN_FRAMES and cap.set(cv2.CAP_PROP_POS_FRAMES, start):
        if int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == start:
            return start
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    index = 0
    while index < start and cap.grab():
        index += 1
    return index


def _stopped_early(
    info: VideoInfo,
    last_good: int,
    target: int,
    wanted: range,
    keep_partial: bool,
    notices: list[str] | None,
) -> None:
    """Handle a read failure at ``target``: normal end, notice, or VideoError."""
    if target >= info.frame_count - END_TOLERANCE_FRAMES:
        return  # the container overstated its length by a frame: a normal end
    if keep_partial and last_good >= wanted.start:
        message = (
            f"{info.path.name} stops after frame {last_good} although it announces "
            f"{info.frame_count} frames (truncated or damaged); using frames "
            f"{wanted.start}..{last_good} only."
        )
        log.warning(message)
        if notices is not None:
            notices.append(message)
        return
    where = f"after frame {last_good}" if last_good >= 0 else "before its first frame"
    raise VideoError(
        f"{info.path.name} is truncated or damaged: decoding stopped {where} of "
        f"{info.frame_count}. Re-encode or re-download it, or allow a partial result "
        "(keep_partial) to use the frames before the damage."
    )
