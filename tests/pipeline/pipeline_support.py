"""Constants and helpers of the pipeline tests (importable by name, unlike conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: minimum track length used on the tests' short videos
MIN_TRACK_LEN = 5


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
