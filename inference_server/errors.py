"""The inference server's error hierarchy.

Every error carries a JSON-RPC application code and a message a user can act on. They are
raised anywhere in the server and caught only at the edges (the RPC handler, the CLI).
"""

from __future__ import annotations


class GlotError(Exception):
    """Base class: ``code`` is the JSON-RPC error code, ``str(err)`` the user-facing message."""

    code = -32000

    def __init__(self, message: str, *, data: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data or {}

    def to_rpc(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.data:
            err["data"] = self.data
        return err


class ModelFileError(GlotError):
    """A model file is missing, truncated, of the wrong kind or unsafe to load."""

    code = -32001


class VideoError(GlotError):
    """The video is missing, not a video, corrupt, empty or of an absurd size."""

    code = -32002


class NoPersonError(GlotError):
    """No person was found (or none was followed long enough) in the analysed frames."""

    code = -32003


class JobCancelled(GlotError):
    """The job was cancelled by the user; no result file is left behind."""

    code = -32004


class ServerBusyError(GlotError):
    """A job is already running; the server runs one job at a time."""

    code = -32005


class BackendUnavailableError(GlotError):
    """The requested backend cannot run here (a package or model file is missing)."""

    code = -32006


class InvalidRequestError(GlotError):
    """A request's parameters are wrong in a way the user can fix (bad path, bad range...)."""

    code = -32602
