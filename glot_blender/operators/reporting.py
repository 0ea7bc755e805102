"""The edge where an operator's task meets the user: errors and results become reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..blender.errors import AnimError

if TYPE_CHECKING:
    import bpy


class TaskError(Exception):
    """A user-facing failure of gathering an operator's options: ``str(err)`` is one
    sentence that says what to do (nothing in the scene has changed)."""


def sentence(exc: Exception) -> str:
    """The error's message as a sentence (the library's messages may start in lower case)."""
    text = str(exc)
    return text[:1].upper() + text[1:]


def run_reported(operator: bpy.types.Operator, task: Callable[[], str]) -> set[str]:
    """Run ``task`` for ``operator``: its :class:`TaskError` or the Blender library's
    :class:`AnimError` becomes an ERROR report and ``{'CANCELLED'}`` (the task changed
    nothing), its returned sentence an INFO report."""
    try:
        message = task()
    except (TaskError, AnimError) as exc:
        operator.report({"ERROR"}, sentence(exc))
        return {"CANCELLED"}
    operator.report({"INFO"}, message)
    return {"FINISHED"}
