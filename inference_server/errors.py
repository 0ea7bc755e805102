"""The inference server's one error family.

Every error carries a JSON-RPC code (from :mod:`glot_blender.core.protocol`, which the
client shares) and a message a user can act on. They are raised anywhere in the server and
caught only at the edges (the RPC handler, the job runner, the CLI). The protocol-level ones
(a line that is not JSON, an unknown method) are part of the same family.
"""

from __future__ import annotations

from glot_blender.core import protocol


class GlotError(Exception):
    """Base class: ``code`` is the JSON-RPC error code, ``str(err)`` the user-facing message.

    ``request_id``: the id of the request the error answers, when a message could be read
    that far but was refused (see :func:`inference_server.wire.decode_message`)."""

    code = protocol.SERVER_ERROR

    def __init__(self, message: str, *, data: dict | None = None,
                 request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data or {}
        self.request_id = request_id

    def to_rpc(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.data:
            err["data"] = self.data
        return err


class ModelFileError(GlotError):
    """A model file is missing, truncated, of the wrong kind or unsafe to load."""

    code = protocol.MODEL_FILE_ERROR


class VideoError(GlotError):
    """The video is missing, not a video, corrupt, empty or of an absurd size."""

    code = protocol.VIDEO_ERROR


class NoPersonError(GlotError):
    """No person was found (or none was followed long enough) in the analysed frames."""

    code = protocol.NO_PERSON


class JobCancelled(GlotError):
    """The job was cancelled by the user; no result file is left behind."""

    code = protocol.JOB_CANCELLED


class ServerBusyError(GlotError):
    """A job is already running; the server runs one job at a time."""

    code = protocol.SERVER_BUSY


class BackendUnavailableError(GlotError):
    """The requested backend cannot run here (a package or model file is missing)."""

    code = protocol.BACKEND_UNAVAILABLE


class InvalidRequestError(GlotError):
    """A request's parameters are wrong in a way the user can fix (bad path, bad range...)."""

    code = protocol.INVALID_PARAMS


# ----------------------------------------------------------------------------- protocol level


class ParseError(GlotError):
    """A line is not valid UTF-8 JSON."""

    code = protocol.PARSE_ERROR


class InvalidMessageError(GlotError):
    """A message is not a JSON-RPC request object (JSON-RPC's "Invalid Request")."""

    code = protocol.INVALID_REQUEST


class MethodNotFoundError(GlotError):
    """A request names a method the server does not have."""

    code = protocol.METHOD_NOT_FOUND
