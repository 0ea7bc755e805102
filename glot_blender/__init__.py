"""GLoT Mocap: the Blender extension (video -> character animation).

Installed, this package is ``bl_ext.<repo>.glot_mocap``; in the repository it is
``glot_blender``. Everything inside uses relative imports so both names work.

The bpy-dependent modules are imported inside :func:`register` only, so that
``glot_blender.core`` (numpy + stdlib) imports in any Python: the inference server and the
command line use it without Blender.
"""

from __future__ import annotations

__version__ = "0.1.0"

_MODULE_NAMES = ("properties", "preferences", "operators", "ui")


def _modules() -> list:
    import importlib

    return [importlib.import_module(f".{name}", __name__) for name in _MODULE_NAMES]


def register() -> None:
    """Register every class of every UI module (each exposes ``register``/``unregister``)."""
    for module in _modules():
        module.register()


def unregister() -> None:
    """Unregister in reverse order; stops the server and any running job first."""
    for module in reversed(_modules()):
        module.unregister()
