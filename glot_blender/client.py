"""Client of the inference server (standard library only: runs in Blender and in tests).

:class:`ServerClient` starts ``python_exe -m inference_server ...`` with pipes on its
stdin/stdout and its stderr in a log file, and performs the ``initialize`` handshake. A
background reader thread parses each line: responses go to the request waiting for them,
notifications (``progress``, ``job/finished``) to a queue that :meth:`ServerClient.poll`
drains without blocking, so Blender's main thread (a timer) is the only one touching bpy.
A server that dies is reported as :class:`ServerCrashed` with its exit code and the last
lines of its log; :meth:`ServerClient.restart` starts a fresh one. An error reply is raised
as the typed :class:`ServerError` of :mod:`glot_blender.server_errors`.

Finding a Python that can run the server is :mod:`glot_blender.server_env`'s job; this module
is the protocol client alone. The protocol is described in ``docs/protocol.md``.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from .core.protocol import (
    JSONRPC,
    METHOD_ANALYZE,
    METHOD_CANCEL,
    METHOD_INITIALIZE,
    METHOD_SHUTDOWN,
    NOTIFY_JOB_FINISHED,
)
from .server_errors import RequestTimeout, ServerCrashed, ServerError

START_TIMEOUT_S = 120.0  # first start imports torch and may load models: be generous
REQUEST_TIMEOUT_S = 30.0
SHUTDOWN_WAIT_S = 5.0  # each escalation step: shutdown request, terminate, kill
LOG_TAIL_LINES = 40


_EOF = None  # put in waiting queues when the server's stdout closes


class ServerClient:
    """One inference server process and the conversation with it.

    ``env`` entries override the inherited environment (a value of None removes a variable);
    ``server_root`` is a folder (or folders) holding the ``inference_server`` and
    ``glot_blender`` packages when they are not installed in ``python_exe``'s environment:
    it is put first on PYTHONPATH. ``log_path`` receives the server's stderr (a temporary
    file when None). Thread safety: ``request`` may be called from any thread; ``poll`` is
    meant for one consumer (Blender's main thread).
    """

    def __init__(self, python_exe: str | os.PathLike[str], extra_args: Sequence[str] = (),
                 env: Mapping[str, str | None] | None = None,
                 log_path: str | os.PathLike[str] | None = None, *,
                 server_root: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] |
                 None = None, cwd: str | os.PathLike[str] | None = None) -> None:
        self.python_exe = str(python_exe)
        self.extra_args = [str(a) for a in extra_args]
        self._env_overrides = dict(env or {})
        self._server_roots = _as_paths(server_root)
        self._cwd = Path(cwd) if cwd else None
        self.log_path = Path(log_path) if log_path else _temp_log_path()
        self.server_info: dict | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._log_handle: IO[bytes] | None = None
        self._log_offset = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards _pending, _eof and writes to stdin
        self._pending: dict[int, queue.Queue] = {}
        self._eof = True
        self._closing = False
        self._notifications: queue.Queue[dict] = queue.Queue()
        self.stray_lines: list[str] = []  # stdout lines that were not JSON-RPC (kept, bounded)

    # ------------------------------------------------------------------ life cycle
    def start(self, timeout: float = START_TIMEOUT_S) -> dict:
        """Start the process and run ``initialize``; return its result.

        Raises ServerCrashed if the process dies during start-up (e.g. torch missing: the
        log tail says so), RequestTimeout if it does not answer within ``timeout``.
        """
        if self.is_alive() and self.server_info is not None:
            return self.server_info
        self._spawn()
        try:
            self.server_info = self.request(METHOD_INITIALIZE, {}, timeout=timeout)
        except RequestTimeout:
            self.shutdown(timeout=1.0)
            raise
        return self.server_info

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self._log_handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: "
                               f"{' '.join(self.command())}\n".encode())
        self._log_handle.flush()
        self._log_offset = self._log_handle.tell()
        self._notifications = queue.Queue()
        self._closing = False
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log_handle, env=self._environment(),
            cwd=str(self._cwd) if self._cwd else None, creationflags=_NO_WINDOW)
        with self._lock:
            self._eof = False
        self._reader = threading.Thread(target=self._read_loop, args=(self._proc,),
                                        name="glot-server-reader", daemon=True)
        self._reader.start()

    def command(self) -> list[str]:
        """The command line the server is started with."""
        return [self.python_exe, "-m", "inference_server", *self.extra_args]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)  # Blender's own Python settings must not leak in
        env.pop("PYTHONPATH", None)
        env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8",
                    "PYTHONSAFEPATH": "1"})  # the working folder never shadows the package
        for key, value in self._env_overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        if self._server_roots:
            paths = [str(p) for p in self._server_roots]
            if env.get("PYTHONPATH"):
                paths.append(env["PYTHONPATH"])
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def restart(self, timeout: float = START_TIMEOUT_S) -> dict:
        """Stop the current process (politely, then by force) and start a fresh one."""
        self.shutdown(timeout=2.0)
        self.server_info = None
        return self.start(timeout=timeout)

    def shutdown(self, timeout: float = SHUTDOWN_WAIT_S) -> int | None:
        """Stop the server: ``shutdown`` request, wait, terminate, wait, kill. Idempotent.

        Returns the exit code (None if it was never started).
        """
        proc = self._proc
        if proc is None:
            return None
        self._closing = True
        if proc.poll() is None and not self._eof:
            try:
                self.request(METHOD_SHUTDOWN, {}, timeout=timeout)
            except (ServerError, ServerCrashed, RequestTimeout, OSError):
                pass
        _close_quietly(proc.stdin)
        if not _wait(proc, timeout):
            proc.terminate()
            if not _wait(proc, timeout):
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout)
        _close_quietly(proc.stdout)
        if self._log_handle is not None:
            _close_quietly(self._log_handle)
            self._log_handle = None
        return proc.returncode

    def __enter__(self) -> ServerClient:  # noqa: PYI034 - Self needs Python 3.11
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The process's exit code (negative: killed by that signal), None while running."""
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def log_tail(self, n: int = LOG_TAIL_LINES) -> str:
        """The last ``n`` lines the current (or last) server process wrote to its log."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                data = fh.read()
        except OSError:
            return ""
        lines = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:])

    # ------------------------------------------------------------------ requests
    def request(self, method: str, params: dict | None = None,
                timeout: float = REQUEST_TIMEOUT_S) -> Any:
        """Send a request and wait for its result (blocking; not for Blender's main thread
        with long timeouts). Raises ServerError, RequestTimeout or ServerCrashed."""
        req_id = next(self._ids)
        waiter: queue.Queue = queue.Queue(maxsize=1)
        message = {"jsonrpc": JSONRPC, "id": req_id, "method": method, "params": params or {}}
        with self._lock:
            if self._proc is None:
                raise RuntimeError("The inference server is not started; call start() first.")
            if self._eof and self._closing:
                raise RuntimeError("The inference server was shut down; call start() or "
                                   "restart() first.")
            if self._eof:
                raise self._crashed()
            self._pending[req_id] = waiter
            self._write(message)
        try:
            reply = waiter.get(timeout=timeout)
        except queue.Empty:
            with self._lock:
                self._pending.pop(req_id, None)
            raise RequestTimeout(f"The inference server did not answer '{method}' within "
                                 f"{timeout:g} s.") from None
        if reply is _EOF:
            raise self._crashed()
        if "error" in reply:
            raise ServerError.from_reply(reply["error"])
        return reply.get("result")

    def _write(self, message: dict) -> None:
        """Write one message line (caller holds the lock)."""
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._crashed() from None

    def analyze(self, params: dict, timeout: float = REQUEST_TIMEOUT_S) -> str:
        """Start an analysis (params as in docs/protocol.md); return the job id at once."""
        return str(self.request(METHOD_ANALYZE, params, timeout=timeout)["job"])

    def cancel(self, job: str, timeout: float = REQUEST_TIMEOUT_S) -> bool:
        """Ask the server to cancel ``job``; ``job/finished`` (cancelled) follows."""
        return bool(self.request(METHOD_CANCEL, {"job": job}, timeout=timeout).get("cancelled"))

    # ------------------------------------------------------------------ notifications
    def poll(self) -> list[dict]:
        """Notifications received so far (``{"method", "params"}``), without blocking.

        Raises ServerCrashed once every notification is delivered if the process died
        without being asked to.
        """
        items: list[dict] = []
        while True:
            try:
                items.append(self._notifications.get_nowait())
            except queue.Empty:
                break
        if not items and self.crashed:
            raise self._crashed()
        return items

    @property
    def crashed(self) -> bool:
        """True when the process ended (or closed its output) without a shutdown()."""
        return self._proc is not None and self._eof and not self._closing

    def wait_job(self, job: str, timeout: float,
                 on_notification: Callable[[dict], None] | None = None) -> dict:
        """Block until ``job/finished`` for ``job`` arrives; return its params.

        For scripts, tests and the command line; Blender uses :meth:`poll` from a timer.
        Other notifications are passed to ``on_notification``.
        """
        deadline = time.monotonic() + timeout
        while True:
            for note in self.poll():
                params = note.get("params") or {}
                if note.get("method") == NOTIFY_JOB_FINISHED and params.get("job") == job:
                    return params
                if on_notification is not None:
                    on_notification(note)
            if time.monotonic() > deadline:
                raise RequestTimeout(f"Job {job} did not finish within {timeout:g} s.")
            time.sleep(0.02)

    # ------------------------------------------------------------------ reader thread
    def _read_loop(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._dispatch_line(raw)
        waiters: list[queue.Queue] = []
        with self._lock:
            if proc is self._proc:
                self._eof = True
                waiters = list(self._pending.values())
                self._pending.clear()
        for waiter in waiters:
            waiter.put(_EOF)

    def _dispatch_line(self, raw: bytes) -> None:
        try:
            msg = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            msg = None
        if not isinstance(msg, dict):
            if len(self.stray_lines) < 100:
                self.stray_lines.append(raw.decode("utf-8", errors="replace").rstrip())
            return
        if "method" in msg and "id" not in msg:
            self._notifications.put({"method": msg["method"], "params": msg.get("params")})
            return
        with self._lock:
            waiter = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if waiter is not None:
            waiter.put(msg)

    def _crashed(self) -> ServerCrashed:
        code = None
        if self._proc is not None:
            _wait(self._proc, 2.0)
            code = self._proc.poll()
        if self._log_handle is not None:
            self._log_handle.flush()
        return ServerCrashed(code, self.log_tail(), self.log_path)


# ---------------------------------------------------------------------------- helpers

_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


def _as_paths(value: Any) -> list[Path]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    return [Path(v) for v in value]


def _temp_log_path() -> Path:
    fd, name = tempfile.mkstemp(prefix="glot-server-", suffix=".log")
    os.close(fd)
    return Path(name)


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def _close_quietly(handle: Any) -> None:
    try:
        if handle is not None:
            handle.close()
    except OSError:
        pass
