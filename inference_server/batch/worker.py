"""The batch worker: one per Ray actor, it keeps an :class:`~inference_server.pipeline.Engine`
(models loaded once, on the first video) and analyses one video at a time.

The class is plain Python; ``runner`` turns it into a Ray actor with the resources asked for.
The actor is threaded (two calls at once) so that ``status`` and ``cancel`` are answered while
``analyze`` runs. Every outcome of a video comes back as an
:class:`~inference_server.batch.report.ItemResult`: errors are caught here and reported in one
sentence, so only a worker that dies (out of memory, killed) shows as a Ray error.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import resource
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

from glot_blender.core.motion_clip import MotionClipError, file_fingerprint, read_clip
from glot_blender.core.person_files import person_files_beside

from ..errors import GlotError, JobCancelled, VideoError
from ..pipeline import AnalyzeOptions, Engine, ProgressEvent
from .inputs import BatchItem
from .report import ItemResult
from .settings import BatchSettings

log = logging.getLogger(__name__)

#: the part of a video's work each stage covers, stage -> (start, end) fraction (roughly the
#: shares of a CPU run with the temporal solver; without it the bar jumps over "refine")
STAGE_SPAN: dict[str, tuple[float, float]] = {
    "decode": (0.0, 0.0), "detect": (0.0, 0.35), "track": (0.35, 0.35), "crop": (0.35, 0.35),
    "features": (0.35, 0.7), "pose": (0.7, 0.72), "refine": (0.72, 0.99), "write": (0.99, 1.0),
}


@dataclass(frozen=True)
class WorkerStatus:
    """What a worker is doing: the video (``rel``, None when idle), the fraction of its work
    done, its analysed frame count (0 until known), where the worker runs and with how many
    torch threads."""

    rel: str | None
    fraction: float
    frames: int
    node: str
    pid: int
    threads: int


def node_name() -> str:
    """This process's Ray node: "host (ip, node id prefix)"; the host name alone outside Ray."""
    host = socket.gethostname()
    try:
        import ray

        context = ray.get_runtime_context()
        return f"{host} ({ray.util.get_node_ip_address()}, node {context.get_node_id()[:8]})"
    except Exception:  # noqa: BLE001 - outside a Ray worker the host name is enough
        return host


def fbx_is_current(clip: Path) -> bool:
    """True when an FBX made from ``clip`` (``NAME.fbx`` or one per person, ``NAME_P<id>.fbx``
    as :mod:`glot_blender.core.person_files` names them) is not older than the clip."""
    if not clip.is_file():
        return False
    made = clip.stat().st_mtime_ns
    fbx = clip.with_suffix(".fbx")
    return any(p.is_file() and p.stat().st_mtime_ns >= made
               for p in [fbx, *person_files_beside(fbx)])


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux and macOS report it differently)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def is_up_to_date(options: AnalyzeOptions) -> bool:
    """True when the clip at ``options.output`` was made from this same video (name, size,
    sha256 of its first MiB) with the same analysis options."""
    try:
        clip = read_clip(options.output)
    except MotionClipError:
        return False
    name, size, sha = file_fingerprint(options.video)
    return ((clip.source_name, clip.source_size, clip.source_sha256) == (name, size, sha)
            and clip.analysis_options == options.recorded())


class VideoWorker:
    """Analyses videos one at a time with one Engine; see the module docstring."""

    def __init__(self, threads: int, models_dir: str | None, device: str) -> None:
        import cv2
        import torch

        torch.set_num_threads(max(1, threads))
        cv2.setNumThreads(max(1, threads))
        self.engine = Engine(models_dir=models_dir, device=device)
        self.node = node_name()
        self._cancel = threading.Event()
        self._idle = WorkerStatus(None, 0.0, 0, self.node, os.getpid(), torch.get_num_threads())
        self._status = self._idle

    # -- answered while analyze runs --------------------------------------------------------
    def status(self) -> WorkerStatus:
        return self._status

    def cancel(self) -> None:
        self._cancel.set()

    # -- the work -------------------------------------------------------------------------
    def analyze(self, item: BatchItem, options: AnalyzeOptions,
                settings: BatchSettings) -> ItemResult:
        """Analyses ``item`` (or skips it when its outputs are up to date, unless ``force``)."""
        self._cancel.clear()
        self._status = replace(self._idle, rel=item.rel)
        started = time.monotonic()
        result = ItemResult(item.rel, item.source, item.output, "failed", node=self.node,
                            worker_pid=os.getpid())
        try:
            self._analyze(item, replace(options, video=item.source, output=item.output),
                          settings, result)
        except JobCancelled:
            result.status, result.reason = "cancelled", "cancelled; no motion clip was written"
        except GlotError as exc:
            result.status, result.reason = "failed", exc.message
        except Exception as exc:  # noqa: BLE001 - one video's bug must not stop the batch
            result.traceback = traceback.format_exc()
            log.error("unexpected error on %s:\n%s", item.source, result.traceback)
            result.status = "failed"
            result.reason = (f"unexpected error ({type(exc).__name__}: {exc}); its traceback "
                             "is in batch-report.json")
        finally:
            result.seconds = time.monotonic() - started
            result.peak_rss_mb = peak_rss_mb()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            result.worker_cpu_s = usage.ru_utime + usage.ru_stime
            self._status = self._idle
        return result

    def _analyze(self, item: BatchItem, options: AnalyzeOptions, settings: BatchSettings,
                 result: ItemResult) -> None:
        source, clip = Path(item.source), Path(item.output)
        if not os.access(source, os.R_OK) or not source.is_file():
            what = "does not exist" if not source.exists() else "cannot be read"
            raise VideoError(
                f"{source} {what} on worker node {self.node}: every worker must see the inputs "
                "and OUTDIR at the same paths (shared storage, see docs/batch.md)"
            )
        want_fbx = settings.write_fbx and importlib.util.find_spec("bpy") is not None
        if not settings.force and is_up_to_date(options):
            if not want_fbx or fbx_is_current(clip):
                result.status, result.reason = "skipped", "up to date (same video and options)"
                return
            result.reason = "clip up to date; FBX written"
        else:
            done = self.engine.analyze(options, progress=self._on_progress,
                                       should_cancel=self._cancel.is_set)
            result.frames, result.people = done.frame_count, len(done.tracks)
            result.backend, result.notices = done.backend, list(done.notices)
        if want_fbx:
            from ..cli import write_fbx

            lines = write_fbx(clip, clip.with_suffix(".fbx"), settings.fbx_all_in_one,
                              protect=[source])
            result.fbx = [line[len("FBX: "):] for line in lines.splitlines()
                          if line.startswith("FBX: ")]
        elif settings.write_fbx:
            result.notices.append("FBX not written: Blender's bpy module is not installed "
                                  f"in the worker's Python on {self.node}")
        result.status = "done"

    def _on_progress(self, event: ProgressEvent) -> None:
        lo, hi = STAGE_SPAN.get(event.stage, (self._status.fraction, self._status.fraction))
        part = min(1.0, event.done / event.total) if event.total else 0.0
        frames = event.total if event.stage == "decode" and event.total else self._status.frames
        fraction = max(self._status.fraction, lo + (hi - lo) * part)
        self._status = replace(self._status, fraction=fraction, frames=frames)
