"""The wire: newline-delimited JSON-RPC 2.0 messages on a byte stream.

One message per line, UTF-8. :func:`read_line` reads a line (refusing oversized ones),
:func:`decode_message` turns it into a :class:`Request` or raises the protocol error of
:mod:`.errors`, :class:`MessageWriter` writes results, errors and notifications, and
:func:`jsonable` turns results into JSON values. No method is known here (see
:mod:`.server`); the vocabulary (codes, notification names) is
:mod:`glot_blender.core.protocol`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import IO, Any

from glot_blender.core.protocol import JSONRPC

from .errors import InvalidMessageError, InvalidRequestError, ParseError

log = logging.getLogger("inference_server.server")

MAX_LINE_BYTES = 1 << 20  # a longer line is refused (and skipped) as an invalid request
#: an unpaired UTF-16 surrogate: valid in a JSON escape, but not text UTF-8 can carry
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Request:
    """One decoded message: ``id`` is None for a notification (no answer is sent)."""

    method: str
    params: dict
    id: int | str | None
    is_notification: bool


class MessageWriter:
    """Writes one JSON message per line to the protocol stream; safe across threads."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if not is_unicode(line):  # never stall on text the stream cannot encode
            log.warning("lone surrogates replaced in an outgoing message")
            line = LONE_SURROGATE.sub("\ufffd", line)
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


def read_line(stdin: IO[bytes]) -> tuple[bytes | None, bool]:
    """The next line (None at end of input) and whether it was too long (then skipped)."""
    line = stdin.readline(MAX_LINE_BYTES + 1)
    if not line:
        return None, False
    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
        while True:  # skip the rest of the oversized line
            rest = stdin.readline(MAX_LINE_BYTES)
            if not rest or rest.endswith(b"\n"):
                break
        return b"", True
    return line, False


def is_unicode(text: str) -> bool:
    """False when ``text`` holds a lone surrogate (an unpaired ``\\ud800``..``\\udfff`` JSON
    escape): text that cannot be written back as UTF-8."""
    return LONE_SURROGATE.search(text) is None


def _first_bad_text(value: Any) -> str | None:
    """The name of the first key whose text (or key) is not valid Unicode (``'video'``,
    ``'method'``...), walked without recursion; None when all text is valid."""
    stack: list[tuple[str, Any]] = [("message", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return where
        elif isinstance(item, dict):
            for key, sub in item.items():
                if not is_unicode(key):
                    return f"a key in '{where}'"
                stack.append((key, sub))
        elif isinstance(item, list):
            stack.extend((where, sub) for sub in item)
    return None


def _parse_json(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"Parse error: the line is not valid UTF-8 JSON ({exc}).") from exc
    except RecursionError:
        raise ParseError("Parse error: the message is nested too deeply to read.") from None
    except ValueError as exc:  # an integer longer than Python's limit (4300 digits)
        raise ParseError(f"Parse error: the message holds a number that cannot be read "
                         f"({str(exc)[:80]}).") from None


def decode_message(line: bytes) -> Request:
    """Parse one line into a :class:`Request`; raise a :class:`GlotError` (with the request
    id when it could be read) for a line that is not a request."""
    msg = _parse_json(line)
    if isinstance(msg, list):
        raise InvalidMessageError("Invalid request: batches are not supported; "
                                  "send one JSON object per line.")
    if not isinstance(msg, dict):
        raise InvalidMessageError("Invalid request: a message must be a JSON object.")
    req_id = msg.get("id")
    if "id" in msg and not (isinstance(req_id, (str, int)) and not isinstance(req_id, bool)
                            or req_id is None):
        raise InvalidMessageError("Invalid request: 'id' must be a string or an integer.")
    if isinstance(req_id, str) and not is_unicode(req_id):
        raise InvalidMessageError("Invalid request: 'id' is not valid Unicode (it holds an "
                                  "unpaired surrogate escape).")
    bad = _first_bad_text(msg)
    if bad is not None:
        error = InvalidMessageError if bad in ("message", "method", "jsonrpc") \
            else InvalidRequestError
        raise error(f"Invalid request: '{bad}' is not valid Unicode text (it holds an unpaired "
                    "surrogate escape, e.g. from a file name that is not UTF-8); rename the "
                    "file or send valid text.", request_id=req_id)
    if msg.get("jsonrpc") != JSONRPC:
        raise InvalidMessageError("Invalid request: 'jsonrpc' must be \"2.0\".",
                                  request_id=req_id)
    method = msg.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidMessageError("Invalid request: 'method' must be a non-empty string.",
                                  request_id=req_id)
    params = msg.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidRequestError(f"Invalid params for '{method}': 'params' must be a JSON "
                                  "object (named parameters).", request_id=req_id)
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
