"""Darknet network descriptions (``yolov3.cfg``): parsed, checked and sized before OpenCV sees them.

OpenCV's Darknet reader divides by ``groups`` and ``stride``, allocates what the cfg asks and
loads a truncated weights file silently; every value it would trip on is checked here first, so
a damaged or foreign cfg ends in one :class:`~inference_server.errors.ModelFileError` sentence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glot_blender.core.locations import YOLO_CFG, YOLO_WEIGHTS
from glot_blender.core.safe_files import display

from .errors import ModelFileError


def _cfg_sections(cfg_text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in cfg_text.splitlines():
        line = raw.split("#")[0].strip()
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1].strip(), {}))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1][1][key.strip()] = value.strip()
    return sections


#: whole-number settings of a Darknet cfg and their sane ranges, per section kind; values
#: outside these end in a division by zero, a huge allocation or an OpenCV crash
CFG_INT_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "net": {"width": (1, 4096), "height": (1, 4096), "channels": (1, 64), "batch": (1, 4096)},
    "convolutional": {"filters": (1, 8192), "size": (1, 15), "stride": (1, 16), "pad": (0, 1),
                      "padding": (0, 16), "groups": (1, 8192), "batch_normalize": (0, 1)},
    "maxpool": {"size": (1, 64), "stride": (1, 64), "padding": (0, 64)},
    "upsample": {"stride": (1, 16)},
    "yolo": {"classes": (1, 10000), "num": (1, 100)},
}
CFG_REQUIRED = {"convolutional": ("filters", "size"), "route": ("layers",)}


def _cfg_int(kind: str, index: int, opts: dict[str, str], key: str, default: int) -> int:
    raw = opts.get(key)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise ValueError(f"[{kind}] #{index}: {key}={raw} is not a whole number") from None
    lo, hi = CFG_INT_RANGES.get(kind, {}).get(key, (-(2**31), 2**31))
    if not lo <= value <= hi:
        raise ValueError(f"[{kind}] #{index}: {key}={value} is outside {lo}..{hi}")
    return value


def _cfg_layer_ref(kind: str, index: int, value: str, here: int) -> int:
    """A route/shortcut reference (absolute, or relative when negative) checked to name an
    earlier layer; returns the absolute layer index."""
    try:
        ref = int(value)
    except ValueError:
        raise ValueError(f"[{kind}] #{index}: layer '{value}' is not a whole number") from None
    absolute = ref if ref >= 0 else here + ref
    if not 0 <= absolute < here:
        raise ValueError(f"[{kind}] #{index}: layer {ref} does not name an earlier layer")
    return absolute


def check_darknet_cfg(cfg_text: str) -> list[tuple[str, dict[str, str]]]:
    """The cfg's sections, checked (a [net] first, required keys, whole numbers in range,
    groups that divide the channels, route/shortcut/yolo references that exist);
    ValueError with the first problem."""
    sections = _cfg_sections(cfg_text)
    if not sections or sections[0][0] not in ("net", "network"):
        raise ValueError("the cfg does not start with a [net] section")
    for key in CFG_INT_RANGES["net"]:
        _cfg_int("net", 0, sections[0][1], key, 1)
    for i, (kind, opts) in enumerate(sections[1:]):
        for key in CFG_REQUIRED.get(kind, ()):
            if key not in opts:
                raise ValueError(f"[{kind}] #{i}: '{key}' is missing")
        for key in CFG_INT_RANGES.get(kind, {}):
            _cfg_int(kind, i, opts, key, CFG_INT_RANGES[kind][key][0])
        if kind == "route":
            for ref in opts["layers"].split(","):
                _cfg_layer_ref(kind, i, ref, i)
        elif kind == "shortcut":
            _cfg_layer_ref(kind, i, opts.get("from", ""), i)
        elif kind == "yolo":
            num = _cfg_int(kind, i, opts, "num", 1)
            for m in (opts.get("mask") or "0").split(","):
                if not m.strip().isdigit() or int(m) >= num:
                    raise ValueError(f"[yolo] #{i}: mask {m.strip()} is not below num={num}")
    return sections


def darknet_weight_count(cfg_text: str) -> int:
    """Number of float32 values a Darknet weights file must hold for this cfg (after its header):
    per convolutional layer, bias or batch-norm (4 x filters) plus the kernel. ValueError for
    a cfg that :func:`check_darknet_cfg` refuses."""
    sections = check_darknet_cfg(cfg_text)
    channels = [int(sections[0][1].get("channels", 3))]  # channels[i + 1] = output of layer i
    total = 0
    for kind, opts in sections[1:]:
        prev = channels[-1]
        if kind == "convolutional":
            filters, size = int(opts["filters"]), int(opts["size"])
            groups = int(opts.get("groups", 1))
            bn = int(opts.get("batch_normalize", 0))
            if prev % groups or filters % groups:
                raise ValueError(f"[convolutional]: groups={groups} does not divide its "
                                 f"{prev} input channels and {filters} filters")
            total += filters * (4 if bn else 1) + filters * (prev // groups) * size * size
            out = filters
        elif kind == "route":
            here = len(channels) - 1
            idx = [int(v) for v in opts["layers"].split(",")]
            out = sum(channels[(i if i >= 0 else here + i) + 1] for i in idx)
        else:  # shortcut, upsample, maxpool, yolo, dropout...: channels unchanged
            out = prev
        channels.append(out)
    return total


def check_weights_size(cfg_path: Path, weights_path: Path) -> None:
    """ModelFileError if the weights file is shorter or longer than the cfg needs (a truncated
    download loads silently in OpenCV and gives garbage)."""
    try:
        need = darknet_weight_count(cfg_path.read_text(errors="replace"))
    except (ValueError, KeyError, IndexError) as exc:
        raise ModelFileError(
            f"{display(cfg_path.name)} is not a usable Darknet network description ({exc}): "
            f"use the official {YOLO_CFG}."
        ) from exc
    with weights_path.open("rb") as fh:
        major, minor = np.frombuffer(fh.read(8).ljust(8, b"\0"), np.int32)
    header = 20 if (major * 10 + minor >= 2 and major < 1000 and minor < 1000) else 16
    have = (weights_path.stat().st_size - header) / 4
    if have != need:
        raise ModelFileError(
            f"{weights_path.name} holds {max(have, 0):.0f} weights but {cfg_path.name} needs "
            f"{need}: the file is truncated or belongs to another network; download "
            f"{YOLO_WEIGHTS} again (it is about 248 MB)."
        )
