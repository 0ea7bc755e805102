"""Pass 1: decode, detect (batched, every ``detect_every``-th frame), track; beside them the
camera's own motion (:mod:`inference_server.camera_motion`, stage "camera")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera_motion import CameraMotionTracker, xyxy_to_cxcywh
from ..errors import NoPersonError
from ..options import AnalyzeOptions
from .context import JobContext, timed_frames

#: frames handed to the detector per call (the demo's tracker batch is 12)
DETECT_BATCH = 8


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
    #: (N,33,3) BlazePose landmarks [x, y, confidence] in frame pixels, for the solver
    keypoints: np.ndarray | None = None
    #: only the upper body is in view (stages.check): the legs are not estimated
    upper_body: bool = False


def find_people(options: AnalyzeOptions, info, detector, job: JobContext,
                camera: CameraMotionTracker | None = None) -> list[PersonTrack]:
    """Pass 1: decode, detect (batched, every ``detect_every``-th frame), track; and, given
    ``camera``, the camera's motion from every analysed frame with the people's boxes masked
    (the latest detections for frames the detector skips).

    Only the frames of one detector batch are held at a time (for the camera solve, their
    reduced grey copies). Raises NoPersonError when no track reaches ``min_track_len``.
    """
    from ..track import Tracker, TrackerConfig, is_detection_step
    from ..video import frame_range, iter_frames

    wanted = frame_range(info, options.start, options.end, options.stride)
    total = len(wanted)
    # the tracker's time limits are in seconds of the analysed clip
    tracker = Tracker(TrackerConfig.for_fps(info.fps / options.stride, options.min_track_len))
    queue: list[tuple[int, np.ndarray | None]] = []  # (frame index, frame or None) in order
    greys: list[np.ndarray] = []  # the camera solve's reduced frames, in the same order
    boxes = np.zeros((0, 4))  # the latest detections [cx, cy, w, h]
    pending = 0
    done = 0
    job.report("decode", 0, total, f"{info.width}x{info.height}, {info.fps:g} fps, "
               f"{total} frame(s) to analyse", force=True)

    def flush() -> None:
        nonlocal done, boxes
        frames = [f for _, f in queue if f is not None]
        with job.timed("detect"):
            dets = iter(detector.detect(frames)) if frames else iter(())
        seen = []
        with job.timed("track"):
            for idx, frame in queue:
                det = next(dets) if frame is not None else None
                tracker.update(idx, det)
                boxes = boxes if det is None else xyxy_to_cxcywh(det)
                seen.append(boxes)
        if camera is not None:
            with job.timed("camera"):
                for grey, frame_boxes in zip(greys, seen):
                    camera.add_prepared(grey, frame_boxes)
            greys.clear()
        done += len(queue)
        queue.clear()
        job.report("detect", done, total)
        job.check_cancel()

    frames = iter_frames(info.path, options.start, options.end, options.stride,
                         keep_partial=options.keep_partial, notices=job.notices)
    for k, (idx, frame) in enumerate(timed_frames(job, frames)):
        detect_now = is_detection_step(k, total, options.detect_every)
        queue.append((idx, frame if detect_now else None))
        if camera is not None:
            with job.timed("camera"):
                greys.append(camera.prepare(frame))
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
