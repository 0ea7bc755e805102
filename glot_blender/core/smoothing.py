"""Temporal smoothing of SMPL motion on rotations done properly (numpy only).

Two filters, both working on unit quaternions in the tangent space (log map) of a
reference rotation, never on Euler angles or raw components:

- ``gaussian``: zero-lag offline filter. For each frame t the neighbours' rotations are
  expressed relative to frame t (``log(q_t^-1 q_{t+k})``), averaged with Gaussian weights
  and mapped back (one Karcher-mean step centred on the frame). The kernel is truncated at
  the clip ends and renormalised, so the ends do not drag towards a padded value.
- ``one_euro``: the adaptive One-Euro filter (Casiez et al. 2012) on the rotation manifold:
  the innovation is ``log(q_hat_{t-1}^-1 q_t)``, the cut-off frequency rises with the filtered
  angular speed, and the estimate moves along the geodesic by the resulting alpha. Causal:
  steady poses stop jittering while fast moves keep their snap.

The root trajectory gets the same filter in Euclidean space. Everything is a pure function of
the raw motion, so the user can re-apply it with other settings without re-running inference.
Rows are treated as equally spaced samples at ``fps``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .kinematics import forward_kinematics
from .motion_clip import TrackMotion
from .rotations import (
    axis_angle_to_quaternion,
    quaternion_continuity,
    quaternion_exp,
    quaternion_multiply,
    quaternion_to_axis_angle,
)

METHODS = ("none", "gaussian", "one_euro")
#: Gaussian sigma at strength 1, in seconds
MAX_SIGMA_S = 0.12
#: Gaussian kernel half-width in sigmas
KERNEL_SIGMAS = 3.0
#: One-Euro minimum cut-off at strength 0 and at strength 1 (Hz), interpolated geometrically
ONE_EURO_CUTOFF_AT_0 = 4.0
ONE_EURO_CUTOFF_AT_1 = 0.4
#: One-Euro speed coefficient (s/rad for rotations; the root uses ROOT_BETA_SCALE times it per m)
ONE_EURO_BETA = 1.0
ROOT_BETA_SCALE = 3.0
#: One-Euro cut-off of the derivative filter (Hz)
ONE_EURO_D_CUTOFF = 1.0


@dataclass(frozen=True)
class SmoothingOptions:
    """What the UI's single strength slider maps onto.

    method: "none" | "gaussian" (zero-lag, offline) | "one_euro" (adaptive, causal).
    strength: 0 (off) .. 1 (strongest). min_cutoff (Hz) / beta override the One-Euro values
    derived from strength when given. smooth_root: also smooth the root translation.
    """

    method: str = "gaussian"
    strength: float = 0.5
    min_cutoff: float | None = None
    beta: float | None = None
    d_cutoff: float = ONE_EURO_D_CUTOFF
    smooth_root: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"smoothing method '{self.method}' is not one of {METHODS}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"smoothing strength must be between 0 and 1, got {self.strength}")

    def sigma_frames(self, fps: float) -> float:
        return self.strength * MAX_SIGMA_S * fps

    def one_euro_params(self) -> tuple[float, float]:
        """(min_cutoff Hz, beta) for rotations."""
        cutoff = ONE_EURO_CUTOFF_AT_0 * (ONE_EURO_CUTOFF_AT_1 / ONE_EURO_CUTOFF_AT_0) ** self.strength
        return (self.min_cutoff if self.min_cutoff is not None else cutoff,
                self.beta if self.beta is not None else ONE_EURO_BETA)


@dataclass
class SmoothedMotion:
    """poses (N, J, 3) axis-angle; transl (N, 3)."""

    poses: np.ndarray
    transl: np.ndarray


def _gaussian_weights(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    half = max(1, int(np.ceil(KERNEL_SIGMAS * sigma)))
    offsets = np.arange(-half, half + 1)
    return offsets, np.exp(-0.5 * (offsets / sigma) ** 2)


def _relative_log(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> np.ndarray:
    """Rotation vectors of a^-1 * b for unit quaternions given as (w, x, y, z) component
    arrays, taking the shorter arc. Returns (..., 3)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    w = aw * bw + ax * bx + ay * by + az * bz
    x = aw * bx - ax * bw - ay * bz + az * by
    y = aw * by + ax * bz - ay * bw - az * bx
    z = aw * bz - ax * by + ay * bx - az * bw
    vec = np.stack([x, y, z], axis=-1)
    flip = np.where(w < 0.0, -1.0, 1.0).astype(vec.dtype)
    w = np.abs(w)
    s = np.sqrt(x * x + y * y + z * z)
    small = s < 1e-6
    scale = np.where(small, 2.0 / np.maximum(w, 1e-6), 2.0 * np.arctan2(s, w) / np.where(small, 1.0, s))
    return vec * (flip * scale)[..., None]


def _windows(n: int, sigma: float):
    """(offset k, weight, destination slice, source slice) of a truncated Gaussian kernel."""
    offsets, weights = _gaussian_weights(sigma)
    for k, w in zip(offsets.tolist(), weights.tolist()):
        lo, hi = max(0, -k), min(n, n - k)
        if lo < hi:
            yield w, slice(lo, hi), slice(lo + k, hi + k)


def gaussian_smooth_quaternions(q: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-lag Gaussian smoothing of unit quaternions (N, ..., 4) along axis 0."""
    q = quaternion_continuity(q, axis=0)
    n = q.shape[0]
    if sigma_frames <= 0.0 or n < 2:
        return q
    comps = tuple(np.ascontiguousarray(q[..., i], dtype=np.float32) for i in range(4))
    acc = np.zeros((*q.shape[:-1], 3), dtype=np.float32)
    wsum = np.zeros((n,) + (1,) * (q.ndim - 1))
    for w, dst, src in _windows(n, sigma_frames):
        acc[dst] += np.float32(w) * _relative_log(
            tuple(c[dst] for c in comps), tuple(c[src] for c in comps))
        wsum[dst] += w
    return quaternion_multiply(q, quaternion_exp(acc / wsum))


def gaussian_smooth_positions(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-lag Gaussian smoothing of (N, ...) samples along axis 0 (kernel renormalised at ends)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if sigma_frames <= 0.0 or n < 2:
        return x.copy()
    acc = np.zeros_like(x)
    wsum = np.zeros((n,) + (1,) * (x.ndim - 1))
    for w, dst, src in _windows(n, sigma_frames):
        acc[dst] += w * x[src]
        wsum[dst] += w
    return acc / wsum


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau * fps)


def _one_euro(
    x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float,
    speed_scale: float, unit: bool,
) -> np.ndarray:
    """One-Euro filter of (N, G, D) samples: G independent groups, the speed of a group is the
    norm of its filtered derivative times speed_scale. With unit=True each estimate is
    renormalised (a quaternion nlerp step, which moves along the same geodesic as slerp)."""
    out = np.empty_like(x)
    hat = x[0].copy()
    out[0] = hat
    dhat = np.zeros_like(hat)
    a_d = float(_alpha(d_cutoff, fps))
    two_pi_over_fps = 2.0 * np.pi / fps
    for t in range(1, x.shape[0]):
        diff = x[t] - hat
        dhat += a_d * (diff * fps - dhat)
        speed = np.sqrt(np.einsum("gd,gd->g", dhat, dhat)) * speed_scale
        c = (min_cutoff + beta * speed) * two_pi_over_fps
        hat += (c / (1.0 + c))[:, None] * diff
        if unit:
            hat /= np.sqrt(np.einsum("gd,gd->g", hat, hat))[:, None]
        out[t] = hat
    return out


def one_euro_quaternions(
    q: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float = ONE_EURO_D_CUTOFF
) -> np.ndarray:
    """Adaptive One-Euro filter of unit quaternions (N, J, 4) along axis 0 (causal).

    Quaternions are made sign-continuous first; each step moves the estimate towards the new
    sample along the great circle (nlerp) by the One-Euro alpha. The angular speed that raises
    the cut-off is 2 |d q / d t| (rad/s).
    """
    n = q.shape[0]
    q = quaternion_continuity(np.asarray(q, dtype=np.float64).reshape(n, -1, 4), axis=0)
    if n < 2:
        return q
    return _one_euro(q, fps, min_cutoff, beta, d_cutoff, speed_scale=2.0, unit=True)


def one_euro_positions(
    x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float = ONE_EURO_D_CUTOFF
) -> np.ndarray:
    """One-Euro filter of (N, D) positions along axis 0; the speed is the vector norm."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return x.copy()
    return _one_euro(x[:, None, :], fps, min_cutoff, beta, d_cutoff, 1.0, unit=False)[:, 0]


def smooth_poses(
    poses: np.ndarray, transl: np.ndarray, fps: float, options: SmoothingOptions
) -> SmoothedMotion:
    """Smooth axis-angle poses (N, J, 3) and root translation (N, 3). Pure: inputs untouched."""
    poses = np.asarray(poses, dtype=np.float64)
    transl = np.asarray(transl, dtype=np.float64)
    if options.method == "none" or options.strength <= 0.0 or poses.shape[0] < 3:
        return SmoothedMotion(poses.copy(), transl.copy())
    q = axis_angle_to_quaternion(poses)
    if options.method == "gaussian":
        sigma = options.sigma_frames(fps)
        q = gaussian_smooth_quaternions(q, sigma)
        root = gaussian_smooth_positions(transl, sigma) if options.smooth_root else transl.copy()
    else:
        cutoff, beta = options.one_euro_params()
        q = one_euro_quaternions(q, fps, cutoff, beta, options.d_cutoff)
        root = (one_euro_positions(transl, fps, cutoff, beta * ROOT_BETA_SCALE, options.d_cutoff)
                if options.smooth_root else transl.copy())
    return SmoothedMotion(quaternion_to_axis_angle(q).reshape(poses.shape), root)


def smooth_track(track: TrackMotion, fps: float, options: SmoothingOptions) -> TrackMotion:
    """A smoothed copy of a motion clip track (orientations, body pose, transl; joints3d
    recomputed by forward kinematics). The raw track is left untouched."""
    sm = smooth_poses(track.poses, track.transl, fps, options)
    joints = forward_kinematics(track.rest_joints, sm.poses).joints
    flat = sm.poses.reshape(sm.poses.shape[0], -1)
    return dataclasses.replace(
        track, global_orient=flat[:, :3], body_pose=flat[:, 3:], transl=sm.transl, joints3d=joints
    )
