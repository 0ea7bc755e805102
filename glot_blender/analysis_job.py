"""One analysis in the server, driven from Blender's main thread (standard library only).

:class:`AnalysisJob` starts the server in a worker thread (so Blender never blocks), sends
``analyze``, then :meth:`AnalysisJob.tick` (a modal timer, ``bpy.app.timers``, or a loop in
a script or test) turns the server's notifications into :class:`JobProgress` and, once, a
:class:`JobOutcome`. The server session it runs in is :mod:`glot_blender.session`'s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .client import ServerClient
from .core.protocol import (
    NOTIFY_JOB_FINISHED,
    NOTIFY_PROGRESS,
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_OK,
)
from .server_errors import ServerCrashed, ServerError
from .session import crash_message

if TYPE_CHECKING:
    from .session import ServerConfig, ServerSession

REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AnalysisRequest:
    """What to analyse (the ``analyze`` params of docs/protocol.md); frames are video indices."""

    video: str
    output_dir: str
    start: int | None = None
    end: int | None = None
    backend: str = "auto"
    detector: str = "auto"
    device: str = "auto"
    fov_deg: float | None = None
    min_track_len: int | None = None
    refine: bool = True

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "video": self.video,
            "output_dir": self.output_dir,
            "backend": self.backend,
            "detector": self.detector,
            "device": self.device,
            "refine": self.refine,
        }
        optional = {
            "start": self.start,
            "end": self.end,
            "fov_deg": self.fov_deg,
            "min_track_len": self.min_track_len,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params


@dataclass
class JobProgress:
    """Latest progress of a job: ``stage`` (starting, decode, detect, ...), ``done``/``total``."""

    stage: str = "starting server"
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def text(self) -> str:
        pct = f" {self.fraction * 100:.0f}%" if self.total > 0 else ""
        return f"{self.stage}{pct}" + (f" ({self.message})" if self.message else "")


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: ``status`` ok | cancelled | error; ``clip_path`` when ok."""

    status: str
    clip_path: str = ""
    message: str = ""
    summary: dict = field(default_factory=dict)


class AnalysisJob:
    """One analysis: starts the server in a worker thread (so Blender never blocks), sends
    ``analyze``, then :meth:`tick` (main thread) turns notifications into progress and,
    once, a :class:`JobOutcome`."""

    def __init__(
        self, session: ServerSession, config: ServerConfig, request: AnalysisRequest
    ) -> None:
        self.session = session
        self.config = config
        self.request = request
        self.progress = JobProgress()
        self.job_id: str | None = None
        self.outcome: JobOutcome | None = None
        self._client: ServerClient | None = None
        self._start_error: BaseException | None = None
        self._cancel_requested = False
        self._thread = threading.Thread(target=self._start, name="glot-analysis-start", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _start(self) -> None:
        try:
            client = self.session.client(self.config)
            self.job_id = client.analyze(self.request.params())
            self._client = client
        except Exception as exc:  # noqa: BLE001 - thread edge: tick() reports it on the main thread
            self._start_error = exc

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def cancel(self) -> None:
        """Ask the server to stop the job; the outcome arrives through :meth:`tick`."""
        self._cancel_requested = True
        if self._client is not None and self.job_id is not None and self.outcome is None:
            try:
                self._client.cancel(self.job_id)
            except ServerError:
                pass  # the job may have just finished; its job/finished tells the truth
            except ServerCrashed as exc:
                self._finish(
                    JobOutcome(
                        STATUS_ERROR, message=crash_message(exc, self._client, self.config.log_path)
                    )
                )

    def _finish(self, outcome: JobOutcome) -> JobOutcome:
        if self.outcome is None:
            self.outcome = outcome
        return self.outcome

    def tick(self) -> JobOutcome | None:
        """Process what the server sent since the last call; the outcome once the job ended."""
        if self.outcome is not None:
            return self.outcome
        if self._thread.is_alive():
            return None
        if self._start_error is not None:
            return self._finish(self._error_outcome(self._start_error))
        if self._client is None:
            return None
        if self._cancel_requested and self.progress.stage != "cancelling":
            self.progress.stage = "cancelling"
            self.cancel()
        try:
            notes = self._client.poll()
        except ServerCrashed as exc:
            return self._finish(
                JobOutcome(
                    STATUS_ERROR, message=crash_message(exc, self._client, self.config.log_path)
                )
            )
        for note in notes:
            outcome = self._handle(str(note.get("method", "")), dict(note.get("params") or {}))
            if outcome is not None:
                return self._finish(outcome)
        if not self._client.is_alive():
            return self._finish(
                JobOutcome(
                    STATUS_ERROR, message=crash_message(None, self._client, self.config.log_path)
                )
            )
        return None

    def _handle(self, method: str, params: dict) -> JobOutcome | None:
        if params.get("job") not in (None, self.job_id):
            return None
        if method == NOTIFY_PROGRESS:
            if self.progress.stage != "cancelling":
                self.progress.stage = str(params.get("stage", self.progress.stage))
            self.progress.done = int(params.get("done") or 0)
            self.progress.total = int(params.get("total") or 0)
            self.progress.message = str(params.get("message") or "")
            return None
        if method != NOTIFY_JOB_FINISHED:
            return None
        status = params.get("status")
        if status == STATUS_OK:
            return JobOutcome(
                STATUS_OK,
                clip_path=str(params.get("result") or ""),
                summary=dict(params.get("summary") or {}),
            )
        if status == STATUS_CANCELLED:
            return JobOutcome(
                STATUS_CANCELLED, message="Analysis cancelled; the scene was not changed"
            )
        error = params.get("error") or {}
        return JobOutcome(STATUS_ERROR, message=str(error.get("message") or "The analysis failed"))

    def _error_outcome(self, exc: BaseException) -> JobOutcome:
        if isinstance(exc, ServerCrashed):
            return JobOutcome(
                STATUS_ERROR,
                message=crash_message(exc, self.session.current(), self.config.log_path),
            )
        if isinstance(exc, ServerError):
            return JobOutcome(STATUS_ERROR, message=exc.message)
        return JobOutcome(STATUS_ERROR, message=f"Could not start the analysis: {exc}")

    def wait(
        self, timeout: float, interval: float = 0.05, on_tick: Callable[[], None] | None = None
    ) -> JobOutcome:
        """Tick until the job ends (scripts and background mode); cancels after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.tick()
            if outcome is not None:
                return outcome
            if on_tick is not None:
                on_tick()
            if time.monotonic() > deadline and not self._cancel_requested:
                self.cancel()
                deadline = time.monotonic() + REQUEST_TIMEOUT_S
            elif time.monotonic() > deadline:
                return self._finish(
                    JobOutcome(
                        STATUS_ERROR, message=f"The analysis did not finish within {timeout:.0f} s"
                    )
                )
            time.sleep(interval)
