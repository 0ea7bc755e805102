"""What can go wrong talking to the inference server, as exceptions (standard library only).

An error reply becomes the :class:`ServerError` subclass for its code
(:meth:`ServerError.from_reply`; the codes are :mod:`glot_blender.core.protocol`'s, which the
server's ``inference_server.errors`` uses too), so a caller can catch, say,
:class:`ServerBusyError` alone. :class:`ServerCrashed` is a server process that ended without
being asked to, :class:`RequestTimeout` a request without an answer in time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import protocol
from .core.protocol import INTERNAL_ERROR


class ServerError(Exception):
    """The server answered a request with a JSON-RPC error (``code``, ``message``, ``data``).

    :meth:`from_reply` picks the subclass for the reply's code (codes in
    :mod:`glot_blender.core.protocol`), so callers can catch, say, :class:`ServerBusyError`
    alone; an unknown code stays a plain ServerError."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @staticmethod
    def from_reply(error: Any) -> ServerError:
        """The typed exception for a reply's ``error`` member."""
        err = error if isinstance(error, dict) else {}
        code = err.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else INTERNAL_ERROR
        cls = _ERROR_CLASSES.get(code, ServerError)
        return cls(code, str(err.get("message", error)), err.get("data"))


class ParseError(ServerError):
    """The server could not read a message as JSON (a client bug)."""


class InvalidMessageError(ServerError):
    """A message was not a JSON-RPC request object (a client bug)."""


class MethodNotFoundError(ServerError):
    """The server has no such method (an older server?)."""


class InvalidParamsError(ServerError):
    """A parameter is wrong in a way the user can fix (bad path, bad range, ...)."""


class InternalError(ServerError):
    """The server failed handling a request; its log has the traceback."""


class JobError(ServerError):
    """A job could not run: the unexpected-error code -32000."""


class ModelFileError(ServerError):
    """A model file is missing, of the wrong kind or unsafe to load."""


class VideoError(ServerError):
    """The video is missing, not a video, corrupt or empty."""


class NoPersonError(ServerError):
    """Nobody was found, or no one was followed long enough."""


class JobCancelledError(ServerError):
    """The job was cancelled."""


class ServerBusyError(ServerError):
    """A job is already running (one job at a time)."""


class BackendUnavailableError(ServerError):
    """The backend cannot run on the server's machine (package or model file missing)."""


_ERROR_CLASSES: dict[int, type[ServerError]] = {
    protocol.PARSE_ERROR: ParseError,
    protocol.INVALID_REQUEST: InvalidMessageError,
    protocol.METHOD_NOT_FOUND: MethodNotFoundError,
    protocol.INVALID_PARAMS: InvalidParamsError,
    protocol.INTERNAL_ERROR: InternalError,
    protocol.SERVER_ERROR: JobError,
    protocol.MODEL_FILE_ERROR: ModelFileError,
    protocol.VIDEO_ERROR: VideoError,
    protocol.NO_PERSON: NoPersonError,
    protocol.JOB_CANCELLED: JobCancelledError,
    protocol.SERVER_BUSY: ServerBusyError,
    protocol.BACKEND_UNAVAILABLE: BackendUnavailableError,
}


class ServerCrashed(Exception):
    """The server process ended without being asked to; ``log_tail`` is its last log lines."""

    def __init__(self, exit_code: int | None, log_tail: str, log_path: Path | None = None) -> None:
        where = f" ({log_path})" if log_path else ""
        super().__init__(f"The inference server stopped unexpectedly (exit code {exit_code}). "
                         f"Last lines of its log{where}:\n{log_tail}")
        self.exit_code = exit_code
        self.log_tail = log_tail
        self.log_path = log_path


class RequestTimeout(TimeoutError):
    """The server did not answer a request in time (it is still running)."""
