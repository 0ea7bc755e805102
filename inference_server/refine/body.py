"""The body the temporal solver moves: 6D rotations, forward kinematics, one skeleton per track.

Everything is batched over the frames of a track (torch, float64 on the CPU). Positions are in
the video camera frame (x right, y down, z forward, metres); a posed joint is
``FK(rest, rotations) + transl`` with the root at ``rest[0] + transl`` (the smplx convention the
motion clip uses). BlazePose landmarks sit rigidly on SMPL joints as
:mod:`inference_server.lite.landmarks` defines them.

The skeleton is one per track, in one of two forms:

* ``bones``: the track's rest joints with one log length scale per bone (the lite backend,
  which measures bone lengths and has no body shape);
* ``betas``: SMPL shape coefficients through the body model's linear joint regressor,
  ``rest = J0 + dirs @ betas`` (GLoT: SMPL's rest joints are linear in ``betas``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, PARENTS

from ..lite import landmarks as lm

DTYPE = torch.float64

#: the BlazePose landmarks used as 2D evidence: the 12 limb joints, the head (nose, ears) and
#: the feet (heels, toes); eyes, mouth and fingers add noise more than information
SOLVER_LANDMARKS: tuple[int, ...] = (
    lm.NOSE, lm.LEFT_EAR, lm.RIGHT_EAR,
    lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER, lm.LEFT_ELBOW, lm.RIGHT_ELBOW,
    lm.LEFT_WRIST, lm.RIGHT_WRIST, lm.LEFT_HIP, lm.RIGHT_HIP, lm.LEFT_KNEE, lm.RIGHT_KNEE,
    lm.LEFT_ANKLE, lm.RIGHT_ANKLE, lm.LEFT_HEEL, lm.RIGHT_HEEL,
    lm.LEFT_FOOT_INDEX, lm.RIGHT_FOOT_INDEX,
)
#: (ankle, toe) SMPL joints of the left and the right foot
FOOT_JOINTS = ((lm.L_ANKLE, lm.L_FOOT), (lm.R_ANKLE, lm.R_FOOT))
#: knee/elbow joint -> hinge axis in its rest frame, signed so that flexion is positive
HINGES: dict[int, tuple[float, float, float]] = {
    lm.L_KNEE: (1.0, 0.0, 0.0), lm.R_KNEE: (1.0, 0.0, 0.0),
    lm.L_ELBOW: (0.0, -1.0, 0.0), lm.R_ELBOW: (0.0, 1.0, 0.0),
}


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) first two columns (row-interleaved, as SPIN) -> (..., 3, 3) by Gram-Schmidt."""
    x = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = x[..., 0], x[..., 1]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-12)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-12)
    return torch.stack([b1, b2, torch.cross(b1, b2, dim=-1)], dim=-1)


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    return m[..., :, :2].reshape(*m.shape[:-2], 6)


def _levels() -> list[tuple[list[int], list[int]]]:
    """The kinematic tree by depth: per level its joints and their parents' positions in the
    previous level (so forward kinematics runs 9 batched steps instead of 23)."""
    depth = [0] * len(PARENTS)
    for j in range(1, len(PARENTS)):
        depth[j] = depth[PARENTS[j]] + 1
    levels = [[j for j in range(len(PARENTS)) if depth[j] == d] for d in range(max(depth) + 1)]
    out = [(levels[0], [])]
    for d in range(1, len(levels)):
        out.append((levels[d], [levels[d - 1].index(PARENTS[j]) for j in levels[d]]))
    return out


_LEVELS = _levels()


def _ancestor_matrix() -> torch.Tensor:
    """(24,24) A[j, k] = 1 where bone k (joint k and its parent) lies on joint j's chain."""
    a = torch.zeros(len(PARENTS), len(PARENTS), dtype=DTYPE)
    for j in range(1, len(PARENTS)):
        k = j
        while k > 0:
            a[j, k] = 1.0
            k = PARENTS[k]
    return a


_ANCESTORS = _ancestor_matrix()
#: joint order after concatenating the levels -> SMPL order
_ORDER = np.argsort(np.concatenate([joints for joints, _ in _LEVELS]))


def forward_kinematics(rest: torch.Tensor, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rest (24,3); local (N,24,3,3) -> joints (N,24,3) with the root at rest[0], world
    rotations (N,24,3,3)."""
    n = local.shape[0]
    first = _LEVELS[0][0]
    world = [local[:, first]]
    joints = [rest[first].expand(n, len(first), 3)]
    for level, parent_pos in _LEVELS[1:]:
        parents = [PARENTS[j] for j in level]
        bone = rest[level] - rest[parents]  # (k,3)
        parent_world = world[-1][:, parent_pos]
        joints.append(joints[-1][:, parent_pos] + (parent_world @ bone[..., None])[..., 0])
        world.append(parent_world @ local[:, level])
    order = torch.as_tensor(_ORDER)
    return torch.cat(joints, 1)[:, order], torch.cat(world, 1)[:, order]


def landmark_points(joints: torch.Tensor, world: torch.Tensor, offset_scale: float) -> torch.Tensor:
    """The SOLVER_LANDMARKS (N,L,3) of posed joints (the landmark model used forwards)."""
    idx = list(SOLVER_LANDMARKS)
    anchors = torch.as_tensor(lm.ANCHOR_JOINTS[idx], dtype=torch.long)
    offsets = torch.as_tensor(lm.ANCHOR_OFFSETS[idx] * offset_scale, dtype=joints.dtype)
    return joints[:, anchors] + (world[:, anchors] @ offsets[:, :, None])[..., 0]


def offset_scale(rest_joints: np.ndarray) -> float:
    """The person's size relative to the default skeleton (torso height ratio)."""
    def torso(r: np.ndarray) -> float:
        r = np.asarray(r, np.float64)
        hips = 0.5 * (r[lm.L_HIP] + r[lm.R_HIP])
        shoulders = 0.5 * (r[lm.L_SHOULDER] + r[lm.R_SHOULDER])
        return float(np.linalg.norm(shoulders - hips))

    ratio = torso(rest_joints) / torso(DEFAULT_REST_JOINTS)
    return ratio if np.isfinite(ratio) and ratio > 0.1 else 1.0


@dataclass
class ShapeBasis:
    """SMPL rest joints as a linear function of betas: ``rest = j0 + dirs @ betas``.

    j0 (24,3), dirs (24,3,B) metres; build it with :meth:`from_function` from any body model.
    """

    j0: np.ndarray
    dirs: np.ndarray

    @classmethod
    def from_function(cls, rest_joints_of, num_betas: int = 10) -> ShapeBasis:
        """Probe ``rest_joints_of(betas (B,num_betas)) -> (B,24,3)`` at 0 and the unit vectors."""
        probes = np.vstack([np.zeros((1, num_betas)), np.eye(num_betas)])
        rest = np.asarray(rest_joints_of(probes), np.float64)
        return cls(j0=rest[0], dirs=np.moveaxis(rest[1:] - rest[0], 0, -1))


class Skeleton(torch.nn.Module):
    """One skeleton for the whole track: bone scales (no basis) or betas (with a ShapeBasis).

    gain: the optimiser's variable is the change divided by ``gain`` (a diagonal
    preconditioner; the solver uses 1: measured, a smaller gain keeps the skeleton from
    adapting within the iteration budget).
    """

    def __init__(self, rest_joints: np.ndarray, basis: ShapeBasis | None = None,
                 betas: np.ndarray | None = None, gain: float = 1.0) -> None:
        super().__init__()
        self.basis = basis
        self.gain = float(gain)
        if basis is None:
            rest0 = torch.as_tensor(np.asarray(rest_joints, np.float64))
            self.register_buffer("rest0", rest0)
            parents = torch.as_tensor([max(p, 0) for p in PARENTS])
            self.register_buffer("bones0", rest0 - rest0[parents])  # root row: zero
            size = len(PARENTS)
        else:
            self.register_buffer("j0", torch.as_tensor(basis.j0, dtype=DTYPE))
            self.register_buffer("dirs", torch.as_tensor(basis.dirs, dtype=DTYPE))
            start = np.zeros(basis.dirs.shape[-1]) if betas is None else np.asarray(betas, np.float64)
            self.register_buffer("betas0", torch.as_tensor(start, dtype=DTYPE))
            size = basis.dirs.shape[-1]
        self.change = torch.nn.Parameter(torch.zeros(size, dtype=DTYPE))

    @property
    def log_scale(self) -> torch.Tensor:
        """(24,) log length scale of each bone (lite)."""
        return self.gain * self.change

    @property
    def betas(self) -> torch.Tensor:
        """(B,) SMPL shape (GLoT)."""
        return self.betas0 + self.gain * self.change

    def rest(self) -> torch.Tensor:
        """(24,3) rest joints."""
        if self.basis is not None:
            return self.j0 + self.dirs @ self.betas
        # each joint = root + the scaled bones of its chain: one matmul with the ancestor matrix
        bones = torch.exp(self.log_scale)[:, None] * self.bones0
        return self.rest0[0] + _ANCESTORS @ bones

    def prior(self) -> torch.Tensor:
        """Squared distance from the backend's skeleton (bone log-scales or betas)."""
        if self.basis is not None:
            return ((self.betas - self.betas0) ** 2).mean()
        return (self.log_scale[1:] ** 2).mean()

    def betas_value(self) -> np.ndarray | None:
        return None if self.basis is None else self.betas.detach().numpy().copy()
