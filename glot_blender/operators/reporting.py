"""The edge where an operator's task meets the user: errors and results become reports."""

from __future__ import annotations

from collections.abc import Callable

from .tasks import TaskError


def run_reported(operator, task: Callable[[], str]) -> set[str]:
    """Run ``task`` for ``operator``: its :class:`TaskError` becomes an ERROR report and
    ``{'CANCELLED'}`` (the task changed nothing), its returned sentence an INFO report."""
    try:
        message = task()
    except TaskError as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    operator.report({"INFO"}, message)
    return {"FINISHED"}
