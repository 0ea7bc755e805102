"""Fixtures of the fuzz corpus: one small synthetic walking video per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the server tests' RawServer (tests/server/server_testing.py) drives the real server here too
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
import synthetic_video
from fuzz_support import VIDEO_FRAMES, VIDEO_SIZE


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> synthetic_video.SyntheticVideo:
    """One person walking, 12 frames of 320x240 (HOG finds them)."""
    path = tmp_path_factory.mktemp("fuzz-videos") / "walk.mp4"
    return synthetic_video.walking_video(path, num_frames=VIDEO_FRAMES, size=VIDEO_SIZE,
                                         person_height=150.0)
