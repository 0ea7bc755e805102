"""The inference server: JSON-RPC 2.0 methods on stdin/stdout (``docs/protocol.md``).

Stdout carries protocol messages only (``__main__`` moves everything else to stderr); logs
go to stderr and, with ``--log-file``, to a file. No socket is ever opened.

:class:`Server` reads lines (:mod:`.wire`), dispatches each request to a method handler and
answers; handlers raise :class:`~inference_server.errors.GlotError`, which becomes a
JSON-RPC error. A bad message is answered and logged, never fatal. Jobs run in the
:class:`~inference_server.jobs.JobRunner`.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from glot_blender.core.protocol import (
    INTERNAL_ERROR,
    METHOD_ANALYZE,
    METHOD_CANCEL,
    METHOD_INITIALIZE,
    METHOD_SHUTDOWN,
    PROTOCOL_VERSION,
)

from glot_blender.core.safe_files import file_kind

from . import __version__
from .devices import find_devices, resolve_device
from .errors import GlotError, InvalidMessageError, InvalidRequestError, MethodNotFoundError
from .jobs import AnalyzeParams, JobRunner
from .options import AnalyzeOptions
from .wire import MAX_LINE_BYTES, MessageWriter, Request, decode_message, read_line

log = logging.getLogger("inference_server.server")

SHUTDOWN_JOIN_S = 3.0  # how long shutdown / stdin-closed waits for a cancelled job to stop

#: ``analyze`` params that are AnalyzeOptions fields, and their JSON types; the values are
#: AnalyzeOptions' to check, the device resolve_device's
OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "start": (int,), "end": (int,), "stride": (int,), "backend": (str,), "detector": (str,),
    "device": (str,), "fov_deg": (float, int), "focal_px": (float, int),
    "min_track_len": (int,), "detect_every": (int,), "keep_partial": (bool,), "refine": (bool,),
    "world": (bool,),
}
_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


# --------------------------------------------------------------------------- params


def _param(params: dict, name: str, kinds: tuple[type, ...]) -> Any:
    """An optional parameter (None when absent) of the JSON type ``kinds`` (bool is never a
    number)."""
    value = params.get(name)
    if value is None:
        return None
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        wanted = " or ".join(_TYPE_WORDS[k] for k in kinds if k in _TYPE_WORDS)
        raise InvalidRequestError(f"Invalid params: '{name}' must be {wanted}, "
                                  f"got {json.dumps(value)[:60]}.")
    return value


def _video_path(params: dict) -> Path:
    video = params.get("video")
    if not isinstance(video, str) or not video:
        raise InvalidRequestError("Invalid params: 'video' (the path of the video file) "
                                  "is required and must be a string.")
    path = Path(video).expanduser()
    if not path.exists():
        raise InvalidRequestError(f"Video file not found: {path}. Check the path.")
    kind = file_kind(path)
    if kind is not None:
        raise InvalidRequestError(f"The video path is not a file: {path} is {kind}. Pick a "
                                  "video file.")
    return path


def _output_dir(params: dict) -> Path | None:
    output_dir = _param(params, "output_dir", (str,))
    out = Path(output_dir).expanduser() if output_dir else None
    if out is not None and out.exists() and not out.is_dir():
        raise InvalidRequestError(f"Invalid params: 'output_dir' is not a folder: {out}.")
    return out


def parse_analyze_params(params: dict, models_dir: Path | None = None) -> AnalyzeParams:
    """The ``analyze`` params as a checked job, before anything is created: the video file
    and the output folder here, JSON types here, values by :class:`AnalyzeOptions`, the device
    by :func:`resolve_device`; each refusal an :class:`InvalidRequestError` (-32602) naming
    the parameter."""
    video = _video_path(params)
    given = {name: _param(params, name, kinds) for name, kinds in OPTION_TYPES.items()}
    out = _output_dir(params)
    try:
        options = AnalyzeOptions(video=video, output=Path(f"{video.stem}.npz"),
                                 models_dir=models_dir,
                                 **{k: v for k, v in given.items() if v is not None})
        resolve_device(options.device)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"Invalid params: {exc.message}") from exc
    return AnalyzeParams(video=video, output_dir=out, options=options)


# --------------------------------------------------------------------------- server


class Server:
    """Reads requests from ``stdin`` (binary) and answers through ``writer``."""

    def __init__(self, stdin: IO[bytes], writer: MessageWriter,
                 models_dir: Path | None = None) -> None:
        self._stdin = stdin
        self._writer = writer
        self._models_dir = models_dir
        self._jobs = JobRunner(writer, models_dir)
        self._stop = False
        self._devices: list[dict] | None = None
        self._handlers: dict[str, Callable[[dict], Any]] = {
            METHOD_INITIALIZE: self._initialize,
            METHOD_ANALYZE: self._analyze,
            METHOD_CANCEL: self._cancel,
            METHOD_SHUTDOWN: self._shutdown,
        }

    # -- loop -----------------------------------------------------------------------------
    def serve_forever(self) -> int:
        """Answer messages until ``shutdown`` or end of input; returns the exit status."""
        log.info("GLoT inference server %s ready (protocol %d)", __version__, PROTOCOL_VERSION)
        while not self._stop:
            line, oversized = read_line(self._stdin)
            if line is None:
                log.info("stdin closed: cancelling any job and exiting")
                break
            if oversized:
                log.warning("refused a message longer than %d bytes", MAX_LINE_BYTES)
                self._writer.error(None, InvalidMessageError(
                    f"Invalid request: the message is longer than {MAX_LINE_BYTES} bytes."
                ).to_rpc())
            elif line.strip():
                self.handle_line(line)
        self._jobs.cancel_and_wait(SHUTDOWN_JOIN_S)
        return 0

    def handle_line(self, line: bytes) -> None:
        """Decode, dispatch and answer one line; no exception escapes. Notifications (no id)
        are never answered, not even with an error (JSON-RPC 2.0): their faults are logged."""
        req_id, notification = None, False
        try:
            request = decode_message(line)
            req_id, notification = request.id, request.is_notification
            result = self.dispatch(request)
            if not notification:
                self._writer.result(req_id, result)
        except GlotError as exc:
            if exc.request_id is not None:
                req_id = exc.request_id
            log.warning("%s %r refused: %s", "notification" if notification else "request",
                        req_id, exc.message)
            if not notification:
                self._writer.error(req_id, exc.to_rpc())
        except Exception as exc:  # noqa: BLE001 - the edge: a bad message is never fatal
            log.error("internal error on %r:\n%s", line[:200], traceback.format_exc())
            if not notification:
                self._writer.error(req_id, {"code": INTERNAL_ERROR, "message": (
                    f"Internal error ({type(exc).__name__}: {exc}); see the server log.")})

    def dispatch(self, request: Request) -> Any:
        handler = self._handlers.get(request.method)
        if handler is None:
            raise MethodNotFoundError(f"Method not found: '{request.method}'. Known "
                                      f"methods: {', '.join(self._handlers)}.")
        return handler(request.params)

    # -- methods --------------------------------------------------------------------------
    def devices(self) -> list[dict]:
        if self._devices is None:
            self._devices = find_devices()
        return self._devices

    def _initialize(self, params: dict) -> dict:
        import torch

        described = self._jobs.describe()
        info = {
            "server_version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "python_version": platform.python_version(),
            "python_executable": sys.executable,
            "torch_version": torch.__version__,
            "models_dir": str(self._models_dir) if self._models_dir else None,
        }
        info.update({k: v for k, v in described.items() if k not in info})
        info["devices"] = self.devices()
        info.setdefault("backends", {})
        return info

    def _analyze(self, params: dict) -> dict:
        job_id = self._jobs.start(parse_analyze_params(params, self._models_dir))
        return {"job": job_id}

    def _cancel(self, params: dict) -> dict:
        job = _param(params, "job", (str,))
        if job is None:
            raise InvalidRequestError("Invalid params: 'job' (the id analyze returned) is "
                                      "required.")
        return {"cancelled": self._jobs.cancel(job)}

    def _shutdown(self, params: dict) -> dict:
        self._stop = True
        return {}


def configure_logging(log_file: Path | None, stream: IO[str]) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(stream)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
