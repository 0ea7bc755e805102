"""What every stage of one analysis shares: progress events (rate-limited per stage),
cancellation between batches, seconds spent per stage, and notices for the user."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import JobCancelled

STAGES = ("decode", "detect", "track", "crop", "features", "pose", "refine", "write")
#: stages timed but not reported as progress: the camera solve streams inside pass 1 and
#: the world step takes a fraction of a second
TIMED_ONLY = ("camera", "world")
#: progress events per stage are sent at most every this many frames (plus the last one)
PROGRESS_EVERY = 5

ProgressCallback = Callable[["ProgressEvent"], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units (frames, crops or tracks) of ``stage``; total None = unknown."""

    stage: str
    done: int
    total: int | None
    message: str = ""


class JobContext:
    """Per-analysis helpers: progress, cancellation, stage timings, notices."""

    def __init__(self, progress: ProgressCallback | None, should_cancel: CancelCheck | None):
        self._progress = progress
        self.should_cancel = should_cancel
        self.timings: dict[str, float] = {s: 0.0 for s in (*STAGES, *TIMED_ONLY)}
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


def timed_frames(job: JobContext, frames: Iterator[tuple[int, np.ndarray]]
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """Wrap a frame iterator so decoding time is counted as the "decode" stage."""
    while True:
        with job.timed("decode"):
            item = next(frames, None)
        if item is None:
            return
        yield item
