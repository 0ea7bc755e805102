"""The inference server: newline-delimited JSON-RPC 2.0 on stdin/stdout.

One message per line, UTF-8. Stdout carries protocol messages only (see :func:`serve`, which
moves everything else to stderr); logs go to stderr and, with ``--log-file``, to a file.
No socket is ever opened. The full protocol is described in ``docs/protocol.md``.

Layers: :func:`decode_message` turns a line into a request (or a protocol error);
:class:`Server` dispatches it to a method handler; handlers raise :class:`RpcError` or
:class:`~inference_server.errors.GlotError`, which become JSON-RPC errors. A bad message is
answered and logged, never fatal. Jobs run one at a time in a daemon worker thread
(:class:`JobRunner`) that reports through ``progress`` and ``job/finished`` notifications.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import IO, Any

from . import __version__
from .errors import BackendUnavailableError, GlotError, JobCancelled, ServerBusyError

log = logging.getLogger("inference_server.server")

PROTOCOL_VERSION = 1
JSONRPC = "2.0"

# JSON-RPC 2.0 standard error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

MAX_LINE_BYTES = 1 << 20  # a longer line is refused (and skipped) as an invalid request
PROGRESS_MIN_INTERVAL_S = 0.1  # at most ~10 progress notifications per second per job
SHUTDOWN_JOIN_S = 3.0  # how long shutdown / stdin-closed waits for a cancelled job to stop

KNOWN_BACKENDS = ("auto", "glot", "lite")
KNOWN_DETECTORS = ("auto", "yolo", "hog", "onnx")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
FOV_RANGE_DEG = (1.0, 179.0)
FOCAL_RANGE_PX = (1.0, 1.0e6)
JOB_DIR_PREFIX = "glot-job-"


class RpcError(Exception):
    """A protocol-level error with a JSON-RPC code (parse error, unknown method, bad params)."""

    def __init__(self, code: int, message: str, data: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data or {}

    def to_rpc(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            err["data"] = self.data
        return err


@dataclass(frozen=True)
class Request:
    """One decoded message: ``id`` is None for a notification (no answer is sent)."""

    method: str
    params: dict
    id: int | str | None
    is_notification: bool


# --------------------------------------------------------------------------- wire helpers


class MessageWriter:
    """Writes one JSON message per line to the protocol stream; safe across threads."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                log.warning("could not write to the client (pipe closed): %s", line[:200])

    def result(self, req_id: int | str | None, result: Any) -> None:
        self.send({"jsonrpc": JSONRPC, "id": req_id, "result": result})

    def error(self, req_id: int | str | None, error: dict) -> None:
        self.send({"jsonrpc": JSONRPC, "id": req_id, "error": error})

    def notify(self, method: str, params: dict) -> None:
        self.send({"jsonrpc": JSONRPC, "method": method, "params": params})


def decode_message(line: bytes) -> Request:
    """Parse one line into a :class:`Request`; raise :class:`RpcError` (with the id if known)."""
    try:
        msg = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RpcError(PARSE_ERROR, f"Parse error: the line is not valid UTF-8 JSON ({exc}).")
    if isinstance(msg, list):
        raise RpcError(INVALID_REQUEST, "Invalid request: batches are not supported; "
                       "send one JSON object per line.")
    if not isinstance(msg, dict):
        raise RpcError(INVALID_REQUEST, "Invalid request: a message must be a JSON object.")
    req_id = msg.get("id")
    if "id" in msg and not (isinstance(req_id, (str, int)) and not isinstance(req_id, bool)
                            or req_id is None):
        raise RpcError(INVALID_REQUEST, "Invalid request: 'id' must be a string or an integer.")
    err_data = {"id": req_id}
    if msg.get("jsonrpc") != JSONRPC:
        raise RpcError(INVALID_REQUEST, "Invalid request: 'jsonrpc' must be \"2.0\".", err_data)
    method = msg.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "Invalid request: 'method' must be a non-empty string.",
                       err_data)
    params = msg.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, f"Invalid params for '{method}': 'params' must be a JSON "
                       "object (named parameters).", err_data)
    return Request(method=method, params=params, id=req_id, is_notification="id" not in msg)


def jsonable(obj: Any) -> Any:
    """Convert dataclasses, paths, numpy scalars/arrays and containers into JSON values."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return jsonable(obj.tolist())
    return str(obj)


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
        raise RpcError(INVALID_PARAMS, f"Invalid params: '{name}' must be {wanted}, "
                       f"got {json.dumps(value)[:60]}.")
    return value


def _require_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise RpcError(INVALID_PARAMS, f"Invalid params: '{name}' must be one of "
                       f"{', '.join(choices)}; got '{value}'.")
    return value


def _require_range(name: str, value: float, lo: float, hi: float) -> float:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise RpcError(INVALID_PARAMS, f"Invalid params: '{name}' must be between {lo:g} and "
                       f"{hi:g}; got {value!r}.")
    return float(value)


def _video_path(params: dict) -> Path:
    video = params.get("video")
    if not isinstance(video, str) or not video:
        raise RpcError(INVALID_PARAMS, "Invalid params: 'video' (the path of the video file) "
                       "is required and must be a string.")
    path = Path(video).expanduser()
    if not path.exists():
        raise RpcError(INVALID_PARAMS, f"Video file not found: {path}. Check the path.")
    if not path.is_file():
        raise RpcError(INVALID_PARAMS, f"The video path is not a file: {path}. Pick a video "
                       "file, not a folder.")
    return path


@dataclass(frozen=True)
class AnalyzeParams:
    """Validated ``analyze`` params; ``options`` are the keyword arguments of AnalyzeOptions
    (without ``output``), ``output_dir`` the folder the caller wants the result in (or None)."""

    video: Path
    output_dir: Path | None
    options: dict = field(default_factory=dict)


def parse_analyze_params(params: dict, available_devices: list[str]) -> AnalyzeParams:
    """Check every ``analyze`` parameter; raise :class:`RpcError` (-32602) naming the bad one."""
    video = _video_path(params)
    start = _param(params, "start", (int,), 0)
    end = _param(params, "end", (int,))
    if start < 0:
        raise RpcError(INVALID_PARAMS, f"Invalid params: 'start' must be >= 0; got {start}.")
    if end is not None and end <= start:
        raise RpcError(INVALID_PARAMS, f"Invalid params: 'end' ({end}) must be greater than "
                       f"'start' ({start}); 'end' is exclusive.")
    stride = _param(params, "stride", (int,), 1)
    detect_every = _param(params, "detect_every", (int,), 1)
    min_track_len = _param(params, "min_track_len", (int,), 25)
    for name, value in (("stride", stride), ("detect_every", detect_every),
                        ("min_track_len", min_track_len)):
        if value < 1:
            raise RpcError(INVALID_PARAMS, f"Invalid params: '{name}' must be >= 1; got {value}.")
    backend = _require_choice("backend", _param(params, "backend", (str,), "auto"),
                              KNOWN_BACKENDS)
    detector = _require_choice("detector", _param(params, "detector", (str,), "auto"),
                               KNOWN_DETECTORS)
    device = _check_device(_param(params, "device", (str,), "auto"), available_devices)
    fov_deg = _param(params, "fov_deg", (float, int))
    focal_px = _param(params, "focal_px", (float, int))
    if fov_deg is not None and focal_px is not None:
        raise RpcError(INVALID_PARAMS, "Invalid params: give 'fov_deg' or 'focal_px', not both.")
    if fov_deg is not None:
        fov_deg = _require_range("fov_deg", fov_deg, *FOV_RANGE_DEG)
    if focal_px is not None:
        focal_px = _require_range("focal_px", focal_px, *FOCAL_RANGE_PX)
    keep_partial = _param(params, "keep_partial", (bool,), False)
    output_dir = _param(params, "output_dir", (str,))
    out = Path(output_dir).expanduser() if output_dir else None
    if out is not None and out.exists() and not out.is_dir():
        raise RpcError(INVALID_PARAMS, f"Invalid params: 'output_dir' is not a folder: {out}.")
    options = {"start": start, "end": end, "stride": stride, "backend": backend,
               "detector": detector, "device": device, "fov_deg": fov_deg,
               "focal_px": focal_px, "min_track_len": min_track_len,
               "detect_every": detect_every, "keep_partial": keep_partial}
    return AnalyzeParams(video=video, output_dir=out, options=options)


def _check_device(device: str, available: list[str]) -> str:
    if not DEVICE_PATTERN.match(device):
        raise RpcError(INVALID_PARAMS, f"Invalid params: 'device' must be auto, cpu, mps, cuda "
                       f"or cuda:N; got '{device}'.")
    if device == "cuda" and any(d.startswith("cuda:") for d in available):
        return device
    if device != "auto" and device not in available:
        raise RpcError(INVALID_PARAMS, f"Device '{device}' is not available on this machine "
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


# --------------------------------------------------------------------------- progress


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


# --------------------------------------------------------------------------- jobs


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
        self._engine: Any = None
        self._lock = threading.Lock()
        self._job: Job | None = None

    # -- engine ---------------------------------------------------------------------------
    def engine(self) -> Any:
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
        from .pipeline import AnalyzeOptions

        job = self._new_job(params)
        try:
            options = AnalyzeOptions(video=params.video, output=job.output,
                                     models_dir=self._models_dir, **params.options)
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
                raise RpcError(INVALID_PARAMS, f"Cannot create the output folder "
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

    def _run(self, engine: Any, job: Job, options: Any) -> None:
        throttle = ProgressThrottle(lambda ev: self._writer.notify("progress", ev))
        started = time.monotonic()
        log.info("job %s started: %s", job.id, options)

        def progress(event: Any) -> None:
            if job.cancel.is_set():
                raise JobCancelled("The job was cancelled.")
            ev = {"job": job.id, "stage": event.stage, "done": int(event.done),
                  "total": None if event.total is None else int(event.total)}
            if getattr(event, "message", ""):
                ev["message"] = str(event.message)
            throttle(ev)

        finished: dict[str, Any] = {"job": job.id}
        try:
            result = engine.analyze(options, progress=progress, should_cancel=job.cancel.is_set)
            throttle.flush()
            finished.update(status="ok", result=str(getattr(result, "path", job.output)),
                            summary=_summary(result))
        except JobCancelled:
            throttle.flush()
            self._discard(job)
            finished.update(status="cancelled")
        except GlotError as exc:
            throttle.flush()
            self._discard(job)
            log.warning("job %s failed: %s", job.id, exc.message)
            finished.update(status="error", error=jsonable(exc.to_rpc()))
        except Exception as exc:  # noqa: BLE001 - the edge: traceback to the log, one sentence out
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc())
            self._discard(job)
            finished.update(status="error", error={
                "code": GlotError.code,
                "message": f"Unexpected error ({type(exc).__name__}: {exc}); the full "
                           "traceback is in the server log."})
        finally:
            with self._lock:
                self._job = None
        log.info("job %s %s in %.1f s", job.id, finished["status"], time.monotonic() - started)
        self._writer.notify("job/finished", finished)

    @staticmethod
    def _discard(job: Job) -> None:
        """Remove any partial output (and the job folder when the server created it)."""
        job.output.unlink(missing_ok=True)
        if job.own_dir:
            shutil.rmtree(job.output.parent, ignore_errors=True)


def _summary(result: Any) -> dict:
    """The AnalysisResult as JSON, plus ``people`` (number of tracks found)."""
    summary = jsonable(result)
    if not isinstance(summary, dict):
        return {"result": summary}
    summary.pop("path", None)
    tracks = summary.get("tracks")
    if isinstance(tracks, list):
        summary["people"] = len(tracks)
    return summary


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
            "initialize": self._initialize,
            "analyze": self._analyze,
            "cancel": self._cancel,
            "shutdown": self._shutdown,
        }

    # -- loop -----------------------------------------------------------------------------
    def serve_forever(self) -> int:
        """Answer messages until ``shutdown`` or end of input; returns the exit status."""
        log.info("GLoT inference server %s ready (protocol %d)", __version__, PROTOCOL_VERSION)
        while not self._stop:
            line, oversized = self._read_line()
            if line is None:
                log.info("stdin closed: cancelling any job and exiting")
                break
            if oversized:
                log.warning("refused a message longer than %d bytes", MAX_LINE_BYTES)
                self._writer.error(None, RpcError(INVALID_REQUEST, (
                    f"Invalid request: the message is longer than {MAX_LINE_BYTES} bytes."
                )).to_rpc())
            elif line.strip():
                self.handle_line(line)
        self._jobs.cancel_and_wait(SHUTDOWN_JOIN_S)
        return 0

    def _read_line(self) -> tuple[bytes | None, bool]:
        """The next line (None at end of input) and whether it was too long (then skipped)."""
        line = self._stdin.readline(MAX_LINE_BYTES + 1)
        if not line:
            return None, False
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # skip the rest of the oversized line
                rest = self._stdin.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            return b"", True
        return line, False

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
        except (RpcError, GlotError) as exc:
            if isinstance(exc, RpcError):
                req_id = exc.data.pop("id", req_id)
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
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: '{request.method}'. Known "
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
            raise RpcError(INVALID_PARAMS, "Invalid params: 'job' (the id analyze returned) is "
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
