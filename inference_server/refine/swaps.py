"""Left/right leg swaps in BlazePose's 2D keypoints, undone before the solver uses them.

BlazePose now and then takes a left leg landmark for the right one (on the still bus.jpg
video: the ankles exchanged in a quarter of the frames, the knees merged). Fitted as given,
a smooth body settles between the two legs: legs held together where the person stands with
them apart. So each left/right pair (knees, ankles, heels, toes) is followed through the track:
a frame whose pair fits the recent frames clearly better exchanged (less than ``SWAP_RATIO``
of the distance, against the median of the last ``WINDOW`` kept frames) is exchanged.
"""

from __future__ import annotations

import numpy as np

from ..lite import landmarks as lm

#: left/right landmark pairs of the legs
LEG_PAIRS = ((lm.LEFT_KNEE, lm.RIGHT_KNEE), (lm.LEFT_ANKLE, lm.RIGHT_ANKLE),
             (lm.LEFT_HEEL, lm.RIGHT_HEEL), (lm.LEFT_FOOT_INDEX, lm.RIGHT_FOOT_INDEX))
#: a pair is exchanged when the crossed distance is under this share of the direct one
SWAP_RATIO = 0.5
#: frames of recent history the pair is compared with (their median)
WINDOW = 5
#: keypoints under this confidence are not judged (and do not update the history)
MIN_CONFIDENCE = 0.3


def unswap_legs(keypoints: np.ndarray) -> tuple[np.ndarray, int]:
    """keypoints (N,33,3) [x, y, confidence] -> a copy with swapped leg pairs exchanged back,
    and the number of exchanges."""
    kp = np.array(keypoints, dtype=np.float64, copy=True)
    fixed = 0
    for left, right in LEG_PAIRS:
        history: list[tuple[np.ndarray, np.ndarray]] = []
        for t in range(len(kp)):
            a, b = kp[t, left], kp[t, right]
            if min(a[2], b[2]) < MIN_CONFIDENCE or not np.isfinite(a).all() or not np.isfinite(b).all():
                continue
            if history:
                ref_a = np.median([h[0] for h in history[-WINDOW:]], axis=0)
                ref_b = np.median([h[1] for h in history[-WINDOW:]], axis=0)
                direct = np.linalg.norm(a[:2] - ref_a) + np.linalg.norm(b[:2] - ref_b)
                crossed = np.linalg.norm(a[:2] - ref_b) + np.linalg.norm(b[:2] - ref_a)
                if crossed < SWAP_RATIO * direct:
                    kp[t, left], kp[t, right] = b.copy(), a.copy()
                    fixed += 1
            history.append((kp[t, left, :2].copy(), kp[t, right, :2].copy()))
    return kp, fixed
