"""Fuzz corpus, server: hostile lines get the documented JSON-RPC error (never silence, never
-32603), the stream never stalls, and the server lives on."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fuzz_support import snapshot
from server_testing import RawServer

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> RawServer:
    folder = tmp_path_factory.mktemp("fuzz_server")
    server = RawServer(None, folder / "stderr.log")
    yield server
    server.close()


def _alive(raw: RawServer) -> None:
    msg = raw.call("cancel", {"job": "none"})
    assert msg["result"] == {"cancelled": False}


def _answer(raw: RawServer, line: bytes) -> dict:
    raw.send_line(line)
    return raw.next_message(timeout=30)


HOSTILE_LINES = [
    # (line, code, words in the message, id of the answer)
    (b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"initialize"}', PARSE_ERROR,
     "number", None),
    (b'{"jsonrpc":"2.0","id":1,"method":"cancel","params":{"job":' + b"1" * 4400 + b"}}",
     PARSE_ERROR, "number", None),
    (b"[" * 100_000 + b"]" * 100_000, PARSE_ERROR, "nested", None),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, PARSE_ERROR, "nested", None),
    (b'{"jsonrpc":"2.0","id":"\\udcff","method":"initialize"}', INVALID_REQUEST, "Unicode", None),
    (b'{"jsonrpc":"2.0","id":"\\ud800x","method":"initialize"}', INVALID_REQUEST, "Unicode", None),
    (b'{"jsonrpc":"2.0","id":7,"method":"init\\udcffialize"}', INVALID_REQUEST, "method", 7),
    (b'{"jsonrpc":"2.0","id":8,"method":"analyze","params":{"video":"/v/w\\udcffalk.mp4"}}',
     INVALID_PARAMS, "video", 8),
    (b'{"jsonrpc":"2.0","id":9,"method":"cancel","params":{"job":"\\udfff"}}',
     INVALID_PARAMS, "job", 9),
    (b'{"jsonrpc":"2.0","id":10,"method":"analyze","params":{"\\udcff":1}}',
     INVALID_PARAMS, "Unicode", 10),
]


@pytest.mark.parametrize(("line", "code", "words", "req_id"), HOSTILE_LINES,
                         ids=[f"line{i}" for i in range(len(HOSTILE_LINES))])
def test_hostile_lines_get_the_documented_error(raw: RawServer, line: bytes, code: int,
                                                words: str, req_id: object) -> None:
    msg = _answer(raw, line)
    assert msg.get("id") == req_id and msg["error"]["code"] == code, msg
    assert words in msg["error"]["message"], msg
    _alive(raw)


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev are POSIX")
def test_bad_videos_and_cameras_are_refused_at_once(raw: RawServer, tmp_path: Path,
                                                    small_video) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    shutil.copy(small_video.path, tmp_path / "walk.mp4")
    video = str(tmp_path / "walk.mp4")
    before = snapshot(tmp_path)
    cases = [({"video": str(tmp_path / "pipe.mp4")}, "FIFO"),
             ({"video": "/dev/zero"}, "character device"),
             ({"video": video, "focal_px": 1e400}, "focal_px"),
             ({"video": video, "focal_px": 10**400}, "focal_px"),
             ({"video": video, "fov_deg": -1e400}, "fov_deg"),
             ({"video": video, "output_dir": str(tmp_path / "walk.mp4" / "sub")}, "output")]
    for params, words in cases:
        text = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "analyze", "params": params})
        msg = _answer(raw, text.replace("Infinity", "1e400").encode())
        assert msg["id"] == 5 and msg["error"]["code"] == INVALID_PARAMS, (params, msg)
        assert words in msg["error"]["message"], (params, msg)
    assert snapshot(tmp_path) == before
    _alive(raw)


def test_a_reply_holding_a_lone_surrogate_is_still_written() -> None:
    """Text the UTF-8 stream cannot carry (a lone surrogate from some file name) is replaced,
    never swallowed as a closed pipe: the client always gets its line."""
    import io

    from inference_server.wire import MessageWriter

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    MessageWriter(stream).error(3, {"code": -32002, "message": "w\udcffalk.mp4 is damaged"})
    line = raw.getvalue().decode("utf-8")
    assert line.endswith("\n") and json.loads(line)["error"]["message"] == "w\ufffdalk.mp4 is damaged"
