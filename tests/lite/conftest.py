"""A real photograph of people for the lite backend's tests (bus.jpg, see tests/photos.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from photos import bus_photo_path


@pytest.fixture(scope="session")
def bus_photo() -> Path:
    return bus_photo_path()
