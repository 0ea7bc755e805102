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
import math
import platform
import re
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

from . import __version__
from .detect import DETECTOR_NAMES as KNOWN_DETECTORS
from .errors import GlotError, InvalidMessageError, InvalidRequestError, MethodNotFoundError
from .jobs import AnalyzeParams, JobRunner
from .wire import MAX_LINE_BYTES, MessageWriter, Request, decode_message, read_line

log = logging.getLogger("inference_server.server")

SHUTDOWN_JOIN_S = 3.0  # how long shutdown / stdin-closed waits for a cancelled job to stop

KNOWN_BACKENDS = ("auto", "glot", "lite")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
FOV_RANGE_DEG = (1.0, 179.0)
FOCAL_RANGE_PX = (1.0, 1.0e6)


# --------------------------------------------------------------------------- params


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _param(params: dict, name: str, kinds: tuple[type, ...], default: Any = None) -> Any:
    """Fetch an optional parameter and check its JSON type (bool is never a number)."""
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in kinds:
        value_ok = False
    else:
        value_ok = isinstance(value, kinds)
    if not value_ok:
        wanted = " or ".join(_TYPE_WORDS[k] for k in kinds if k in _TYPE_WORDS)
        raise InvalidRequestError(f"Invalid params: '{name}' must be {wanted}, "
                       f"got {json.dumps(value)[:60]}.")
    return value


def _require_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidRequestError(f"Invalid params: '{name}' must be one of "
                       f"{', '.join(choices)}; got '{value}'.")
    return value


def _require_range(name: str, value: float, lo: float, hi: float) -> float:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InvalidRequestError(f"Invalid params: '{name}' must be between {lo:g} and "
                       f"{hi:g}; got {value!r}.")
    return float(value)


def _video_path(params: dict) -> Path:
    video = params.get("video")
    if not isinstance(video, str) or not video:
        raise InvalidRequestError("Invalid params: 'video' (the path of the video file) "
                       "is required and must be a string.")
    path = Path(video).expanduser()
    if not path.exists():
        raise InvalidRequestError(f"Video file not found: {path}. Check the path.")
    if not path.is_file():
        raise InvalidRequestError(f"The video path is not a file: {path}. Pick a video "
                       "file, not a folder.")
    return path


def parse_analyze_params(params: dict, available_devices: list[str]) -> AnalyzeParams:
    """Check every ``analyze`` parameter; raise :class:`InvalidRequestError` (-32602) naming the bad one."""
    video = _video_path(params)
    start = _param(params, "start", (int,), 0)
    end = _param(params, "end", (int,))
    if start < 0:
        raise InvalidRequestError(f"Invalid params: 'start' must be >= 0; got {start}.")
    if end is not None and end <= start:
        raise InvalidRequestError(f"Invalid params: 'end' ({end}) must be greater than "
                       f"'start' ({start}); 'end' is exclusive.")
    stride = _param(params, "stride", (int,), 1)
    detect_every = _param(params, "detect_every", (int,), 1)
    min_track_len = _param(params, "min_track_len", (int,), 25)
    for name, value in (("stride", stride), ("detect_every", detect_every),
                        ("min_track_len", min_track_len)):
        if value < 1:
            raise InvalidRequestError(f"Invalid params: '{name}' must be >= 1; got {value}.")
    backend = _require_choice("backend", _param(params, "backend", (str,), "auto"),
                              KNOWN_BACKENDS)
    detector = _require_choice("detector", _param(params, "detector", (str,), "auto"),
                               KNOWN_DETECTORS)
    device = _check_device(_param(params, "device", (str,), "auto"), available_devices)
    fov_deg = _param(params, "fov_deg", (float, int))
    focal_px = _param(params, "focal_px", (float, int))
    if fov_deg is not None and focal_px is not None:
        raise InvalidRequestError("Invalid params: give 'fov_deg' or 'focal_px', not both.")
    if fov_deg is not None:
        fov_deg = _require_range("fov_deg", fov_deg, *FOV_RANGE_DEG)
    if focal_px is not None:
        focal_px = _require_range("focal_px", focal_px, *FOCAL_RANGE_PX)
    keep_partial = _param(params, "keep_partial", (bool,), False)
    refine = _param(params, "refine", (bool,), True)
    world = _param(params, "world", (bool,), True)
    output_dir = _param(params, "output_dir", (str,))
    out = Path(output_dir).expanduser() if output_dir else None
    if out is not None and out.exists() and not out.is_dir():
        raise InvalidRequestError(f"Invalid params: 'output_dir' is not a folder: {out}.")
    options = {"start": start, "end": end, "stride": stride, "backend": backend,
               "detector": detector, "device": device, "fov_deg": fov_deg,
               "focal_px": focal_px, "min_track_len": min_track_len,
               "detect_every": detect_every, "keep_partial": keep_partial, "refine": refine,
               "world": world}
    return AnalyzeParams(video=video, output_dir=out, options=options)


def _check_device(device: str, available: list[str]) -> str:
    if not DEVICE_PATTERN.match(device):
        raise InvalidRequestError(f"Invalid params: 'device' must be auto, cpu, mps, cuda "
                       f"or cuda:N; got '{device}'.")
    if device == "cuda" and any(d.startswith("cuda:") for d in available):
        return device
    if device != "auto" and device not in available:
        raise InvalidRequestError(f"Device '{device}' is not available on this machine "
                       f"(found: {', '.join(available)}); choose one of those or 'auto'.")
    return device


# --------------------------------------------------------------------------- devices


def cpu_name() -> str:
    """A readable CPU name (the model name on Linux), else the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def find_devices() -> list[dict]:
    """Devices torch can use here: ``[{id, kind, name, memory_gb?}]``, CPU always first."""
    import torch

    devices = [{"id": "cpu", "kind": "cpu", "name": cpu_name()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append({"id": f"cuda:{i}", "kind": "cuda", "name": props.name,
                            "memory_gb": round(props.total_memory / 2**30, 1)})
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"id": "mps", "kind": "mps", "name": "Apple Metal (MPS)"})
    return devices


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
        available = [d["id"] for d in self.devices()]
        parsed = parse_analyze_params(params, available)
        job_id = self._jobs.start(parsed)
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
