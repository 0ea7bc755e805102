"""Fixtures of the batch tests: a shoot of small synthetic videos, one of them broken."""

from __future__ import annotations

from pathlib import Path

import pytest
import synthetic_video
from batch_support import walk


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shoot/a.mp4 and shoot/day2/b.mp4 (one walker each, 12 frames), shoot/broken.mp4."""
    root = tmp_path_factory.mktemp("shoot")
    walk(root / "a.mp4", 12)
    walk(root / "day2" / "b.mp4", 12, seed=1)
    synthetic_video.write_corrupt_copy(root / "a.mp4", root / "broken.mp4", start_fraction=0.1)
    return root
