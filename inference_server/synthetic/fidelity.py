"""The temporal solver on synthetic ground truth: the figures its tests and benchmark check.

``run_case(kind, prior)`` makes a procedural motion (:mod:`.motion`), corrupts it as a
backend and BlazePose would, runs the solver, and measures the prior and the solver's result
against the truth with :mod:`inference_server.refine.metrics`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from glot_blender.core.kinematics import forward_kinematics

from ..refine import metrics
from ..refine.body import SOLVER_LANDMARKS, ShapeBasis, offset_scale
from ..refine.solver import Camera, RefineOptions, RefineResult, TrackEvidence, refine_track
from ..refine.stage import frame_weights
from ..lite import landmarks as lm
from .motion import CorruptedTrack, SyntheticTrack, corrupt, make_track, project, shape_basis_arrays

FIGURES = ("mpjpe_mm", "pa_mpjpe_mm", "error_2d_px", "accel_mm", "foot_slide_cm", "peak_velocity_mm")


@dataclass
class Case:
    """One synthetic case: truth, corrupted input, solver result and figures before/after."""

    truth: SyntheticTrack
    given: CorruptedTrack
    result: RefineResult
    before: dict[str, float]
    after: dict[str, float]
    seconds: float

    @property
    def noise_px(self) -> float:
        """The keypoint noise sigma in pixels (2% of the mean person height)."""
        return float(0.02 * self.truth.height_px.mean())


def evidence(given: CorruptedTrack, prior: str, with_2d: bool = True) -> TrackEvidence:
    basis = ShapeBasis(*shape_basis_arrays()) if prior == "glot" else None
    confidence = np.where(given.filled, 0.0, 1.0)
    return TrackEvidence(given.global_orient, given.body_pose, given.transl, given.rest_joints,
                         given.joints3d, given.betas, frame_weights(confidence, given.filled),
                         given.keypoints if with_2d else None, basis)


def figures(truth: SyntheticTrack, global_orient: np.ndarray, body_pose: np.ndarray,
            rest: np.ndarray, transl: np.ndarray) -> dict[str, float]:
    """Fidelity of one motion against the truth (units in the names)."""
    n = len(global_orient)
    fk = forward_kinematics(rest, np.concatenate([global_orient, body_pose], 1).reshape(n, 24, 3), transl)
    idx = list(SOLVER_LANDMARKS)
    pts = lm.landmarks_from_pose(fk.joints, fk.rotations, offset_scale(rest))[:, idx]
    pixels = project(pts, truth.focal_px, truth.width, truth.height)
    return {
        "mpjpe_mm": 1000 * metrics.mpjpe(fk.joints, truth.joints),
        "pa_mpjpe_mm": 1000 * metrics.pa_mpjpe(fk.joints, truth.joints),
        "error_2d_px": metrics.error_2d(pixels, truth.keypoints()[:, idx]),
        "accel_mm": 1000 * metrics.accel_error(fk.joints, truth.joints),
        "foot_slide_cm": 100 * metrics.foot_slide(fk.joints, truth.contacts),
        "peak_velocity_mm": 1000 * metrics.peak_velocity_error(fk.joints, truth.joints),
    }


def run_case(kind: str, prior: str, seed: int = 1, num_frames: int = 90, fps: float = 30.0,
             options: RefineOptions = RefineOptions(), with_2d: bool = True) -> Case:
    truth = make_track(kind, num_frames, fps)
    given = corrupt(truth, prior, seed=seed)
    camera = Camera(truth.focal_px, truth.width, truth.height)
    started = time.perf_counter()
    result = refine_track(evidence(given, prior, with_2d), camera, fps, options)
    seconds = time.perf_counter() - started
    before = figures(truth, given.global_orient, given.body_pose, given.rest_joints, given.transl)
    after = figures(truth, result.global_orient, result.body_pose, result.rest_joints, result.transl)
    return Case(truth, given, result, before, after, seconds)
