"""Fidelity measures of motion against ground truth (numpy): the solver's tests and benchmark.

Joints are (N,24,3) camera-space metres unless said otherwise.
"""

from __future__ import annotations

import numpy as np

from .body import FOOT_JOINTS


def _root_relative(joints: np.ndarray) -> np.ndarray:
    return joints - joints[:, :1]


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error (m), both root-relative."""
    return float(np.linalg.norm(_root_relative(pred) - _root_relative(gt), axis=-1).mean())


def _procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """pred (J,3) aligned to gt by the best similarity transform."""
    mp, mg = pred.mean(0), gt.mean(0)
    p, g = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(p.T @ g)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = (s * np.diag(fix)).sum() / max((p ** 2).sum(), 1e-12)
    return scale * p @ rot + mg


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after per-frame Procrustes alignment (m)."""
    aligned = np.stack([_procrustes(p, g) for p, g in zip(pred, gt)])
    return float(np.linalg.norm(aligned - gt, axis=-1).mean())


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint acceleration error (m/frame^2) of root-relative joints."""
    def acc(x):
        x = _root_relative(x)
        return x[2:] - 2 * x[1:-1] + x[:-2]

    return float(np.linalg.norm(acc(pred) - acc(gt), axis=-1).mean())


def peak_velocity_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Largest joint velocity error (m/frame) over frames and joints, root-relative."""
    vel = np.diff(_root_relative(pred), axis=0) - np.diff(_root_relative(gt), axis=0)
    return float(np.linalg.norm(vel, axis=-1).max())


def error_2d(pixels: np.ndarray, truth: np.ndarray) -> float:
    """Mean pixel distance between (N,L,2) point sets."""
    return float(np.linalg.norm(pixels - truth, axis=-1).mean())


def foot_slide(joints: np.ndarray, contacts: np.ndarray) -> float:
    """Mean displacement (m/frame) of ankle and toe joints between consecutive frames in which
    the foot is planted (contacts (N,2) [left, right]); 0 when no foot ever is."""
    steps = []
    for side, pair in enumerate(FOOT_JOINTS):
        both = contacts[1:, side] & contacts[:-1, side]
        if both.any():
            d = np.linalg.norm(np.diff(joints[:, list(pair)], axis=0), axis=-1)  # (N-1,2)
            steps.append(d[both].ravel())
    return float(np.concatenate(steps).mean()) if steps else 0.0
