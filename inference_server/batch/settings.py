"""How a batch runs: the settings shared by the runner (on the driver) and the workers."""

from __future__ import annotations

from dataclasses import dataclass

#: analyses started per video at most (more than one only when a worker died under it)
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class BatchSettings:
    """address: None = local Ray (or the one this process already has running), "auto" = the
    cluster started on this machine with ``ray start``, or HOST:PORT. workers /
    gpus_per_worker None = as many as the cluster holds / 1 GPU each where it has GPUs.
    force: analyse up-to-date clips again; write_fbx / fbx_all_in_one: as ``analyze``."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    force: bool = False
    write_fbx: bool = True
    fbx_all_in_one: bool = False
    max_attempts: int = MAX_ATTEMPTS
