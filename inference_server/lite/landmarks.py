"""BlazePose's 33 landmarks and where they sit on the SMPL skeleton.

The landmark model places every BlazePose landmark rigidly on one SMPL joint: landmark =
joint position + the joint's world rotation @ offset, offsets given in SMPL's rest frame
(metres, y up, body facing +z, its left side at +x) for the default neutral skeleton and
scaled with the person. Joints that BlazePose observes directly (shoulders, elbows, wrists,
hips, knees, ankles) have zero offset. The IK (:mod:`inference_server.lite.ik`) inverts this
model; tests use it forwards to make landmarks from known SMPL poses.
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 33

NOSE = 0
LEFT_EYE_INNER, LEFT_EYE, LEFT_EYE_OUTER = 1, 2, 3
RIGHT_EYE_INNER, RIGHT_EYE, RIGHT_EYE_OUTER = 4, 5, 6
LEFT_EAR, RIGHT_EAR = 7, 8
MOUTH_LEFT, MOUTH_RIGHT = 9, 10
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_PINKY, RIGHT_PINKY = 17, 18
LEFT_INDEX, RIGHT_INDEX = 19, 20
LEFT_THUMB, RIGHT_THUMB = 21, 22
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_FOOT_INDEX, RIGHT_FOOT_INDEX = 31, 32

# SMPL joint indices used here (see glot_blender.core.smpl_skeleton.JOINT_NAMES)
PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE = range(9)
SPINE3, L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD = range(9, 16)
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HAND, R_HAND = range(16, 24)

#: landmark index -> (SMPL joint it is attached to, offset in the rest frame, metres)
LANDMARK_ANCHORS: dict[int, tuple[int, tuple[float, float, float]]] = {
    NOSE: (HEAD, (0.0, 0.035, 0.105)),
    LEFT_EYE_INNER: (HEAD, (0.015, 0.075, 0.090)),
    LEFT_EYE: (HEAD, (0.033, 0.075, 0.085)),
    LEFT_EYE_OUTER: (HEAD, (0.050, 0.075, 0.075)),
    RIGHT_EYE_INNER: (HEAD, (-0.015, 0.075, 0.090)),
    RIGHT_EYE: (HEAD, (-0.033, 0.075, 0.085)),
    RIGHT_EYE_OUTER: (HEAD, (-0.050, 0.075, 0.075)),
    LEFT_EAR: (HEAD, (0.075, 0.050, 0.000)),
    RIGHT_EAR: (HEAD, (-0.075, 0.050, 0.000)),
    MOUTH_LEFT: (HEAD, (0.025, -0.005, 0.090)),
    MOUTH_RIGHT: (HEAD, (-0.025, -0.005, 0.090)),
    LEFT_SHOULDER: (L_SHOULDER, (0.0, 0.0, 0.0)),
    RIGHT_SHOULDER: (R_SHOULDER, (0.0, 0.0, 0.0)),
    LEFT_ELBOW: (L_ELBOW, (0.0, 0.0, 0.0)),
    RIGHT_ELBOW: (R_ELBOW, (0.0, 0.0, 0.0)),
    LEFT_WRIST: (L_WRIST, (0.0, 0.0, 0.0)),
    RIGHT_WRIST: (R_WRIST, (0.0, 0.0, 0.0)),
    LEFT_PINKY: (L_WRIST, (0.085, -0.005, -0.030)),
    RIGHT_PINKY: (R_WRIST, (-0.085, -0.005, -0.030)),
    LEFT_INDEX: (L_WRIST, (0.095, -0.005, 0.025)),
    RIGHT_INDEX: (R_WRIST, (-0.095, -0.005, 0.025)),
    LEFT_THUMB: (L_WRIST, (0.045, -0.010, 0.045)),
    RIGHT_THUMB: (R_WRIST, (-0.045, -0.010, 0.045)),
    LEFT_HIP: (L_HIP, (0.0, 0.0, 0.0)),
    RIGHT_HIP: (R_HIP, (0.0, 0.0, 0.0)),
    LEFT_KNEE: (L_KNEE, (0.0, 0.0, 0.0)),
    RIGHT_KNEE: (R_KNEE, (0.0, 0.0, 0.0)),
    LEFT_ANKLE: (L_ANKLE, (0.0, 0.0, 0.0)),
    RIGHT_ANKLE: (R_ANKLE, (0.0, 0.0, 0.0)),
    LEFT_HEEL: (L_ANKLE, (0.0, -0.055, -0.065)),
    RIGHT_HEEL: (R_ANKLE, (0.0, -0.055, -0.065)),
    LEFT_FOOT_INDEX: (L_FOOT, (0.0, -0.020, 0.085)),
    RIGHT_FOOT_INDEX: (R_FOOT, (0.0, -0.020, 0.085)),
}

#: landmarks placed exactly on an SMPL joint: used to fit the crop camera and bone lengths
JOINT_LANDMARKS: dict[int, int] = {
    lm: joint for lm, (joint, off) in LANDMARK_ANCHORS.items() if not any(off)
}

ANCHOR_JOINTS = np.array([LANDMARK_ANCHORS[i][0] for i in range(NUM_LANDMARKS)], dtype=np.int64)
ANCHOR_OFFSETS = np.array([LANDMARK_ANCHORS[i][1] for i in range(NUM_LANDMARKS)], dtype=np.float64)


def landmarks_from_pose(
    joints: np.ndarray, world_rotations: np.ndarray, offset_scale: float = 1.0
) -> np.ndarray:
    """Landmark positions of posed SMPL joints (the landmark model used forwards).

    joints (N,24,3) world joint positions; world_rotations (N,24,3,3) world rotation of each
    joint relative to the rest pose; offset_scale scales the rest offsets with the person.
    Returns (N,33,3).
    """
    rot = world_rotations[:, ANCHOR_JOINTS]  # (N,33,3,3)
    offsets = ANCHOR_OFFSETS * offset_scale
    return joints[:, ANCHOR_JOINTS] + np.einsum("nlij,lj->nli", rot, offsets)
