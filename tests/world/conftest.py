"""Fixtures for the world-grounding tests: bus.jpg (tests/photos.py) filmed by turning cameras."""

from __future__ import annotations

from pathlib import Path

import pytest
from photos import bus_photo_path


@pytest.fixture(scope="session")
def bus_photo() -> Path:
    return bus_photo_path()
