"""Fixtures of the SPIN tests: one synthetic SPIN checkpoint, its loaded networks, few threads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_support import torch_threads

#: torch threads in these tests (the machine is shared)
TEST_THREADS = 2


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    with torch_threads(TEST_THREADS):
        yield


@pytest.fixture(scope="session")
def spin_state() -> dict[str, torch.Tensor]:
    """The synthetic 331-key HMR state_dict (seed 0)."""
    from inference_server.synthetic.spin_files import spin_state_dict

    return spin_state_dict(seed=0)


@pytest.fixture(scope="session")
def spin_checkpoint(tmp_path_factory: pytest.TempPathFactory,
                    spin_state: dict[str, torch.Tensor]) -> Path:
    from inference_server.synthetic.spin_files import write_spin_checkpoint

    folder = tmp_path_factory.mktemp("spin")
    return write_spin_checkpoint(folder / "spin_model_checkpoint.pth.tar", state=spin_state)


@pytest.fixture(scope="session")
def plain_extractor(spin_checkpoint: Path):
    from inference_server.spin import load_plain_extractor

    return load_plain_extractor(spin_checkpoint)


@pytest.fixture(scope="session")
def fast_extractor(spin_checkpoint: Path):
    from inference_server.spin import load_feature_extractor

    return load_feature_extractor(spin_checkpoint, device="cpu")
