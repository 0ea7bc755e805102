"""ServerClient against the real server process (handshake, errors, crash, restart) and, for
behaviour a real server never shows (a stubborn process, a crash at start-up), against tiny
stand-in servers started the same way with this environment's Python."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from server_testing import REPO_ROOT, make_client

from glot_blender.client import ServerClient
from glot_blender.server_env import find_server_pythons, probe_python
from glot_blender.server_errors import (
    InvalidParamsError,
    MethodNotFoundError,
    RequestTimeout,
    ServerCrashed,
)

FAKE_MAIN = textwrap.dedent('''
    import json, os, signal, sys, time
    mode = os.environ["FAKE_MODE"]
    if mode == "crash_at_start":
        sys.stderr.write("Traceback (most recent call last):\\nImportError: no module named torch\\n")
        sys.exit(3)
    if mode == "stubborn":
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(0.2)
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["method"] == "die":
            sys.stderr.write("fatal: out of memory\\n")
            os._exit(7)
        print("a stray line that is not JSON-RPC", flush=True)
        print(json.dumps({"jsonrpc": "2.0", "method": "progress", "params": {"n": 1}}),
              flush=True)
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"ok": True}}),
              flush=True)
''')


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fake_server")
    pkg = root / "inference_server"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(FAKE_MAIN)
    return root


def fake_client(root: Path, mode: str, log: Path) -> ServerClient:
    return ServerClient(sys.executable, env={"FAKE_MODE": mode}, log_path=log, server_root=root)


def test_real_server_handshake_errors_crash_and_restart(tmp_path: Path) -> None:
    client = make_client(None, tmp_path / "server.log")
    try:
        info = client.start(timeout=60)
        assert info["protocol_version"] == 1 and info["devices"][0]["id"] == "cpu"
        assert client.server_info == info and client.is_alive()
        with pytest.raises(MethodNotFoundError) as err:
            client.request("no_such_method", {})
        assert err.value.code == -32601
        with pytest.raises(InvalidParamsError) as err:
            client.analyze({"video": str(tmp_path / "missing.mp4")})
        assert err.value.code == -32602 and "missing.mp4" in err.value.message
        assert client.cancel("unknown-job") is False
        assert client.poll() == []

        first_pid = client.pid
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(ServerCrashed) as crash:
            client.request("initialize", {}, timeout=30)
        assert crash.value.exit_code == -signal.SIGKILL
        assert "ready" in crash.value.log_tail  # the log tail of the dead process
        with pytest.raises(ServerCrashed):
            client.poll()

        info = client.restart(timeout=60)
        assert client.pid != first_pid and info["protocol_version"] == 1
        assert client.poll() == []
    finally:
        code = client.shutdown()
    assert code == 0 and not client.is_alive()


def test_crash_at_start_reports_exit_code_and_log(fake_root: Path, tmp_path: Path) -> None:
    client = fake_client(fake_root, "crash_at_start", tmp_path / "s.log")
    with pytest.raises(ServerCrashed) as crash:
        client.start(timeout=30)
    assert crash.value.exit_code == 3
    assert "no module named torch" in crash.value.log_tail
    assert "exit code 3" in str(crash.value)
    client.shutdown()


def test_crash_during_request_is_reported_at_once(fake_root: Path, tmp_path: Path) -> None:
    client = fake_client(fake_root, "answer", tmp_path / "s.log")
    client.start(timeout=30)
    notes = client.poll()
    assert notes == [{"method": "progress", "params": {"n": 1}}]
    assert client.stray_lines == ["a stray line that is not JSON-RPC"]
    started = time.monotonic()
    with pytest.raises(ServerCrashed) as crash:
        client.request("die", {}, timeout=60)
    assert time.monotonic() - started < 10  # not the request timeout
    assert crash.value.exit_code == 7 and "out of memory" in crash.value.log_tail
    client.shutdown()


def test_shutdown_escalates_to_kill(fake_root: Path, tmp_path: Path) -> None:
    client = fake_client(fake_root, "stubborn", tmp_path / "s.log")
    with pytest.raises(RequestTimeout):
        client.start(timeout=1.0)  # never answers initialize: start gives up and cleans up
    assert not client.is_alive()
    assert client.exit_code is not None and client.exit_code != 0


def test_python_probe_and_candidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = probe_python(sys.executable, "test", server_root=REPO_ROOT)
    assert here.ok, here.reason
    assert here.torch_version and here.torch_version.startswith("2.")
    missing = probe_python(str(tmp_path / "no-python"), "test")
    assert not missing.ok and "cannot run" in missing.reason
    monkeypatch.setenv("GLOT_SERVER_PYTHON", sys.executable)
    candidates = find_server_pythons(server_root=REPO_ROOT, env_dir=tmp_path / "no-env")
    assert candidates[0].path == sys.executable
    assert candidates[0].source == "GLOT_SERVER_PYTHON" and candidates[0].ok
