"""A pure-numpy BVH writer (the command line's export; Blender's BVH importer reads it).

Any skeleton: names, parents, parent-relative rest offsets, per-frame local rotation matrices
and root positions. Every joint uses the channel order ``Zrotation Xrotation Yrotation``
(R = Rz @ Rx @ Ry, degrees); the root adds ``Xposition Yposition Zposition`` first. The root's
OFFSET is zero and its position channels are absolute, which every reader interprets alike.

SMPL motion is written y-up (BVH's usual convention, what Blender's importer expects by
default): the SMPL model frame is already y-up, and the video camera frame (y down, z forward)
is turned 180 degrees about x, so the person faces the viewer (+z). Imported into Blender with
the default axes this equals CAMERA_TO_BLENDER (see docs/motion-processing.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .motion_clip import TrackMotion
from .rotations import axis_angle_to_matrix, euler_zxy_from_matrix
from .safe_files import publishing
from .smpl_skeleton import JOINT_NAMES, PARENTS

#: camera frame (x right, y down, z forward) -> BVH y-up frame (x right, y up, z towards camera)
CAMERA_TO_YUP = np.diag([1.0, -1.0, -1.0])
CAMERA_TO_YUP.setflags(write=False)
#: an end site continues its joint's bone by this fraction of the bone's length
END_SITE_FRACTION = 0.5
DECIMALS = 6


@dataclass
class BvhSkeleton:
    """names (J,), parents (J,) with -1 for the single root (parents before children),
    offsets (J, 3) rest offset of each joint from its parent (root: ignored, written as 0)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray

    def __post_init__(self) -> None:
        self.names, self.parents = tuple(self.names), tuple(int(p) for p in self.parents)
        self.offsets = np.asarray(self.offsets, dtype=np.float64)
        if [p for p in self.parents if p < 0] != [-1] or self.parents[0] != -1:
            raise ValueError("a BVH skeleton needs exactly one root, listed first")
        if any(p >= i for i, p in enumerate(self.parents) if p >= 0):
            raise ValueError("BVH skeleton parents must come before their children")
        if self.offsets.shape != (len(self.names), 3):
            raise ValueError(f"offsets have shape {self.offsets.shape}, expected ({len(self.names)}, 3)")
        for n in self.names:
            if not n or any(c.isspace() for c in n):
                raise ValueError(f"BVH joint name '{n}' must be non-empty without spaces")


def _children(parents: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, p in enumerate(parents):
        out.setdefault(p, []).append(i)
    return out


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.{DECIMALS}f}" for x in v)


def _hierarchy(skel: BvhSkeleton, scale: float) -> list[str]:
    kids = _children(skel.parents)
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        head = "ROOT" if skel.parents[j] < 0 else "JOINT"
        offset = np.zeros(3) if skel.parents[j] < 0 else skel.offsets[j] * scale
        lines.append(f"{pad}{head} {skel.names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_fmt(offset)}")
        if skel.parents[j] < 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        for c in kids.get(j, []):
            emit(c, depth + 1)
        if j not in kids:
            end = skel.offsets[j] * scale * END_SITE_FRACTION
            if skel.parents[j] < 0 or not np.any(end):
                end = np.array([0.0, 0.1 * scale, 0.0])
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_fmt(end)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    return lines


def _depth_first(parents: Sequence[int]) -> list[int]:
    kids = _children(parents)
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(kids.get(j, [])))
    return order


def write_bvh(path: str | os.PathLike[str], skel: BvhSkeleton, rotations: np.ndarray,
              root_positions: np.ndarray, frame_time: float, scale: float = 1.0) -> Path:
    """Write a BVH file. rotations (F, J, 3, 3) local joint rotations (root: world);
    root_positions (F, 3) world root positions; frame_time seconds per frame; scale multiplies
    every length (e.g. 100 for centimetres). The file is written atomically."""
    rotations = np.asarray(rotations, dtype=np.float64)
    root_positions = np.asarray(root_positions, dtype=np.float64)
    num_frames = rotations.shape[0]
    if rotations.shape[1:] != (len(skel.names), 3, 3) or root_positions.shape != (num_frames, 3):
        raise ValueError(f"rotations {rotations.shape} / root_positions {root_positions.shape} "
                         f"do not fit a {len(skel.names)}-joint skeleton")
    if frame_time <= 0.0:
        raise ValueError(f"frame_time must be positive, got {frame_time}")
    order = _depth_first(skel.parents)
    euler = euler_zxy_from_matrix(rotations[:, order])  # (F, J, 3) z, x, y radians
    euler = np.degrees(np.unwrap(euler, axis=0))
    data = np.concatenate([root_positions * scale, euler.reshape(num_frames, -1)], axis=1)
    lines = _hierarchy(skel, scale)
    lines += ["MOTION", f"Frames: {num_frames}", f"Frame Time: {frame_time:.8f}"]
    target = Path(path)
    with publishing(target, suffix=".bvh") as temp, \
            temp.open("w", encoding="ascii", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        np.savetxt(fh, data, fmt=f"%.{DECIMALS}f", delimiter=" ")
    return target


def smpl_bvh_skeleton(rest_joints: np.ndarray, names: Sequence[str] = JOINT_NAMES) -> BvhSkeleton:
    """The SMPL skeleton (24 joints) with offsets from rest joints (24, 3) in the model frame."""
    rest = np.asarray(rest_joints, dtype=np.float64)
    offsets = np.array([rest[j] - rest[p] if p >= 0 else np.zeros(3) for j, p in enumerate(PARENTS)])
    return BvhSkeleton(tuple(names), PARENTS, offsets)


def write_smpl_bvh(path: str | os.PathLike[str], poses: np.ndarray, transl: np.ndarray,
                   rest_joints: np.ndarray, fps: float, scale: float = 1.0) -> Path:
    """SMPL motion -> BVH, y-up. poses (F, 24, 3) axis-angle with the root orientation in the
    video camera frame, transl (F, 3) camera-space translation, rest_joints (24, 3)."""
    rot = axis_angle_to_matrix(np.asarray(poses, dtype=np.float64))
    rot[:, 0] = CAMERA_TO_YUP @ rot[:, 0]
    rest = np.asarray(rest_joints, dtype=np.float64)
    root = (np.asarray(transl, dtype=np.float64) + rest[0]) @ CAMERA_TO_YUP.T
    return write_bvh(path, smpl_bvh_skeleton(rest), rot, root, 1.0 / fps, scale)


def write_track_bvh(path: str | os.PathLike[str], track: TrackMotion, fps: float,
                    scale: float = 1.0) -> Path:
    """One motion clip track -> BVH (see :func:`write_smpl_bvh`)."""
    return write_smpl_bvh(path, track.poses, track.transl, track.rest_joints, fps, scale)
