"""Helpers of the fuzz corpus: byte snapshots of folders, processes still alive, the CLI as a
real subprocess or in this process."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: frames of the small synthetic walking video the corpus analyses
VIDEO_FRAMES = 12
VIDEO_SIZE = (320, 240)
MIN_TRACK_LEN = 5


def snapshot(folder: Path) -> dict[bytes, str]:
    """Every file below ``folder`` (by raw name) and its sha256: equal snapshots mean nothing
    was changed, replaced, added or left behind."""
    out = {}
    for root, _dirs, files in os.walk(os.fsencode(folder)):
        for name in files:
            path = os.path.join(root, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):  # a link or FIFO planted by the test
                out[path] = "special"
                continue
            with open(path, "rb") as fh:
                out[path] = hashlib.sha256(fh.read()).hexdigest()
    return out


def processes_mentioning(*texts: str) -> list[int]:
    """Pids of live processes (not zombies) whose command line holds every one of ``texts``."""
    needles = [os.fsencode(t) for t in texts]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if all(n in cmdline for n in needles) and state != "Z":
            found.append(int(entry))
    return found


def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO),
               PYTHONUNBUFFERED="1", XDG_STATE_HOME=str(home / "state"))
    env.pop("GLOT_MODELS_DIR", None)
    env.pop("XDG_DATA_HOME", None)
    return env


def cli_command(*args: str | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "inference_server.cli", *args]


def run_cli(*args: str | bytes, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), check=False, cwd=REPO, env=cli_env(home),
                          capture_output=True, timeout=timeout)
