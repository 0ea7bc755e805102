"""The devices torch can use here, and what a device name means on this machine.

The one place that knows about devices: the server lists them in ``initialize``, checks an
``analyze`` request's device with :func:`resolve_device` before starting the job, and the
pipeline resolves "auto" with the same function. Inference code never names a device: it is
passed in.
"""

from __future__ import annotations

import platform
from pathlib import Path

from .errors import InvalidRequestError


def cpu_name() -> str:
    """A readable CPU name (the model name on Linux), else the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def find_devices() -> list[dict]:
    """Devices torch can use here: ``[{id, kind, name, memory_gb?}]``, CPU always first."""
    import torch

    devices = [{"id": "cpu", "kind": "cpu", "name": cpu_name()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append({"id": f"cuda:{i}", "kind": "cuda", "name": props.name,
                            "memory_gb": round(props.total_memory / 2**30, 1)})
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"id": "mps", "kind": "mps", "name": "Apple Metal (MPS)"})
    return devices


def resolve_device(name: str) -> str:
    """"auto" -> the best available device ("cuda:0", "mps" or "cpu"); others are checked."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        index = 0 if name == "cuda" else name.partition(":")[2]
        if not torch.cuda.is_available():
            raise InvalidRequestError(
                f"device '{name}' was asked for but torch sees no CUDA GPU here: use --device cpu "
                "or auto, or install a CUDA build of torch"
            )
        if not str(index).isdigit() or int(index) >= torch.cuda.device_count():
            raise InvalidRequestError(
                f"device '{name}' does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)"
            )
        return f"cuda:{int(index)}"
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidRequestError("device 'mps' is not available here: use cpu or auto")
        return "mps"
    raise InvalidRequestError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps")
