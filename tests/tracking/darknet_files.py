"""Tiny Darknet YOLO files written in tests: a cfg text and a weights file in Darknet's layout.

weights file: int32 major=0, minor=2, revision=0, int64 images seen, then per convolutional
layer in cfg order: [batch-norm beta, gamma, running mean, running var] or [bias], then the
conv kernel (out, in, k, k), all float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PROBE_CFG = """[net]
batch=1
width={size}
height={size}
channels=3

[maxpool]
size={pool}
stride={pool}
padding=0

[convolutional]
size=1
stride=1
pad=0
filters={filters}
activation=linear

[yolo]
mask=0,1,2
anchors={anchors}
classes={classes}
num=3
"""

# a small YOLOv3-like network: batch-norm convs with leaky ReLU, a shortcut, two YOLO heads,
# route + upsample between them (the layer types of the real yolov3.cfg)
SMALL_CFG = """[net]
batch=1
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[shortcut]
from=-2
activation=linear

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58, 81,82, 135,169, 344,319
classes=2
num=6

[route]
layers=-3

[upsample]
stride=2

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=3,4,5
anchors=10,14, 23,27, 37,58, 81,82, 135,169, 344,319
classes=2
num=6
"""

SMALL_CONV_SHAPES = [  # (filters, in_channels, k, batch_norm) of SMALL_CFG's conv layers
    (8, 3, 3, True),
    (8, 8, 3, True),
    (16, 8, 3, True),
    (21, 16, 1, False),
    (21, 16, 1, False),
]


def _header() -> bytes:
    return np.array([0, 2, 0], np.int32).tobytes() + np.array([0], np.int64).tobytes()


def write_probe_files(
    folder: Path,
    *,
    size: int,
    pool: int,
    bias: np.ndarray,
    kernel: np.ndarray,
    anchors: str,
    classes: int = 2,
) -> tuple[Path, Path]:
    """One maxpool + one 1x1 conv + one YOLO layer with the given conv bias (F,) and
    kernel (F, 3, 1, 1), F = 3 * (5 + classes). Returns (cfg path, weights path)."""
    filters = 3 * (5 + classes)
    assert bias.shape == (filters,) and kernel.shape == (filters, 3, 1, 1)
    cfg = folder / "probe.cfg"
    cfg.write_text(
        PROBE_CFG.format(size=size, pool=pool, filters=filters, anchors=anchors, classes=classes)
    )
    weights = folder / "probe.weights"
    weights.write_bytes(
        _header() + bias.astype(np.float32).tobytes() + kernel.astype(np.float32).tobytes()
    )
    return cfg, weights


def write_small_random_files(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """SMALL_CFG with random weights (batch-norm variances positive)."""
    rng = np.random.default_rng(seed)
    blobs = [_header()]
    for out_c, in_c, k, bn in SMALL_CONV_SHAPES:
        if bn:
            blobs += [
                rng.normal(0, 0.1, out_c),
                rng.uniform(0.5, 1.5, out_c),
                rng.normal(0, 0.1, out_c),
                rng.uniform(0.5, 1.5, out_c),
            ]
        else:
            blobs.append(rng.normal(0, 0.5, out_c))
        blobs.append(rng.normal(0, 1.0 / np.sqrt(in_c * k * k), (out_c, in_c, k, k)))
    cfg = folder / "yolov3.cfg"
    cfg.write_text(SMALL_CFG)
    weights = folder / "yolov3.weights"
    weights.write_bytes(blobs[0] + b"".join(np.asarray(b, np.float32).tobytes() for b in blobs[1:]))
    return cfg, weights


def _conv(filters: int, size: int, stride: int = 1, bn: bool = True) -> str:
    head = "[convolutional]\n" + ("batch_normalize=1\n" if bn else "")
    act = "leaky" if bn else "linear"
    return head + f"filters={filters}\nsize={size}\nstride={stride}\npad=1\nactivation={act}\n"


def yolov3_cfg_text(classes: int = 80) -> str:
    """The layer sequence of Darknet's yolov3.cfg (Darknet-53 + three YOLO heads), for counting
    weights; the official file has 62,001,757 of them (yolov3.weights is 248,007,048 bytes)."""
    yolo = (
        "[yolo]\nmask={m}\nanchors=10,13, 16,30, 33,23, 30,61, 62,45, 59,119, 116,90, "
        f"156,198, 373,326\nclasses={classes}\nnum=9\n"
    )
    out = 3 * (5 + classes)
    parts = ["[net]\nwidth=416\nheight=416\nchannels=3\n", _conv(32, 3)]
    for filters, repeats in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        parts.append(_conv(filters, 3, 2))
        for _ in range(repeats):
            parts += [_conv(filters // 2, 1), _conv(filters, 3), "[shortcut]\nfrom=-3\n"]
    for width, mask, skip in ((512, "6,7,8", None), (256, "3,4,5", 61), (128, "0,1,2", 36)):
        if skip is not None:
            parts += [
                "[route]\nlayers=-4\n",
                _conv(width, 1),
                "[upsample]\nstride=2\n",
                f"[route]\nlayers=-1,{skip}\n",
            ]
        parts += [_conv(width, 1), _conv(width * 2, 3)] * 3
        parts += [_conv(out, 1, bn=False), yolo.format(m=mask)]
    return "\n".join(parts)
