"""Real photographs (bus.jpg, zidane.jpg from the ultralytics wheel) for the detector tests."""

from __future__ import annotations

from pathlib import Path

import photos
import pytest


def _photo(name: str) -> Path:
    path, why = photos.wheel_photo(name)
    if path is None:
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def scenes() -> dict[str, photos.Scene]:
    """Every test picture by name (see tests/photos.py)."""
    return {s.name: s for s in photos.scenes(_photo("bus"), _photo("zidane"))}
