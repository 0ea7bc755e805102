"""The job runner: one analysis at a time in a daemon thread, with one long-lived pipeline
Engine (models stay loaded between jobs), reporting through ``progress`` (rate-limited by
:class:`ProgressThrottle`) and ``job/finished`` notifications. A failed or cancelled job
leaves no output file behind.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glot_blender.core.protocol import (
    NOTIFY_JOB_FINISHED,
    NOTIFY_PROGRESS,
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_OK,
)

from .errors import (
    BackendUnavailableError,
    GlotError,
    InvalidRequestError,
    JobCancelled,
    ServerBusyError,
)
from .options import AnalyzeOptions
from .wire import MessageWriter, jsonable

if TYPE_CHECKING:  # the pipeline (torch, OpenCV) is imported on first use
    from .pipeline import Engine
    from .stages.context import ProgressEvent
    from .stages.output import AnalysisResult

log = logging.getLogger("inference_server.server")

PROGRESS_MIN_INTERVAL_S = 0.1  # at most ~10 progress notifications per second per job
JOB_DIR_PREFIX = "glot-job-"


@dataclass(frozen=True)
class AnalyzeParams:
    """A checked ``analyze`` request: ``options`` are validated (their ``output`` is the clip's
    file name; the runner puts it, made unique, in ``output_dir`` or in a folder of its own
    when that is None)."""

    video: Path
    output_dir: Path | None
    options: AnalyzeOptions


class ProgressThrottle:
    """Rate-limits progress notifications of one job: the first and the last event of each
    stage always go out, others at most every ``interval`` seconds."""

    def __init__(self, emit: Callable[[dict], None], interval: float = PROGRESS_MIN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._stage: str | None = None
        self._last_sent = -math.inf
        self._held: dict | None = None

    def __call__(self, event: dict) -> None:
        now = self._clock()
        if event["stage"] != self._stage:
            self.flush()
            self._stage = event["stage"]
            self._send(event, now)
            return
        is_last = event.get("total") is not None and event["done"] >= event["total"]
        if is_last or now - self._last_sent >= self._interval:
            self._send(event, now)
        else:
            self._held = event

    def flush(self) -> None:
        """Send the held (latest unsent) event so that each stage's last event goes out."""
        if self._held is not None:
            self._send(self._held, self._clock())

    def _send(self, event: dict, now: float) -> None:
        self._held = None
        self._last_sent = now
        self._emit(event)


@dataclass
class Job:
    """A running analysis: its id, cancel flag, output file and whether its folder is ours."""

    id: str
    output: Path
    own_dir: bool
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class JobRunner:
    """Runs one analysis at a time in a daemon thread, with one long-lived pipeline Engine."""

    def __init__(self, writer: MessageWriter, models_dir: Path | None) -> None:
        self._writer = writer
        self._models_dir = models_dir
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._job: Job | None = None

    # -- engine ---------------------------------------------------------------------------
    def engine(self) -> Engine:
        """The process's one Engine (created on first use; models stay loaded between jobs)."""
        with self._lock:
            if self._engine is None:
                try:
                    from .pipeline import Engine
                except Exception as exc:  # a broken install: report it, keep serving
                    raise BackendUnavailableError(
                        f"The analysis pipeline cannot be loaded ({type(exc).__name__}: {exc}); "
                        "reinstall the server environment.") from exc
                self._engine = Engine(models_dir=self._models_dir, device="auto")
            return self._engine

    def describe(self) -> dict:
        """Engine.describe(), or an empty description with a ``problems`` entry if it fails."""
        try:
            return jsonable(self.engine().describe())
        except Exception as exc:
            log.exception("Engine.describe failed")
            return {"backends": {}, "problems": [f"{type(exc).__name__}: {exc}"]}

    # -- jobs -----------------------------------------------------------------------------
    def start(self, params: AnalyzeParams) -> str:
        """Start a job and return its id, or raise ServerBusyError if one is running."""
        self._check_idle()
        engine = self.engine()
        job = self._new_job(params)
        try:
            options = dataclasses.replace(params.options, output=job.output)
            options.check_paths()  # answered at once as -32602, before the job starts
            job.thread = threading.Thread(target=self._run, args=(engine, job, options),
                                          name=f"job-{job.id}", daemon=True)
            with self._lock:
                self._check_idle()
                self._job = job
            job.thread.start()
        except BaseException:
            with self._lock:
                if self._job is job:
                    self._job = None
            self._discard(job)
            raise
        return job.id

    def _check_idle(self) -> None:
        job = self._job
        if job is not None:
            raise ServerBusyError(f"A job is already running (job {job.id}); wait for it to "
                                  "finish or cancel it first.")

    def _new_job(self, params: AnalyzeParams) -> Job:
        job_id = uuid.uuid4().hex[:12]
        if params.output_dir is None:
            folder, own = Path(tempfile.mkdtemp(prefix=JOB_DIR_PREFIX)), True
        else:
            try:
                params.output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidRequestError(f"Cannot create the output folder "
                                          f"{params.output_dir}: {exc.strerror or exc}.") from exc
            folder, own = params.output_dir, False
        output = folder / f"{params.video.stem}-{job_id}.npz"
        return Job(id=job_id, output=output, own_dir=own)

    def cancel(self, job_id: str) -> bool:
        """Ask a job to stop; True if it was running (False if unknown or already over)."""
        job = self._job
        if job is None or job.id != job_id:
            return False
        job.cancel.set()
        return True

    def cancel_and_wait(self, timeout: float) -> None:
        """Cancel the running job (if any) and wait up to ``timeout`` s for it to end."""
        job = self._job
        if job is None:
            return
        job.cancel.set()
        if job.thread is not None:
            job.thread.join(timeout)

    def _run(self, engine: Engine, job: Job, options: AnalyzeOptions) -> None:
        throttle = ProgressThrottle(lambda ev: self._writer.notify(NOTIFY_PROGRESS, ev))
        started = time.monotonic()
        log.info("job %s started: %s", job.id, options)

        def progress(event: ProgressEvent) -> None:
            if job.cancel.is_set():
                raise JobCancelled("The job was cancelled.")
            ev = {"job": job.id, "stage": event.stage, "done": int(event.done),
                  "total": None if event.total is None else int(event.total)}
            if event.message:
                ev["message"] = event.message
            throttle(ev)

        finished: dict[str, Any] = {"job": job.id}
        try:
            result = engine.analyze(options, progress=progress, should_cancel=job.cancel.is_set)
            throttle.flush()
            finished.update(status=STATUS_OK, result=str(result.path), summary=_summary(result))
        except JobCancelled:
            throttle.flush()
            self._discard(job)
            finished.update(status=STATUS_CANCELLED)
        except GlotError as exc:
            throttle.flush()
            self._discard(job)
            log.warning("job %s failed: %s", job.id, exc.message)
            finished.update(status=STATUS_ERROR, error=jsonable(exc.to_rpc()))
        except Exception as exc:  # noqa: BLE001 - the edge: traceback to the log, one sentence out
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc())
            self._discard(job)
            finished.update(status=STATUS_ERROR, error={
                "code": GlotError.code,
                "message": f"Unexpected error ({type(exc).__name__}: {exc}); the full "
                           "traceback is in the server log."})
        finally:
            with self._lock:
                self._job = None
        log.info("job %s %s in %.1f s", job.id, finished["status"], time.monotonic() - started)
        self._writer.notify(NOTIFY_JOB_FINISHED, finished)

    @staticmethod
    def _discard(job: Job) -> None:
        """Remove any partial output (and the job folder when the server created it)."""
        job.output.unlink(missing_ok=True)
        if job.own_dir:
            shutil.rmtree(job.output.parent, ignore_errors=True)


def _summary(result: AnalysisResult) -> dict:
    """The AnalysisResult as JSON, without its path (sent as ``result``), plus ``people``
    (the number of tracks found)."""
    summary = jsonable(result)
    del summary["path"]
    summary["people"] = len(result.tracks)
    return summary
