"""What must outlive one operator call: the server process, the running analysis
(:mod:`glot_blender.analysis_job`), the environment set-up thread. Standard library only (no
bpy): the operators drive it from Blender's main thread (modal timer, ``bpy.app.timers``),
and it can be driven the same way from a script or a test by calling
:meth:`AnalysisJob.tick` in a loop.

One :class:`Runtime` exists while the add-on is registered (created in ``register()``,
shut down in ``unregister()``); that is the add-on's only process-wide state, because a
running server and its job must survive between operator calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client import ServerClient
from .core.protocol import SERVER_ERROR
from .server_env import CREATE_ENV_BUTTON, server_source_dir
from .server_errors import ServerCrashed, ServerError

if TYPE_CHECKING:
    from .analysis_job import AnalysisJob
    from .server_env import SetupResult

#: ``run(log, should_cancel)`` of :meth:`EnvSetupTask.start`: server_env.setup_env bound
SetupRun = Callable[[Callable[[str], None], Callable[[], bool]], "SetupResult"]

SERVER_START_TIMEOUT_S = 120.0
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
