"""The extension's operators (``glot.*``). Each gathers options into a frozen dataclass,
calls one function of :mod:`.tasks` (or the :mod:`.runtime`), and reports errors.

Modules: ``analyze`` (analyze, cancel, load clip), ``motion`` (apply, re-apply, camera),
``bone_map`` (detect / fill the map), ``export`` (FBX, BVH), ``server`` (restart, stop,
find Python, create environment, log). ``runtime`` (no bpy) and ``tasks`` hold no operator.
The operator modules are imported in :func:`register` so that ``runtime`` imports alone.
"""

from __future__ import annotations

import importlib

OPERATOR_MODULES = ("analyze", "motion", "bone_map", "export", "server")


def operator_classes() -> tuple[type, ...]:
    classes: list[type] = []
    for name in OPERATOR_MODULES:
        classes.extend(importlib.import_module(f".{name}", __name__).CLASSES)
    return tuple(classes)


def register() -> None:
    import bpy

    from .runtime import open_runtime

    open_runtime()
    for cls in operator_classes():
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Cancels a running job and stops the server before the classes go."""
    import bpy

    from .analyze import stop_timers as stop_analysis_timers
    from .runtime import close_runtime
    from .server import stop_timers as stop_env_timers

    stop_analysis_timers()
    stop_env_timers()
    close_runtime()
    for cls in reversed(operator_classes()):
        bpy.utils.unregister_class(cls)
