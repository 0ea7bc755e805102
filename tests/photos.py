"""Real photographs for tests, from installable packages (nothing is committed here).

``bus.jpg`` (people standing, full body, a street behind them) ships inside the
``ultralytics`` wheel on PyPI: :func:`bus_photo_path` downloads that wheel once (no
dependencies) into a cache folder and extracts the picture; without the package registry
the calling test is skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

WHEEL = "ultralytics==8.4.190"
MEMBER = "ultralytics/assets/bus.jpg"


def cache_dir() -> Path:
    root = os.environ.get("GLOT_TEST_CACHE") or Path.home() / ".cache" / "glot-mocap-tests"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def bus_photo_path() -> Path:
    """bus.jpg from the ultralytics wheel (cached); skips the test when it cannot be fetched."""
    cache = cache_dir()
    photo = cache / "bus.jpg"
    if photo.is_file():
        return photo
    wheels = list(cache.glob("ultralytics-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-q", "-d", str(cache), WHEEL]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
        wheels = list(cache.glob("ultralytics-*.whl"))
        if done.returncode != 0 or not wheels:
            pytest.skip(f"could not fetch {WHEEL} for its sample photo: {done.stderr[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        tmp = photo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(wheel.read(MEMBER))
        os.replace(tmp, photo)
    return photo
