"""Pass 2: decode again, crop each tracked box, encode the crops in batches (or, for a backend
with a ``frame_session``, hand it each frame with its tracked boxes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..backends.base import PoseBackend
from ..crop import crop_people
from ..errors import VideoError
from ..options import AnalyzeOptions
from .context import JobContext, timed_frames
from .people import PersonTrack


def encode_people(options: AnalyzeOptions, people: list[PersonTrack], backend: PoseBackend,
                  job: JobContext, keypoints: Callable | None = None) -> None:
    """Pass 2: decode again, crop each tracked box, encode crops in batches into ``features``;
    with ``keypoints`` ((frame, boxes) -> (B,33,3)) also each person's 2D keypoints."""
    from ..video import iter_frames

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
        _store_features(people, batch_slots, feats)
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
    session = backend.frame_session()
    for idx, frame in timed_frames(job, frames):
        slots = rows.get(idx)
        if not slots:
            continue
        if session is not None:  # the backend follows each person through the frames itself
            boxes = np.stack([people[p].bboxes[r] for p, r in slots])
            with job.timed("features"):
                feats = backend.encode_frame(session, frame, boxes,
                                             [people[p].track_id for p, _ in slots])
            _store_features(people, slots, feats)
            done += len(slots)
            job.report("features", done, total)
            job.check_cancel()
            continue
        with job.timed("crop"):
            boxes = np.stack([people[p].bboxes[r] for p, r in slots])
            batch_crops.append(crop_people(frame, boxes, backend.crop_scale, backend.crop_size))
        if keypoints is not None:
            with job.timed("refine"):
                _store_keypoints(people, slots, keypoints(frame, boxes))
            job.check_cancel()  # BlazePose per frame: cancel without waiting for the batch
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


def _store_features(people: list[PersonTrack], slots: list[tuple[int, int]],
                    feats: np.ndarray) -> None:
    for (p, r), feat in zip(slots, feats):
        person = people[p]
        if person.features is None:
            person.features = np.zeros((len(person.frame_ids), feat.shape[-1]), np.float32)
        person.features[r] = feat


def _store_keypoints(people: list[PersonTrack], slots: list[tuple[int, int]],
                     keypoints: np.ndarray) -> None:
    for (p, r), kp in zip(slots, keypoints):
        person = people[p]
        if person.keypoints is None:
            person.keypoints = np.zeros((len(person.frame_ids), *kp.shape), np.float32)
        person.keypoints[r] = kp
