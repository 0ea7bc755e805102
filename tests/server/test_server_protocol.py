"""The real server process, spoken to byte by byte: every bad message gets a JSON-RPC error
and the server stays up; stdout carries protocol messages only; stdin closed -> it exits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from server_testing import RawServer, server_env

PARSE, INVALID_REQUEST, NO_METHOD, BAD_PARAMS = -32700, -32600, -32601, -32602


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> RawServer:
    folder = tmp_path_factory.mktemp("raw_server")
    server = RawServer(None, folder / "stderr.log",
                       extra_args=("--log-file", str(folder / "logs" / "server.log")))
    yield server
    server.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("raw_files")
    video = folder / "clip.mp4"
    video.write_bytes(b"not checked before the job starts")
    return {"video": video, "folder": folder}


def assert_alive(raw: RawServer) -> None:
    reply = raw.call("initialize")
    assert reply["result"]["protocol_version"] == 1


def test_initialize_reports_versions_and_devices(raw: RawServer) -> None:
    result = raw.call("initialize", {})["result"]
    assert result["server_version"]
    assert result["torch_version"].startswith("2.")
    assert result["devices"][0]["id"] == "cpu"
    assert isinstance(result["backends"], dict)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"this is not json", PARSE),
        (b'{"jsonrpc": "2.0", "method": "initialize", "id": 1', PARSE),
        (b"\xff\xfe garbage bytes", PARSE),
        (b"[1, 2]", INVALID_REQUEST),
        (b'"a string"', INVALID_REQUEST),
        (b'{"jsonrpc": "1.0", "method": "initialize", "id": 5}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 6}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "method": 12, "id": 7}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "method": "initialize", "id": [1]}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "method": "initialize", "id": 8, "params": [1]}', BAD_PARAMS),
    ],
)
def test_malformed_lines_are_answered(raw: RawServer, line: bytes, code: int) -> None:
    raw.send_line(line)
    msg = raw.next_message()
    assert msg["jsonrpc"] == "2.0"
    assert msg["error"]["code"] == code, msg
    assert msg["error"]["message"]
    assert_alive(raw)


def test_error_keeps_the_request_id(raw: RawServer) -> None:
    raw.send_line(b'{"jsonrpc": "2.0", "method": "initialize", "id": "abc", "params": 3}')
    msg = raw.next_message()
    assert msg["id"] == "abc" and msg["error"]["code"] == BAD_PARAMS


def test_unknown_method(raw: RawServer) -> None:
    msg = raw.call("transmogrify", {})
    assert msg["error"]["code"] == NO_METHOD
    assert "transmogrify" in msg["error"]["message"]
    assert_alive(raw)


def test_notification_gets_no_answer(raw: RawServer) -> None:
    raw.send_line(b'{"jsonrpc": "2.0", "method": "transmogrify"}')
    rid = raw.send("initialize")
    msg = raw.next_message()  # the very next line answers the initialize, nothing before it
    assert msg["id"] == rid and "result" in msg


def _bad_analyze_params(files: dict[str, Path]) -> list[tuple[dict, str]]:
    video, folder = str(files["video"]), files["folder"]
    return [
        ({}, "video"),
        ({"video": 42}, "video"),
        ({"video": str(folder / "missing.mp4")}, "not found"),
        ({"video": str(folder)}, "not a file"),
        ({"video": video, "start": "0"}, "start"),
        ({"video": video, "start": 1.5}, "start"),
        ({"video": video, "start": True}, "start"),
        ({"video": video, "start": -1}, "start"),
        ({"video": video, "start": 10, "end": 10}, "end"),
        ({"video": video, "end": "all"}, "end"),
        ({"video": video, "backend": "magic"}, "backend"),
        ({"video": video, "detector": 3}, "detector"),
        ({"video": video, "detector": "eyes"}, "detector"),
        ({"video": video, "device": "tpu"}, "device"),
        ({"video": video, "device": "cuda:7"}, "cuda:7"),
        ({"video": video, "fov_deg": 0}, "fov_deg"),
        ({"video": video, "fov_deg": "wide"}, "fov_deg"),
        ({"video": video, "focal_px": -5.0}, "focal_px"),
        ({"video": video, "fov_deg": 60, "focal_px": 900}, "not both"),
        ({"video": video, "min_track_len": 0}, "min_track_len"),
        ({"video": video, "stride": 0}, "stride"),
        ({"video": video, "keep_partial": "yes"}, "keep_partial"),
        ({"video": video, "refine": "no"}, "refine"),
        ({"video": video, "output_dir": str(files["video"])}, "output_dir"),
    ]


def test_bad_analyze_params_each_get_an_error(raw: RawServer, files: dict[str, Path]) -> None:
    for params, word in _bad_analyze_params(files):
        msg = raw.call("analyze", params)
        assert "error" in msg, (params, msg)
        assert msg["error"]["code"] == BAD_PARAMS, (params, msg)
        assert word in msg["error"]["message"], (params, msg["error"]["message"])
    assert_alive(raw)


def test_cancel_params(raw: RawServer) -> None:
    assert raw.call("cancel", {})["error"]["code"] == BAD_PARAMS
    assert raw.call("cancel", {"job": 5})["error"]["code"] == BAD_PARAMS
    assert raw.call("cancel", {"job": "no-such-job"})["result"] == {"cancelled": False}


def test_oversized_line_is_refused(raw: RawServer) -> None:
    raw.send_line(b'{"jsonrpc": "2.0", "method": "initialize", "pad": "' + b"x" * (1 << 21)
                  + b'", "id": 1}')
    msg = raw.next_message()
    assert msg["error"]["code"] == INVALID_REQUEST and "longer" in msg["error"]["message"]
    assert_alive(raw)


def test_stdout_carries_only_protocol_and_stdin_close_exits(raw: RawServer) -> None:
    assert_alive(raw)
    assert raw.proc.stdin is not None
    raw.proc.stdin.close()
    assert raw.proc.wait(timeout=30) == 0
    for line in raw.raw_lines:
        msg = json.loads(line)
        assert msg["jsonrpc"] == "2.0" and ("id" in msg or "method" in msg)
    assert "stdin closed" in raw.log_text()  # stderr
    log_file = raw.log_path.parent / "logs" / "server.log"  # --log-file
    assert "stdin closed" in log_file.read_text() and "refused" in log_file.read_text()


def test_stray_output_goes_to_stderr() -> None:
    """print() and raw writes to fd 1 inside the server land on stderr, not the protocol."""
    code = ("import os; from inference_server.__main__ import take_stdout\n"
            "out = take_stdout()\n"
            "print('stray print')\n"
            "os.write(1, b'stray fd write\\n')\n"
            "out.write('protocol line\\n'); out.flush()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=server_env(), timeout=60, check=True)
    assert done.stdout == "protocol line\n"
    assert "stray print" in done.stderr and "stray fd write" in done.stderr


def test_client_modules_import_without_heavy_packages() -> None:
    code = ("import sys, glot_blender.client, glot_blender.server_env\n"
            "heavy = {'numpy', 'torch', 'bpy', 'cv2'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], env=server_env(), timeout=60, check=True)
