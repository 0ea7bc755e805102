"""World-grounded motion (motion clip version 2) in the terms everything else speaks.

A clip's ``world_transl`` / ``world_orient`` put a person in the world (z up, floor z = 0).
:func:`world_as_camera_track` writes that same motion as camera-frame SMPL parameters of a
video camera standing at the world origin and looking along +y (the "As Filmed" convention of
:mod:`.kinematics`: ``x_blender = CAMERA_TO_BLENDER @ x_camera``). Smoothing, foot locking,
retargeting and Blender's camera placement, all written for camera-frame motion, then place
the person in the world unchanged: Blender's world is the clip's world.

:func:`camera_object_pose` turns the clip's camera trajectory (world-from-camera in the video
camera frame: x right, y down, z forward) into a Blender camera object's rotation (which looks
along its local -z with +y up) and location.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .kinematics import CAMERA_TO_BLENDER
from .motion_clip import CameraTrajectory, TrackMotion
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_quaternion

#: video camera axes (x right, y down, z forward) -> Blender camera object axes (x right,
#: y up, looking along -z)
VIDEO_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0])
VIDEO_TO_BLENDER_CAMERA.setflags(write=False)


class WorldMotionError(ValueError):
    """A track or clip without world motion was asked for it; the message says what to do."""


def world_as_camera_track(track: TrackMotion) -> TrackMotion:
    """A copy of ``track`` whose ``global_orient``/``transl`` are its world motion seen from a
    camera at the world origin looking along +y (see the module doc)::

        global_orient' = C^T world_orient
        transl'        = C^T (J0 + world_transl) - J0     (J0 = rest_joints[0], the pelvis)

    so that ``C @ (FK(global_orient', transl'))`` is the world pose. Raises WorldMotionError
    for a track without world motion."""
    if not track.has_world:
        raise WorldMotionError(
            f"person {track.track_id} has no world motion: the clip is of version 1 or was "
            "analysed with --no-world; choose Placement As Filmed or At Origin, or analyse the "
            "video again")
    c_t = CAMERA_TO_BLENDER.T
    j0 = track.rest_joints[0].astype(np.float64)
    orient = matrix_to_axis_angle(c_t @ axis_angle_to_matrix(track.world_orient))
    transl = (j0 + track.world_transl) @ c_t.T - j0
    return dataclasses.replace(track, global_orient=orient.astype(np.float32),
                               transl=transl.astype(np.float32))


def camera_object_pose(camera: CameraTrajectory) -> tuple[np.ndarray, np.ndarray]:
    """(quaternions (F,4) w-x-y-z, sign-continuous; locations (F,3)) of a Blender camera object
    following the clip's camera trajectory."""
    rot = camera.rotation @ VIDEO_TO_BLENDER_CAMERA
    quat = matrix_to_quaternion(rot)
    flip = np.cumsum(np.concatenate([[0], (np.sum(quat[1:] * quat[:-1], axis=1) < 0)])) % 2
    quat = np.where(flip[:, None] == 1, -quat, quat)
    return quat, np.asarray(camera.position, np.float64)
