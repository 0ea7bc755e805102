"""The extension's operators (``glot.*``). Each gathers options from the context into a
frozen dataclass (the request builders sit next to their operators), calls one function of
:mod:`glot_blender.blender` or :mod:`glot_blender.session`, and reports errors
(:mod:`.reporting`).

Modules: ``analyze`` (analyze, cancel, load clip), ``motion`` (apply, re-apply, camera),
``bone_map`` (detect / fill the map), ``export`` (FBX, BVH), ``server`` (restart, stop,
find Python, create environment, log). The operator modules are imported in
:func:`register`.
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

    from ..session import open_runtime

    open_runtime()
    for cls in operator_classes():
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Cancels a running job and stops the server before the classes go."""
    import bpy

    from ..session import close_runtime
    from .analyze import stop_timers as stop_analysis_timers
    from .server import stop_timers as stop_env_timers

    stop_analysis_timers()
    stop_env_timers()
    close_runtime()
    for cls in reversed(operator_classes()):
        bpy.utils.unregister_class(cls)
