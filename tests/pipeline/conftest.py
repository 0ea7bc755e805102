"""Fixtures of the pipeline tests: small synthetic videos and one shared Engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import synthetic_video
import torch

#: small frames and few of them keep the whole-pipeline tests to seconds on 2 CPU cores
VIDEO_SIZE = (320, 240)
VIDEO_FRAMES = 16
PERSON_HEIGHT = 150.0


@pytest.fixture(scope="module")
def low_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def walk_video(tmp_path_factory: pytest.TempPathFactory) -> synthetic_video.SyntheticVideo:
    """One person walking left to right, 16 frames of 320x240, HOG-detectable."""
    path = tmp_path_factory.mktemp("videos") / "walk.mp4"
    return synthetic_video.walking_video(path, num_frames=VIDEO_FRAMES, size=VIDEO_SIZE,
                                         person_height=PERSON_HEIGHT)


@pytest.fixture(scope="session")
def empty_video(tmp_path_factory: pytest.TempPathFactory) -> synthetic_video.SyntheticVideo:
    """A background without anybody, 8 frames."""
    path = tmp_path_factory.mktemp("videos") / "empty.mp4"
    return synthetic_video.write_video(path, [], num_frames=8, size=VIDEO_SIZE)


@pytest.fixture(scope="module")
def engine(synthetic_models: Path, low_threads: None):
    """One Engine for a test module: models load once, as in the server."""
    from inference_server.pipeline import Engine

    return Engine(models_dir=synthetic_models, device="cpu")
