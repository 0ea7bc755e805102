"""Fixtures of the GLoT tests: a synthetic checkpoint, the loaded model, few torch threads."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch_support import torch_threads

#: torch threads in these tests (the machine is shared)
TEST_THREADS = 2


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    with torch_threads(TEST_THREADS):
        yield


@pytest.fixture(scope="session")
def glot_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inference_server.synthetic.glot_files import write_glot_checkpoint

    return write_glot_checkpoint(tmp_path_factory.mktemp("glot") / "table1_3dpw_weights.pth.tar",
                                 seed=0)


@pytest.fixture(scope="session")
def glot_model(glot_checkpoint: Path):
    from inference_server.glot import load_glot

    return load_glot(glot_checkpoint, device="cpu")
