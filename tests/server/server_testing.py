"""Helpers for the server tests: start the real server with this test environment's Python.

``RawServer`` talks bytes to ``python -m inference_server`` directly (to send malformed
messages the client never would); ``make_client`` builds a :class:`ServerClient`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from glot_blender.client import ServerClient

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_THREADS = "1"  # two CPU cores are shared by everything: keep torch to one thread
MESSAGE_TIMEOUT_S = 60.0


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONSAFEPATH"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def server_args(models_dir: Path | None) -> list[str]:
    args = ["--threads", SERVER_THREADS]
    if models_dir is not None:
        args += ["--models", str(models_dir)]
    return args


def make_client(models_dir: Path | None, log_path: Path) -> ServerClient:
    return ServerClient(sys.executable, extra_args=server_args(models_dir), log_path=log_path,
                        server_root=REPO_ROOT)


class RawServer:
    """The server process with raw pipes; every stdout line is kept (protocol or not)."""

    def __init__(self, models_dir: Path | None, log_path: Path,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inference_server", *server_args(models_dir), *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=server_env())
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.raw_lines: list[bytes] = []
        self._ids = iter(range(1, 1_000_000))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            self.lines.put(line)

    def send_line(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def send(self, method: str, params: object = None, *, req_id: object = "auto") -> object:
        rid = next(self._ids) if req_id == "auto" else req_id
        msg: dict = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            msg["params"] = params
        self.send_line(json.dumps(msg).encode())
        return rid

    def next_message(self, timeout: float = MESSAGE_TIMEOUT_S) -> dict:
        return json.loads(self.lines.get(timeout=timeout))

    def response(self, req_id: object, timeout: float = MESSAGE_TIMEOUT_S) -> dict:
        """The response to ``req_id`` (notifications in between are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next_message(max(0.1, deadline - time.monotonic()))
            if "method" not in msg and msg.get("id") == req_id:
                return msg

    def call(self, method: str, params: object = None) -> dict:
        return self.response(self.send(method, params))

    def wait_notification(self, method: str, timeout: float = MESSAGE_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next_message(max(0.1, deadline - time.monotonic()))
            if msg.get("method") == method:
                return msg["params"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for handle in (self.proc.stdin, self.proc.stdout, self._log):
            try:
                handle.close()
            except (OSError, ValueError):
                pass

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")
