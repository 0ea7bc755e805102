"""Fixtures for tests that run inside real Blender (the ``bpy`` wheel, in this process).

Blender's user resources (config, scripts, extensions, datafiles) are pointed at a fresh
temporary folder *before* ``bpy`` is imported, so tests never read or write the user's
``~/.config/blender``. Every test here is marked ``blender`` and starts and ends with
factory settings and an empty file (``wm.read_factory_settings(use_empty=True)``).

``bpy`` imports fine in the same process as torch, in either order (checked with
bpy 5.0.1 and torch 2.13 CPU), so this folder runs in the same pytest session as the rest.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_USER_ROOT = Path(tempfile.mkdtemp(prefix="glot-blender-user-"))
atexit.register(shutil.rmtree, _USER_ROOT, ignore_errors=True)

# Blender reads these when bpy is first imported; later changes have no effect.
for _var, _sub in (
    ("BLENDER_USER_RESOURCES", ""),
    ("BLENDER_USER_CONFIG", "config"),
    ("BLENDER_USER_SCRIPTS", "scripts"),
    ("BLENDER_USER_DATAFILES", "datafiles"),
    ("BLENDER_USER_EXTENSIONS", "extensions"),
):
    _path = _USER_ROOT / _sub
    _path.mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(_path)

# bpy must be imported only after the environment above is set.
import bpy

BLENDER_TEST_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from this folder ``blender``."""
    for item in items:
        if BLENDER_TEST_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.blender)


def reset_blender() -> None:
    """Factory settings and an empty file: no objects, no actions, default preferences."""
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture(scope="session")
def blender_user_dir() -> Path:
    """The temporary folder standing in for Blender's user resources in this session."""
    return _USER_ROOT


@pytest.fixture(autouse=True)
def clean_blender() -> Iterator[object]:
    """Reset Blender to factory settings before and after each test; yields ``bpy``."""
    reset_blender()
    try:
        yield bpy
    finally:
        reset_blender()
