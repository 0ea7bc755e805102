"""Shared helpers for tests/core: smooth synthetic SMPL motion with known ground truth."""

from __future__ import annotations

import numpy as np

from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle


def smooth_random_motion(num_frames: int, fps: float = 30.0, seed: int = 0,
                         amplitude: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Clean motion: axis-angle poses (N, 24, 3) as sums of slow sinusoids (0.1..1 Hz) with a
    root that turns a full circle, and a root translation (N, 3) walking ~1 m/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    freqs = rng.uniform(0.1, 1.0, size=(2, 24, 3))
    phases = rng.uniform(0, 2 * np.pi, size=(2, 24, 3))
    amps = rng.uniform(0.3, 1.0, size=(2, 24, 3)) * amplitude / 2
    poses = np.sum(amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :, None, None]
                                          + phases[:, None]), axis=0)
    yaw = axis_angle_to_matrix(np.stack([np.zeros_like(t), 2 * np.pi * t / t[-1], np.zeros_like(t)], -1))
    flip = axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))  # SPIN-style upright body in camera
    poses[:, 0] = matrix_to_axis_angle(flip @ yaw @ axis_angle_to_matrix(poses[:, 0]))
    transl = np.stack([np.sin(0.5 * t), 0.05 * np.sin(4 * t), 4.0 + t * 0.5], -1)
    return poses, transl


def add_jitter(poses: np.ndarray, transl: np.ndarray, seed: int = 1, rot_deg: float = 3.0,
               transl_m: float = 0.015) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame independent rotation noise (rot_deg std per axis) and translation noise."""
    rng = np.random.default_rng(seed)
    noise = axis_angle_to_matrix(rng.normal(scale=np.radians(rot_deg), size=poses.shape))
    noisy = matrix_to_axis_angle(axis_angle_to_matrix(poses) @ noise)
    return noisy, transl + rng.normal(scale=transl_m, size=transl.shape)
