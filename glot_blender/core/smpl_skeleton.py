"""The SMPL skeleton: joint names, parents and a default neutral rest pose (numpy only)."""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)

#: parent joint index of each SMPL joint (-1 for the root), the SMPL kinematic tree
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

NUM_JOINTS = 24

#: Approximate rest joints of the neutral SMPL model (metres, T-pose, +y up, the body facing
#: +z, its left side at +x). A stand-in only: real clips carry each person's own rest joints.
DEFAULT_REST_JOINTS = np.array(
    [
        [0.000, -0.223, 0.028], [0.069, -0.314, 0.022], [-0.068, -0.314, 0.022],
        [-0.003, -0.104, -0.002], [0.103, -0.691, 0.017], [-0.105, -0.695, 0.015],
        [0.003, 0.030, 0.002], [0.089, -1.092, -0.024], [-0.090, -1.093, -0.027],
        [0.001, 0.085, 0.025], [0.115, -1.150, 0.100], [-0.115, -1.150, 0.105],
        [-0.003, 0.297, -0.012], [0.077, 0.198, -0.003], [-0.077, 0.197, -0.007],
        [0.005, 0.362, 0.040], [0.173, 0.229, -0.014], [-0.172, 0.228, -0.017],
        [0.435, 0.212, -0.039], [-0.434, 0.213, -0.043], [0.690, 0.222, -0.041],
        [-0.690, 0.222, -0.044], [0.775, 0.214, -0.053], [-0.776, 0.216, -0.057],
    ],
    dtype=np.float32,
)
DEFAULT_REST_JOINTS.setflags(write=False)  # shared by every caller: never changed in place
