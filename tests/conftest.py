"""Shared fixtures. Area-specific fixtures live in each test folder's own conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def synthetic_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with every model file in its official layout and random weights."""
    from inference_server.synthetic import write_synthetic_models

    folder = tmp_path_factory.mktemp("models")
    write_synthetic_models(folder, seed=0)
    return folder

