"""A target armature as plain numpy data, and Blender's pose-bone rule in numpy.

:class:`TargetSkeleton` is what :mod:`.retarget` works on. For a plain armature it is the
edit-bone data (``matrix_local`` and parenting). For a rig whose bones follow others through
constraints (Rigify's ORG/MCH bones copying controls), ``glot_blender.blender.evaluated``
measures it on the evaluated armature instead: ``rest_matrices`` are then the evaluated rest
pose, ``parents`` the bone whose world rotation a bone's parent frame actually carries, and a
parent frame that follows a second bone only partly (a constraint at influence 0.5) is
described by ``partial`` / ``partial_weight``: the parent frame's world rotation change is
``D_parent @ (D_parent^T D_partial)^w``. ``points`` may replace the heads where the rest-pose
correction and leg length are measured (a control bone stands for the deform bone it moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .rotations import axis_angle_to_matrix, quaternion_to_matrix, rotation_between


class RetargetError(ValueError):
    """The bone map does not fit the armature; the message names the bone or joint at fault."""


@dataclass
class TargetSkeleton:
    """An armature as plain data.

    names (B,) bone names; parents (B,) int parent index (-1 for roots);
    rest_matrices (B, 4, 4): Blender ``bone.matrix_local`` (armature space, bone y axis along
    the bone); object_matrix (4, 4): the armature object's ``matrix_world`` (rotation, uniform
    scale and translation), identity when omitted. Blender world is z up.
    partial (B,) int, -1 for none, and partial_weight (B,) in [0, 1]: a second bone the parent
    frame follows by that fraction (see the module docstring); points (B, 3): where each bone
    "is" for rest correction and leg length (default: its head).
    """

    names: tuple[str, ...]
    parents: np.ndarray
    rest_matrices: np.ndarray
    object_matrix: np.ndarray = field(default_factory=lambda: np.eye(4))
    partial: np.ndarray | None = None
    partial_weight: np.ndarray | None = None
    points: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        self.parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        self.rest_matrices = np.asarray(self.rest_matrices, dtype=np.float64)
        self.object_matrix = np.asarray(self.object_matrix, dtype=np.float64)
        b = len(self.names)
        if self.parents.shape != (b,) or self.rest_matrices.shape != (b, 4, 4):
            raise ValueError(
                f"target skeleton: {b} names, parents {self.parents.shape}, "
                f"rest_matrices {self.rest_matrices.shape} (expected ({b},) and ({b}, 4, 4))")
        if len(set(self.names)) != b:
            raise ValueError("target skeleton: bone names must be unique")
        self.partial = (np.full(b, -1, np.int64) if self.partial is None
                        else np.asarray(self.partial, dtype=np.int64).reshape(-1))
        self.partial_weight = (np.zeros(b) if self.partial_weight is None
                               else np.asarray(self.partial_weight, dtype=np.float64).reshape(-1))
        for links in (self.parents, self.partial):
            if links.shape != (b,) or np.any(links >= b) or np.any(links < -1):
                raise ValueError("target skeleton: a parent index is out of range")
        if self.points is not None:
            self.points = np.asarray(self.points, dtype=np.float64).reshape(b, 3)

    @property
    def heads(self) -> np.ndarray:
        """(B, 3) bone heads in armature space."""
        return self.rest_matrices[:, :3, 3]

    @property
    def rest_points(self) -> np.ndarray:
        """(B, 3) points used for rest correction and leg length: ``points`` or the heads."""
        return self.heads if self.points is None else self.points

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise RetargetError(f"the armature has no bone named '{name}'") from None

    def order(self) -> list[int]:
        """Bone indices with every parent (and partly followed bone) before its dependants."""
        deps = [[int(p) for p in (self.parents[i], self.partial[i]) if p >= 0]
                for i in range(len(self.names))]
        children: dict[int, list[int]] = {}
        waiting = [len(d) for d in deps]
        for i, d in enumerate(deps):
            for p in d:
                children.setdefault(p, []).append(i)
        out = [i for i, n in enumerate(waiting) if n == 0]
        for i in out:  # out grows while it is walked (Kahn's algorithm)
            for c in children.get(i, []):
                waiting[c] -= 1
                if waiting[c] == 0:
                    out.append(c)
        if len(out) != len(self.names):
            raise ValueError("target skeleton: the parent links contain a cycle")
        return out

    @classmethod
    def from_heads_tails(
        cls, names: Sequence[str], parents: Sequence[int], heads: np.ndarray, tails: np.ndarray,
        rolls: np.ndarray | None = None, object_matrix: np.ndarray | None = None,
    ) -> TargetSkeleton:
        """Rest matrices built like Blender edit bones: y axis head -> tail, then roll about y."""
        heads, tails = np.asarray(heads, np.float64), np.asarray(tails, np.float64)
        rot = rotation_between(np.broadcast_to([0.0, 1.0, 0.0], heads.shape), tails - heads)
        if rolls is not None:
            roll_axis = np.zeros_like(heads)
            roll_axis[:, 1] = np.asarray(rolls, np.float64)
            rot = rot @ axis_angle_to_matrix(roll_axis)
        mats = np.tile(np.eye(4), (len(names), 1, 1))
        mats[:, :3, :3] = rot
        mats[:, :3, 3] = heads
        return cls(tuple(names), np.asarray(parents), mats,
                   np.eye(4) if object_matrix is None else object_matrix)


def pose_matrices(skel: TargetSkeleton, quaternions: np.ndarray, root_bone: str,
                  root_location: np.ndarray) -> np.ndarray:
    """Armature-space pose matrices (F, B, 4, 4) of ``skel`` under Blender's pose-bone rule
    with the given rotations (F, B, 4) and the root bone's location (F, 3): what Blender's
    ``pose_bone.matrix`` would show. For tests and previews (numpy FK of the target rig;
    parent links only, ``partial`` is not modelled)."""
    num_frames = quaternions.shape[0]
    root = skel.index(root_bone)
    local = np.tile(np.eye(4), (num_frames, len(skel.names), 1, 1))
    local[:, :, :3, :3] = quaternion_to_matrix(quaternions)
    local[:, root, :3, 3] = root_location
    out = np.empty_like(local)
    inv = np.linalg.inv(skel.rest_matrices)
    for b in skel.order():
        p = int(skel.parents[b])
        if p < 0:
            out[:, b] = skel.rest_matrices[b] @ local[:, b]
        else:
            out[:, b] = out[:, p] @ (inv[p] @ skel.rest_matrices[b]) @ local[:, b]
    return out
