"""The pipeline's "refine" stage: one backend track (a TrackMotion) in, the refined one out.

The narrow entry point the pipeline calls after ``solve_track`` and the camera-space
translation, before the clip is written. It builds the solver's evidence from the motion
(frame weights from ``filled`` and ``confidence``), runs :func:`.solver.refine_track`, and
returns a new TrackMotion with ``refined``/``refine_error_px`` set and ``cam_crop`` made
consistent with the refined translation, plus an optional notice for the user.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from glot_blender.core.motion_clip import TrackMotion

from ..camera import transl_to_crop_cam
from .body import ShapeBasis
from .solver import Camera, RefineOptions, RefineResult, TrackEvidence, refine_track


def frame_weights(confidence: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """(N,) 0..1 reliability: 0 where filled across a gap, else the confidence relative to the
    track's median confidence of its observed frames (capped at 1)."""
    conf = np.clip(np.nan_to_num(np.asarray(confidence, np.float64)), 0.0, 1.0)
    filled = np.asarray(filled, bool)
    seen = conf[~filled]
    median = float(np.median(seen)) if seen.size else 0.0
    weight = np.clip(conf / median, 0.0, 1.0) if median > 1e-6 else np.zeros_like(conf)
    return np.where(filled, 0.0, weight)


def refine_motion(motion: TrackMotion, keypoints: np.ndarray | None, camera: Camera, fps: float,
                  crop_scale: float, shape_basis: ShapeBasis | None = None,
                  options: RefineOptions = RefineOptions(),
                  should_cancel: Callable[[], bool] | None = None,
                  ) -> tuple[TrackMotion, RefineResult]:
    """Refine one track. keypoints (N,33,3) BlazePose landmarks in full-frame pixels with
    confidence, or None (no 2D term); crop_scale: the backend's crop enlargement (for
    ``cam_crop``). Raises JobCancelled when ``should_cancel`` says so."""
    evidence = TrackEvidence(
        global_orient=motion.global_orient, body_pose=motion.body_pose, transl=motion.transl,
        rest_joints=motion.rest_joints, joints3d=motion.joints3d, betas=motion.betas,
        frame_weight=frame_weights(motion.confidence, motion.filled), keypoints=keypoints,
        shape_basis=shape_basis)
    result = refine_track(evidence, camera, fps, options, should_cancel)
    if not result.refined:
        return dataclasses.replace(motion, refined=False, refine_error_px=result.error_px), result
    cam_crop = transl_to_crop_cam(result.transl, motion.bbox, camera.width, camera.height,
                                  camera.focal_px, crop_scale)
    refined = dataclasses.replace(
        motion, global_orient=result.global_orient, body_pose=result.body_pose,
        betas=result.betas, cam_crop=cam_crop, transl=result.transl,
        rest_joints=result.rest_joints, joints3d=result.joints3d, refined=True,
        refine_error_px=result.error_px)
    return refined, result
