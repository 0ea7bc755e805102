"""The "lite" backend: BlazePose (full) landmarks of each tracked person, then IK to SMPL.

It needs no downloaded model file: BlazePose's person detector and "full" landmark model ship
inside the ``mediapipe`` 0.10.21 wheel (the lite and heavy variants, and newer mediapipe
releases, download models at run time, which fails offline). They run directly through the
TensorFlow Lite runtime (:mod:`inference_server.blazepose`): in a video the detector runs once
per person and the landmark model follows the person from frame to frame on the ROI its own
landmarks give (MediaPipe Pose's video mode, :mod:`inference_server.blazepose.video`), for all
people of a frame in one batch; ``encode_crops`` (a single picture per crop) detects in each
crop first. Quality is below GLoT's; it exists so that a new user animates a character right
after installing, and the pipeline picks it when GLoT's files are missing.

Per frame it keeps BlazePose's 33 world landmarks (metres, hip-centred, camera axes), their
visibility and their image position in the tracker's crop (``crop_scale`` x the box, [0, 1]);
``keypoints_2d`` gives the image landmarks in full-frame pixels with visibility (the temporal
solver's 2D evidence). Per track it fits the person's bone lengths, solves SMPL joint rotations
analytically (:mod:`inference_server.lite.ik`) and fits the weak-perspective crop camera, so
the output is the same motion clip as GLoT's. Body shape (``betas``) is not estimated: it is
zero, and the person's proportions live in ``rest_joints``.
"""

from __future__ import annotations

import numpy as np

from glot_blender.core.rotations import matrix_to_axis_angle

from ..blazepose.landmarks import LandmarkModel, PoseLandmarks
from ..blazepose.model import MEDIAPIPE_VERSION, litert_available, mediapipe_dir
from ..blazepose.video import PoseVideoSession
from ..errors import BackendUnavailableError
from ..lite import landmarks as lm
from ..lite.ik import fit_crop_camera, fit_segment_scales, scale_rest_joints, solve_ik
from .base import CancelCheck, PoseBackend, TrackInput, TrackPose, shows_upper_body_only

#: per-crop feature layout: world xyz (33*3) | visibility (33) | crop uv in [0, 1] (33*2)
_WORLD = slice(0, 99)
_VIS = slice(99, 132)
_UV = slice(132, 198)
FEATURE_DIM = 198
#: landmarks whose visibility makes a frame's confidence
_BODY_LANDMARKS = sorted(lm.JOINT_LANDMARKS)
#: a frame's pose is recognised when BlazePose found one and its shoulders are this visible
MIN_RECOGNISED_VISIBILITY = 0.5
_SHOULDERS = [lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER]
_LEGS = [lm.LEFT_KNEE, lm.RIGHT_KNEE, lm.LEFT_ANKLE, lm.RIGHT_ANKLE]
#: SMPL joints below the pelvis, left at rest in an upper-body-only track
_LEG_JOINTS = [lm.L_HIP, lm.R_HIP, lm.L_KNEE, lm.R_KNEE, lm.L_ANKLE, lm.R_ANKLE, lm.L_FOOT,
               lm.R_FOOT]
#: crop camera used where no landmark was ever found: a standing adult filling the box
_FALLBACK_CAM = np.array([0.8, 0.0, 0.0], dtype=np.float32)


def _check_runtime() -> None:
    """BackendUnavailableError saying what to install when mediapipe or LiteRT is missing."""
    if mediapipe_dir() is None or not litert_available():
        raise BackendUnavailableError(
            "the lite backend needs the 'mediapipe' package (version "
            f"{MEDIAPIPE_VERSION}, for its BlazePose models) and the TensorFlow Lite runtime "
            "'ai-edge-litert': install both into the server's Python with "
            "'python -m pip install \"glot-mocap[lite]\"' or 'python -m pip install "
            f"mediapipe=={MEDIAPIPE_VERSION} ai-edge-litert'"
        )


def mediapipe_available() -> bool:
    """True when the lite backend can run in this Python."""
    return mediapipe_dir() is not None and litert_available()


def features_from_landmarks(result: PoseLandmarks, boxes: np.ndarray, crop_scale: float
                            ) -> np.ndarray:
    """Landmarks of B people -> (B, 198) features; image positions are stored in the crop of
    ``crop_scale`` x each tracker box [cx, cy, w, h] ([0, 1]); NaN rows where no pose was found."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.full((len(boxes), FEATURE_DIM), np.nan, dtype=np.float32)
    side = crop_scale * boxes[:, None, 2:4]
    uv = (result.image[:, :, :2] - boxes[:, None, :2]) / side + 0.5
    for i in np.flatnonzero(result.found):
        out[i, _WORLD] = result.world[i].ravel()
        out[i, _VIS] = result.visibility[i]
        out[i, _UV] = uv[i].ravel()
    return out


def pose_evidence(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (recognised, legs_seen): BlazePose found a pose with visible shoulders; and
    its knees and ankles are visible too."""
    feats = np.asarray(features, np.float64).reshape(-1, FEATURE_DIM)
    found = ~np.isnan(feats).any(axis=1)
    vis = np.nan_to_num(feats[:, _VIS])
    recognised = found & (vis[:, _SHOULDERS].mean(axis=1) >= MIN_RECOGNISED_VISIBILITY)
    legs = recognised & (vis[:, _LEGS].mean(axis=1) >= MIN_RECOGNISED_VISIBILITY)
    return recognised, legs


def upper_body_only(features: np.ndarray) -> bool:
    """Whether a track shows only the upper body (base.shows_upper_body_only)."""
    return shows_upper_body_only(*pose_evidence(features))


class LiteBackend(PoseBackend):
    """BlazePose landmarks per tracked person and frame, analytic SMPL IK per track."""

    name = "lite"
    crop_size = 256
    #: BlazePose wants margin around the person: the crop is 1.5 x the tracker's box
    crop_scale = 1.5
    batch_size = 16
    has_keypoints_2d = True

    def __init__(self) -> None:
        from ..blazepose.detector import BlazePoseConfig, BlazePoseDetector

        _check_runtime()
        self._detector = BlazePoseDetector(BlazePoseConfig(tiles=False))
        self._landmarks = LandmarkModel()

    def close(self) -> None:
        """Nothing to release (the interpreters go with the object)."""

    def frame_session(self) -> PoseVideoSession:
        """Landmarks of the tracked people frame by frame, detecting once per person."""
        return PoseVideoSession(self._detector, self._landmarks, self.crop_scale)

    def encode_frame(self, session: PoseVideoSession, frame: np.ndarray, boxes: np.ndarray,
                     track_ids: list[int]) -> np.ndarray:
        """One frame (BGR) and its tracked boxes (B, 4) [cx, cy, w, h] -> (B, 198) features."""
        result = session.run(frame, boxes, track_ids)
        return features_from_landmarks(result.landmarks, boxes, self.crop_scale)

    def encode_crops(self, crops: np.ndarray) -> np.ndarray:
        """crops (B,S,S,3) uint8 RGB, each a person's box with margin -> (B,198) landmarks
        (detection in each crop, then the landmark model); rows of NaN where no person was found."""
        import cv2

        crops = np.asarray(crops)
        n = len(crops)
        if n == 0:
            return np.zeros((0, FEATURE_DIM), np.float32)
        side = crops.shape[1]
        box = np.array([side / 2, side / 2, side / self.crop_scale, side / self.crop_scale])
        out = np.full((n, FEATURE_DIM), np.nan, dtype=np.float32)
        for i, crop in enumerate(crops):
            frame = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR)
            session = PoseVideoSession(self._detector, self._landmarks, self.crop_scale)
            out[i] = self.encode_frame(session, frame, box[None], [0])[0]
        return out

    def person_evidence(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return pose_evidence(features)

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
        local, joints, world_rot = ik.local_rotmats, ik.joints, ik.world_rotmats
        if upper_body_only(track.features):
            local, joints, world_rot = _legs_at_rest(local, rest)
        model_points = lm.landmarks_from_pose(joints, world_rot, scales.overall)
        cam = _sane_cameras(fit_crop_camera(model_points, uv, np.clip(vis, 0.0, 1.0)))
        aa = matrix_to_axis_angle(local).reshape(len(feats), 72)
        confidence = np.where(found, vis[:, _BODY_LANDMARKS].mean(axis=1), 0.0)
        return TrackPose(
            global_orient=aa[:, :3].astype(np.float32),
            body_pose=aa[:, 3:].astype(np.float32),
            betas=np.zeros((len(feats), 10), np.float32),
            cam_crop=cam.astype(np.float32),
            rest_joints=rest.astype(np.float32),
            joints3d=joints.astype(np.float32),
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


def _legs_at_rest(local: np.ndarray, rest: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leg joints back to their rest rotation (not observed, so not invented); joints and world
    rotations again by forward kinematics."""
    from glot_blender.core.kinematics import forward_kinematics

    local = local.copy()
    local[:, _LEG_JOINTS] = np.eye(3)
    fk = forward_kinematics(rest, local)
    return local, fk.joints, fk.rotations


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
