"""What must outlive one operator call: the server process, the running analysis, the
environment set-up thread. Standard library only (no bpy): the operators drive it from
Blender's main thread (modal timer, ``bpy.app.timers``), and it can be driven the same way
from a script or a test by calling :meth:`AnalysisJob.tick` in a loop.

One :class:`Runtime` exists while the add-on is registered (created in ``register()``,
shut down in ``unregister()``); that is the add-on's only process-wide state, because a
running server and its job must survive between operator calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client import ServerClient, ServerCrashed, ServerError
from .core.protocol import (
    NOTIFY_JOB_FINISHED,
    NOTIFY_PROGRESS,
    SERVER_ERROR,
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_OK,
)
from .server_env import CREATE_ENV_BUTTON, server_source_dir

if TYPE_CHECKING:
    from .server_env import SetupResult

#: ``run(log, should_cancel)`` of :meth:`EnvSetupTask.start`: server_env.setup_env bound
SetupRun = Callable[[Callable[[str], None], Callable[[], bool]], "SetupResult"]

SERVER_START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 20
ENV_LOG_LINES = 200


@dataclass(frozen=True)
class ServerConfig:
    """How to start the server; a change of any field restarts it."""

    python_exe: str
    models_dir: str = ""
    threads: int = 0
    log_path: str = ""

    def extra_args(self) -> tuple[str, ...]:
        args: list[str] = []
        if self.models_dir:
            args += ["--models", self.models_dir]
        if self.threads > 0:
            args += ["--threads", str(self.threads)]
        return tuple(args)

    def env(self) -> dict[str, str]:
        """Environment overrides for the server (the client drops Blender's PYTHONPATH/HOME)."""
        return {"PYTHONUNBUFFERED": "1"}


def crash_message(exc: ServerCrashed | None, client: ServerClient | None, log_path: str = "") -> str:
    """One sentence for a server that died, with the last log line and where the log is.

    ``exc`` (when the client raised one) carries the exit code, the log tail and the log
    path; otherwise they are read from ``client``; ``log_path`` is the configured log."""
    if exc is not None:
        code, text = exc.exit_code, exc.log_tail
        log_path = str(exc.log_path or log_path)
    else:
        code = client.exit_code if client is not None else None
        text = client.log_tail(LOG_TAIL_LINES) if client is not None else ""
        if client is not None and not log_path:
            log_path = str(client.log_path)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    tail = lines[-1].strip() if lines else ""
    where = f" Full log: {log_path}." if log_path else ""
    last = f" Last log line: {tail}" if tail else ""
    return (
        f"The inference server stopped unexpectedly (exit code {code}); press Restart Server "
        f"in the Mocap panel and try again.{last}{where}"
    )


class ServerSession:
    """Owns the :class:`ServerClient`: starts it on first use, restarts it when the config
    changes or the process died, shuts it down on request."""

    def __init__(self) -> None:
        self._client: ServerClient | None = None
        self._config: ServerConfig | None = None
        self._lock = threading.Lock()
        self.info: dict[str, Any] = {}

    @property
    def config(self) -> ServerConfig | None:
        return self._config

    def is_running(self) -> bool:
        client = self._client
        return client is not None and client.is_alive()

    def client(self, config: ServerConfig, timeout: float = SERVER_START_TIMEOUT_S) -> ServerClient:
        """A live client for ``config``; starts (or restarts) the server when needed. Blocking."""
        with self._lock:
            if self._client is not None and self._config == config and self._client.is_alive():
                return self._client
            self._stop_locked()
            if not config.python_exe:
                raise ServerError(
                    SERVER_ERROR,
                    "No server Python is set: open Preferences > Add-ons > GLoT Mocap and press "
                    f"{CREATE_ENV_BUTTON}, or choose a Python that has the server installed",
                )
            if not Path(config.python_exe).is_file():
                raise ServerError(
                    SERVER_ERROR,
                    f"The server Python '{config.python_exe}' does not exist: fix it in the "
                    f"add-on preferences or press {CREATE_ENV_BUTTON}",
                )
            client = ServerClient(
                config.python_exe,
                extra_args=config.extra_args(),
                env=config.env(),
                log_path=config.log_path or None,
                server_root=server_source_dir(),
            )
            self.info = dict(client.start(timeout) or {})
            self._client, self._config = client, config
            return client

    def current(self) -> ServerClient | None:
        return self._client

    def restart(self, config: ServerConfig, timeout: float = SERVER_START_TIMEOUT_S) -> dict:
        self.shutdown()
        self.client(config, timeout)
        return self.info

    def shutdown(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        client, self._client, self._config = self._client, None, None
        self.info = {}
        if client is None:
            return
        try:
            client.shutdown()
        except OSError:  # pipes already gone: the client has killed the process
            return


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


#: (substring of a set-up log line, stage shown, progress fraction once that line appears)
ENV_STAGES: tuple[tuple[str, str, float], ...] = (
    ("-m venv", "Creating the virtual environment", 0.05),
    ("torch==", "Installing torch (large download)", 0.15),
    ("pip install", "Installing the server package", 0.6),
    ("verifying:", "Checking that the server starts", 0.9),
)


@dataclass
class EnvSetupTask:
    """``server_env.setup_env`` running in a background thread; stage, progress and log
    lines for the preferences, which a ``bpy.app.timers`` function copies into the UI."""

    env_dir: str
    fraction: float = 0.0
    stage: str = "Starting"
    log: list[str] = field(default_factory=list)
    python_exe: str = ""
    error: str = ""
    done: bool = False
    cancel_requested: bool = False
    _thread: threading.Thread | None = None

    def start(self, run: SetupRun) -> None:
        """``run(log, should_cancel)`` does the work and returns server_env.SetupResult."""
        self._thread = threading.Thread(
            target=self._run, args=(run,), name="glot-env-setup", daemon=True
        )
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_requested = True

    def _log(self, line: str) -> None:
        line = str(line).rstrip()
        for needle, stage, fraction in ENV_STAGES:
            if needle in line and fraction > self.fraction:
                self.stage, self.fraction = stage, fraction
                break
        self.log.append(line)
        del self.log[:-ENV_LOG_LINES]

    def _run(self, run: SetupRun) -> None:
        try:
            result = run(self._log, lambda: self.cancel_requested)
            if result.ok:
                self.python_exe = str(result.python)
                self.stage, self.fraction = "Done", 1.0
            else:
                self.error = result.message or "the set-up failed; see its log"
        except Exception as exc:  # noqa: BLE001 - thread edge: shown in the preferences
            self.error = f"{type(exc).__name__}: {exc}"
            self._log(f"error: {self.error}")
        finally:
            self.done = True


@dataclass
class Runtime:
    """The add-on's live state while registered."""

    session: ServerSession = field(default_factory=ServerSession)
    analysis: AnalysisJob | None = None
    env_setup: EnvSetupTask | None = None
    #: strings behind dynamic enum items (Blender keeps only pointers to them)
    enum_items: dict[str, list] = field(default_factory=dict)

    def close(self) -> None:
        """Cancel the job and the environment set-up, stop the server."""
        if self.env_setup is not None and not self.env_setup.done:
            self.env_setup.cancel()
        if self.analysis is not None and not self.analysis.finished:
            self.analysis.cancel()
        self.analysis = None
        self.session.shutdown()


_state: dict[str, Runtime] = {}


def open_runtime() -> Runtime:
    _state.setdefault("runtime", Runtime())
    return _state["runtime"]


def get_runtime() -> Runtime:
    try:
        return _state["runtime"]
    except KeyError:
        raise RuntimeError(
            "GLoT Mocap is not enabled: enable it in Preferences > Add-ons"
        ) from None


def no_analysis_running() -> bool:
    """True when the add-on is enabled and no analysis job is in progress (for polls)."""
    try:
        job = get_runtime().analysis
    except RuntimeError:
        return False
    return job is None or job.finished


def close_runtime() -> None:
    runtime = _state.pop("runtime", None)
    if runtime is not None:
        runtime.close()
