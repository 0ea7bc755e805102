"""Per track: the backend's pose solve, then the camera-space translation (stage "pose")."""

from __future__ import annotations

import numpy as np

from glot_blender.core.motion_clip import TrackMotion

from ..backends.base import PoseBackend, TrackInput, TrackPose
from ..camera import crop_cam_to_transl
from .context import JobContext
from .people import PersonTrack


def solve_people(people: list[PersonTrack], backend: PoseBackend, width: int, height: int,
                 focal: float, job: JobContext, keep_keypoints: bool = False) -> list[TrackMotion]:
    """Per track: backend.solve_track, then the camera-space translation (stage "pose");
    keep_keypoints: keep the backend's own 2D keypoints for the solver (lite)."""
    motions = []
    for i, person in enumerate(people):
        job.check_cancel()
        track = TrackInput(person.track_id, person.frame_ids, person.bboxes, person.features,
                           person.filled, person.det_score)
        with job.timed("pose"):
            pose = backend.solve_track(track, should_cancel=job.should_cancel)
            transl = crop_cam_to_transl(pose.cam_crop, person.bboxes, width, height, focal,
                                        backend.crop_scale)
        motions.append(_motion(person, pose, transl))
        if keep_keypoints and person.keypoints is None:
            person.keypoints = backend.keypoints_2d(track)
        person.features = None  # no longer needed
        job.report("pose", i + 1, len(people), force=True)
    return motions


def _motion(person: PersonTrack, pose: TrackPose, transl: np.ndarray) -> TrackMotion:
    return TrackMotion(
        track_id=person.track_id, frame_ids=person.frame_ids,
        global_orient=pose.global_orient, body_pose=pose.body_pose, betas=pose.betas,
        cam_crop=pose.cam_crop, bbox=person.bboxes, transl=transl,
        rest_joints=pose.rest_joints, joints3d=pose.joints3d, confidence=pose.confidence,
        filled=person.filled,
    )
