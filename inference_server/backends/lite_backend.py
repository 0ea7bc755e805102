"""The "lite" backend: MediaPipe BlazePose (full) on each tracked person's crop, then IK to SMPL.

It needs no downloaded model file: BlazePose "full" ships inside the ``mediapipe`` 0.10.21
wheel (the lite and heavy variants, and newer mediapipe releases, download models at run
time, which fails offline). Quality is below GLoT's; it exists so that a new user animates a
character right after installing, and the pipeline picks it when GLoT's files are missing.

Per crop it returns BlazePose's 33 world landmarks (metres, hip-centred, camera axes), their
visibility and their crop coordinates; per track it fits the person's bone lengths, solves
SMPL joint rotations analytically (:mod:`inference_server.lite.ik`) and fits the weak-
perspective crop camera, so the output is the same motion clip as GLoT's. Body shape
(``betas``) is not estimated: it is zero, and the person's proportions live in
``rest_joints``.
"""

from __future__ import annotations

import os

import numpy as np

from glot_blender.core.rotations import matrix_to_axis_angle

from ..errors import BackendUnavailableError
from ..lite import landmarks as lm
from ..lite.ik import fit_crop_camera, fit_segment_scales, scale_rest_joints, solve_ik
from .base import CancelCheck, PoseBackend, TrackInput, TrackPose

MEDIAPIPE_VERSION = "0.10.21"
#: BlazePose "full": the only complexity whose model ships inside the wheel
MODEL_COMPLEXITY = 1
MIN_DETECTION_CONFIDENCE = 0.5
#: per-crop feature layout: world xyz (33*3) | visibility (33) | crop uv in [0, 1] (33*2)
_WORLD = slice(0, 99)
_VIS = slice(99, 132)
_UV = slice(132, 198)
FEATURE_DIM = 198
#: landmarks whose visibility makes a frame's confidence
_BODY_LANDMARKS = sorted(lm.JOINT_LANDMARKS)
#: crop camera used where no landmark was ever found: a standing adult filling the box
_FALLBACK_CAM = np.array([0.8, 0.0, 0.0], dtype=np.float32)


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise BackendUnavailableError(
            "the lite backend needs the 'mediapipe' package "
            f"(version {MEDIAPIPE_VERSION}): install it into the server's Python with "
            f"'python -m pip install \"glot-mocap[lite]\"' or "
            f"'python -m pip install mediapipe=={MEDIAPIPE_VERSION}'"
        ) from exc
    if not hasattr(mp, "solutions") or not hasattr(mp.solutions, "pose"):
        raise BackendUnavailableError(
            f"mediapipe {getattr(mp, '__version__', '?')} has no 'solutions.pose' (removed in "
            f"newer releases): install mediapipe=={MEDIAPIPE_VERSION}"
        )
    return mp


def mediapipe_available() -> bool:
    """True when the lite backend can run in this Python."""
    try:
        _import_mediapipe()
    except BackendUnavailableError:
        return False
    return True


class LiteBackend(PoseBackend):
    """BlazePose landmarks per crop, analytic SMPL IK per track."""

    name = "lite"
    crop_size = 256
    #: BlazePose wants margin around the person: the crop is 1.5 x the tracker's box
    crop_scale = 1.5
    batch_size = 16
    has_keypoints_2d = True

    def __init__(self) -> None:
        mp = _import_mediapipe()
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=MODEL_COMPLEXITY,
            enable_segmentation=False,
            min_detection_confidence=MIN_DETECTION_CONFIDENCE,
        )

    def close(self) -> None:
        self._pose.close()

    def encode_crops(self, crops: np.ndarray) -> np.ndarray:
        """crops (B,S,S,3) uint8 RGB -> (B,198) landmarks; rows of NaN where no person was found."""
        out = np.full((len(crops), FEATURE_DIM), np.nan, dtype=np.float32)
        for i, crop in enumerate(crops):
            result = self._pose.process(np.ascontiguousarray(crop))
            if result.pose_world_landmarks is None or result.pose_landmarks is None:
                continue
            world = result.pose_world_landmarks.landmark
            image = result.pose_landmarks.landmark
            out[i, _WORLD] = np.array([(p.x, p.y, p.z) for p in world], np.float32).ravel()
            out[i, _VIS] = [p.visibility for p in world]
            out[i, _UV] = np.array([(p.x, p.y) for p in image], np.float32).ravel()
        return out

    def keypoints_2d(self, track: TrackInput) -> np.ndarray:
        """(N,33,3) BlazePose's image landmarks in full-frame pixels and their visibility
        (0 where BlazePose found nobody in the crop)."""
        return features_to_keypoints(track.features, track.bboxes, self.crop_scale)

    def solve_track(self, track: TrackInput, should_cancel: CancelCheck | None = None) -> TrackPose:
        feats = np.asarray(track.features, dtype=np.float64).reshape(-1, FEATURE_DIM)
        found = ~np.isnan(feats).any(axis=1)
        if not found.any():
            return _rest_track(len(feats))
        feats = _fill_gaps(feats, found)
        world = feats[:, _WORLD].reshape(-1, 33, 3)
        vis = np.where(found[:, None], feats[:, _VIS], 0.0)
        uv = feats[:, _UV].reshape(-1, 33, 2) * 2.0 - 1.0
        scales = fit_segment_scales(world, vis)
        rest = scale_rest_joints(scales)
        ik = solve_ik(world, np.where(found[:, None], feats[:, _VIS], 1.0), rest, scales.overall)
        model_points = lm.landmarks_from_pose(ik.joints, ik.world_rotmats, scales.overall)
        cam = _sane_cameras(fit_crop_camera(model_points, uv, np.clip(vis, 0.0, 1.0)))
        aa = matrix_to_axis_angle(ik.local_rotmats).reshape(len(feats), 72)
        confidence = np.where(found, vis[:, _BODY_LANDMARKS].mean(axis=1), 0.0)
        return TrackPose(
            global_orient=aa[:, :3].astype(np.float32),
            body_pose=aa[:, 3:].astype(np.float32),
            betas=np.zeros((len(feats), 10), np.float32),
            cam_crop=cam.astype(np.float32),
            rest_joints=rest.astype(np.float32),
            joints3d=ik.joints.astype(np.float32),
            confidence=confidence.astype(np.float32),
        )


def features_to_keypoints(features: np.ndarray, bboxes: np.ndarray, crop_scale: float) -> np.ndarray:
    """Per-crop features (N,198) of crops around boxes (N,4) -> (N,33,3) image landmarks in
    full-frame pixels and visibility (0 where BlazePose found nobody)."""
    feats = np.asarray(features, dtype=np.float64).reshape(-1, FEATURE_DIM)
    found = ~np.isnan(feats).any(axis=1)
    uv = np.nan_to_num(feats[:, _UV].reshape(-1, 33, 2))
    xy = landmarks_to_frame(uv, bboxes, crop_scale)
    vis = np.where(found[:, None], np.nan_to_num(feats[:, _VIS]), 0.0)
    return np.concatenate([xy, np.clip(vis, 0.0, 1.0)[..., None]], -1).astype(np.float32)


def landmarks_to_frame(uv: np.ndarray, bboxes: np.ndarray, crop_scale: float) -> np.ndarray:
    """Crop coordinates in [0, 1] (..., 33, 2) of square crops ``crop_scale`` x the tracker
    boxes (N, 4) [cx, cy, w, h] -> full-frame pixels (..., 33, 2)."""
    box = np.asarray(bboxes, np.float64).reshape(-1, 4)
    side = crop_scale * box[:, None, 2:4]  # the crop's width and height (crop.crop_transform)
    return box[:, None, :2] + (np.asarray(uv, np.float64) - 0.5) * side


def _fill_gaps(feats: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames without landmarks (held at the ends)."""
    if found.all():
        return feats
    frames = np.arange(len(feats))
    filled = feats.copy()
    for col in range(feats.shape[1]):
        filled[:, col] = np.interp(frames, frames[found], feats[found, col])
    return filled


def _sane_cameras(cam: np.ndarray) -> np.ndarray:
    """Replace non-positive or non-finite scales by the nearest good frame's camera."""
    good = np.isfinite(cam).all(axis=1) & (cam[:, 0] > 1e-3)
    if not good.any():
        return np.tile(_FALLBACK_CAM, (len(cam), 1))
    frames = np.arange(len(cam))
    return np.stack([np.interp(frames, frames[good], cam[good, k]) for k in range(3)], axis=1)


def _rest_track(n: int) -> TrackPose:
    """An upright rest pose facing the camera, with zero confidence (no landmarks at all)."""
    rest = scale_rest_joints(fit_segment_scales(np.zeros((1, 33, 3)), np.zeros((1, 33))))
    upright = np.tile([np.pi, 0.0, 0.0], (n, 1))  # 180 degrees about x: SMPL y-up -> camera y-down
    joints = rest[None] * np.array([1.0, -1.0, -1.0]) + rest[0] * np.array([0.0, 2.0, 2.0])
    return TrackPose(
        global_orient=upright.astype(np.float32),
        body_pose=np.zeros((n, 69), np.float32),
        betas=np.zeros((n, 10), np.float32),
        cam_crop=np.tile(_FALLBACK_CAM, (n, 1)),
        rest_joints=rest,
        joints3d=np.repeat(joints, n, axis=0).astype(np.float32),
        confidence=np.zeros(n, np.float32),
    )
