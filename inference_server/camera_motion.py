"""The video camera's own motion, from the background (people's boxes masked out).

Streams with pass 1: :meth:`CameraMotionTracker.add` takes one analysed frame (and the
people's boxes in it), works on a reduced-resolution grey copy and keeps only the previous
grey frame and the feature points, never the video. :meth:`CameraMotionTracker.finish`
returns a :class:`CameraSolve`.

Per frame: corner features (``cv2.goodFeaturesToTrack``) outside the people's boxes are
followed with pyramidal Lucas-Kanade (forward-backward checked). Each frame is compared with
the current *keyframe*, not the previous frame, so the error does not add up frame by frame;
a new keyframe (and new features) is taken when too few features survive or the view turned
too far. The keyframe-to-frame motion is fitted with RANSAC:

- a homography's inliers, then the rotation that best maps the keyframe's bearing vectors
  (``K^-1 x`` with the known focal) onto the frame's (orthogonal Procrustes): a camera
  that mostly turns;
- when that rotation leaves the inliers more than ``parallax_px`` off, the essential matrix
  (``cv2.findEssentialMat`` + ``cv2.recoverPose``): rotation and the direction of the camera
  centre's motion (its length is unknown from images alone; :mod:`.world` scales it).

A keyframe-to-frame motion under ``static_px`` median feature displacement is exactly the
identity; a clip where every frame is so is "static" and every rotation is exactly the
identity (tripod footage gets no drift). A light Gaussian pass smooths the chained rotations.

Frames: rotations are *camera-0-from-camera-t* in the video camera frame (x right, y down,
z forward; the frame of a clip's ``transl``), directions are unit vectors in camera 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

#: motion kinds reported by the CLI and stored in the clip
KINDS = ("static", "turning", "moving")


@dataclass(frozen=True)
class CameraMotionOptions:
    """max_side: the longer side (px) of the grey images the solve works on;
    max_features / min_features: corners seeded per keyframe / fewer survivors than this
    starts a new keyframe; box_margin: people's boxes grow by this fraction before masking;
    ransac_px: RANSAC threshold (px at max_side); static_px: median displacement below which
    a frame has not moved; parallax_px: rotation-only residual (median, px) above which the
    essential matrix is used; keyframe_deg: a new keyframe after this much turning;
    smooth_sigma: Gaussian smoothing of the rotations (frames, 0 = off)."""

    max_side: int = 480
    max_features: int = 400
    min_features: int = 60
    quality: float = 0.005
    min_distance: int = 8
    box_margin: float = 0.15
    ransac_px: float = 1.5
    static_px: float = 0.15
    parallax_px: float = 0.8
    keyframe_deg: float = 8.0
    keep_ratio: float = 0.5
    smooth_sigma: float = 1.0


@dataclass
class CameraSolve:
    """The camera's motion over the analysed frames (F of them).

    rotations (F,3,3) camera-0-from-camera-t; directions (F,3) unit direction of the camera
    centre's displacement from its keyframe, in camera 0 (zeros where it only turned);
    moving (F,) bool frames with parallax; key_index (F,) the keyframe each frame was measured
    from (the camera centre of frame t is that of its keyframe plus a length times
    ``directions[t]``); kind "static" | "turning" | "moving";
    total_rotation_deg: the sum of the frame-to-frame turning angles; seconds_per_frame: the
    solve's cost; features: mean features followed per frame; keyframes: their count.
    """

    rotations: np.ndarray
    directions: np.ndarray
    moving: np.ndarray
    key_index: np.ndarray
    kind: str
    total_rotation_deg: float
    seconds_per_frame: float
    features: float
    keyframes: int
    notices: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])


def static_solve(num_frames: int) -> CameraSolve:
    """Exactly the identity for every frame (a camera that did not move)."""
    rot = np.broadcast_to(np.eye(3), (num_frames, 3, 3)).copy()
    return CameraSolve(rot, np.zeros((num_frames, 3)), np.zeros(num_frames, bool),
                       np.zeros(num_frames, np.int64), "static",
                       0.0, 0.0, 0.0, 1 if num_frames else 0)


def bearings(points: np.ndarray, focal: float, center: tuple[float, float]) -> np.ndarray:
    """(N,3) unit viewing directions of pixels (N,2) for a pinhole camera."""
    rays = np.column_stack([(points[:, 0] - center[0]) / focal,
                            (points[:, 1] - center[1]) / focal, np.ones(len(points))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def rotation_from_bearings(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation R (3,3) minimising sum |dst - R src|^2 (Kabsch, proper rotation)."""
    u, _s, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def rotation_angle_deg(r: np.ndarray) -> np.ndarray:
    """Angle in degrees of rotation matrices (..., 3, 3)."""
    cos = (np.trace(r, axis1=-2, axis2=-1) - 1.0) * 0.5
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(K,4) [cx, cy, w, h] from detector rows [x1, y1, x2, y2, ...]."""
    b = np.asarray(boxes, np.float64)
    b = b.reshape(len(b), -1)[:, :4] if b.size else np.zeros((0, 4))
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                            b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def box_mask(shape: tuple[int, int], boxes: np.ndarray, scale: float, margin: float) -> np.ndarray:
    """uint8 mask (255 = background) of a grey image, people's boxes [cx,cy,w,h] (full-size px)
    grown by ``margin`` and zeroed."""
    mask = np.full(shape, 255, np.uint8)
    for cx, cy, w, h in np.asarray(boxes, np.float64).reshape(-1, 4) * scale:
        hw, hh = 0.5 * w * (1 + margin), 0.5 * h * (1 + margin)
        x0, y0 = max(int(cx - hw), 0), max(int(cy - hh), 0)
        x1, y1 = min(int(math.ceil(cx + hw)), shape[1]), min(int(math.ceil(cy + hh)), shape[0])
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = 0
    return mask


def smooth_rotations(rot: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing (``sigma`` frames) of rotations (F,3,3) that start at the identity.

    Works on rotation vectors relative to frame 0, padded by odd reflection at both ends so a
    steady turn is not pulled in at the clip's ends and frame 0 stays exactly the identity.
    Turns past 150 degrees from frame 0 are left unsmoothed (the rotation vector wraps there).
    """
    n = len(rot)
    if sigma <= 0 or n < 3:
        return rot
    vec = Rotation.from_matrix(rot).as_rotvec()
    if np.linalg.norm(vec, axis=1).max() > np.radians(150.0):
        return rot
    pad = min(n - 1, int(math.ceil(4 * sigma)))
    head = -vec[pad:0:-1]
    tail = 2 * vec[-1] - vec[-2:-pad - 2:-1]
    smooth = gaussian_filter1d(np.concatenate([head, vec, tail]), sigma, axis=0, mode="nearest")
    out = Rotation.from_rotvec(smooth[pad:pad + n]).as_matrix()
    out[0] = np.eye(3)
    return out


class CameraMotionTracker:
    """Streaming camera-motion solve (see the module doc). width/height: full frame size in
    pixels; focal_px: the full-size focal length."""

    def __init__(self, width: int, height: int, focal_px: float,
                 options: CameraMotionOptions | None = None) -> None:
        self.options = options or CameraMotionOptions()
        self.scale = min(1.0, self.options.max_side / max(width, height))
        self.size = (max(int(round(width * self.scale)), 16),
                     max(int(round(height * self.scale)), 16))
        self.focal = focal_px * self.scale
        self.center = (0.5 * self.size[0], 0.5 * self.size[1])
        self.k = np.array([[self.focal, 0, self.center[0]], [0, self.focal, self.center[1]],
                           [0, 0, 1.0]])
        self._prev: np.ndarray | None = None
        self._key_pts = np.zeros((0, 2), np.float32)
        self._cur_pts = np.zeros((0, 2), np.float32)
        self._key_rot = np.eye(3)  # camera-0-from-keyframe
        self._rotations: list[np.ndarray] = []
        self._directions: list[np.ndarray] = []
        self._moving: list[bool] = []
        self._static: list[bool] = []
        self._counts: list[int] = []
        self._key_index: list[int] = []
        self._key_frame = 0
        self._keyframes = 0
        self._seconds = 0.0

    # -- streaming ----------------------------------------------------------------------
    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The reduced grey image the solve works on (what a caller may hold a little while
        instead of the full frame)."""
        t0 = time.perf_counter()
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if grey.shape[1] != self.size[0] or grey.shape[0] != self.size[1]:
            grey = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA)
        self._seconds += time.perf_counter() - t0
        return grey

    def add(self, frame: np.ndarray, boxes: np.ndarray | None = None) -> None:
        """One analysed frame (BGR or grey, full size) and the people's boxes [cx,cy,w,h]."""
        self.add_prepared(self.prepare(frame), boxes)

    def add_prepared(self, grey: np.ndarray, boxes: np.ndarray | None = None) -> None:
        """One analysed frame as :meth:`prepare` made it, and the people's boxes [cx,cy,w,h]
        in full-size pixels."""
        t0 = time.perf_counter()
        mask = box_mask(grey.shape, np.zeros((0, 4)) if boxes is None else boxes, self.scale,
                        self.options.box_margin)
        if self._prev is None:
            self._new_keyframe(grey, mask, np.eye(3))
            self._record(np.eye(3), np.zeros(3), False, True)
        else:
            self._follow(grey, mask)
            rot, direction, moving, static = self._relative_motion()
            self._record(self._key_rot @ rot.T, direction, moving, static)
            if self._needs_keyframe(rot):
                self._new_keyframe(grey, mask, self._rotations[-1], self._key_pts, self._cur_pts)
        self._prev = grey
        self._seconds += time.perf_counter() - t0

    def add_missing(self) -> None:
        """A frame that could not be decoded: it repeats the previous frame's motion."""
        if self._rotations:
            self._record(self._rotations[-1], self._directions[-1], self._moving[-1],
                         self._static[-1])
        else:
            self._record(np.eye(3), np.zeros(3), False, True)

    def _record(self, rot: np.ndarray, direction: np.ndarray, moving: bool, static: bool) -> None:
        self._rotations.append(rot)
        self._directions.append(direction)
        self._moving.append(moving)
        self._static.append(static)
        self._counts.append(len(self._cur_pts))
        self._key_index.append(self._key_frame)

    def _follow(self, grey: np.ndarray, mask: np.ndarray) -> None:
        """Lucas-Kanade from the previous frame, forward-backward checked; drops points that
        now fall on a person."""
        if len(self._cur_pts) == 0:
            return
        lk = dict(winSize=(21, 21), maxLevel=3,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
        p0 = self._cur_pts.reshape(-1, 1, 2)
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(self._prev, grey, p0, None, **lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey, self._prev, p1, None, **lk)
        p1 = p1.reshape(-1, 2)
        err = np.linalg.norm(back.reshape(-1, 2) - self._cur_pts, axis=1)
        ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (err < 0.5)
        xi = np.clip(np.round(p1[:, 0]).astype(int), 0, grey.shape[1] - 1)
        yi = np.clip(np.round(p1[:, 1]).astype(int), 0, grey.shape[0] - 1)
        inside = (p1[:, 0] >= 0) & (p1[:, 0] < grey.shape[1]) & (p1[:, 1] >= 0) & \
            (p1[:, 1] < grey.shape[0])
        ok &= inside & (mask[yi, xi] > 0)
        self._key_pts, self._cur_pts = self._key_pts[ok], p1[ok].astype(np.float32)

    def _relative_motion(self) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """(R frame-from-keyframe, direction in camera 0, parallax?, static?)."""
        key, cur = self._key_pts, self._cur_pts
        if len(key) < 8:
            # lost: keep the last known motion relative to the keyframe
            last = self._key_rot.T @ self._rotations[-1]
            return last.T, self._directions[-1], self._moving[-1], False
        disp = np.median(np.linalg.norm(cur - key, axis=1))
        if disp < self.options.static_px:
            return np.eye(3), np.zeros(3), False, True
        _h, inl = cv2.findHomography(key, cur, cv2.RANSAC, self.options.ransac_px)
        inl = np.ones(len(key), bool) if inl is None else inl.ravel().astype(bool)
        if inl.sum() < 8:
            inl = np.ones(len(key), bool)
        b0 = bearings(key[inl], self.focal, self.center)
        b1 = bearings(cur[inl], self.focal, self.center)
        rot = rotation_from_bearings(b0, b1)
        resid = np.median(np.linalg.norm(b1 - b0 @ rot.T, axis=1)) * self.focal
        if resid <= self.options.parallax_px:
            return rot, np.zeros(3), False, False
        essential = self._essential(key, cur)
        if essential is None:
            return rot, np.zeros(3), False, False
        rot_e, t = essential
        # x_cur = R x_key + t: the camera centre moved by -R^T t in the keyframe's frame
        direction = self._key_rot @ (-rot_e.T @ t)
        return rot_e, direction / max(np.linalg.norm(direction), 1e-12), True, False

    def _essential(self, key: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        e, inl = cv2.findEssentialMat(key, cur, self.k, cv2.RANSAC, 0.999,
                                      self.options.ransac_px)
        if e is None or e.shape != (3, 3):
            return None
        n, rot, t, _mask = cv2.recoverPose(e, key, cur, self.k, mask=inl)
        if n < 8:
            return None
        return rot, t.ravel()

    def _needs_keyframe(self, rot: np.ndarray) -> bool:
        o = self.options
        few = len(self._cur_pts) < max(o.min_features, o.keep_ratio * self._seeded)
        return few or float(rotation_angle_deg(rot)) > o.keyframe_deg

    def _new_keyframe(self, grey: np.ndarray, mask: np.ndarray, rot: np.ndarray,
                      key: np.ndarray | None = None, cur: np.ndarray | None = None) -> None:
        """The current frame becomes the keyframe; surviving points are kept, new corners
        added where the mask allows and no point is near."""
        o = self.options
        pts = np.zeros((0, 2), np.float32) if cur is None else cur
        seed_mask = mask.copy()
        for x, y in pts:
            cv2.circle(seed_mask, (int(x), int(y)), o.min_distance, 0, -1)
        want = o.max_features - len(pts)
        if want > 0:
            new = cv2.goodFeaturesToTrack(grey, want, o.quality, o.min_distance, mask=seed_mask)
            if new is not None:
                pts = np.concatenate([pts, new.reshape(-1, 2).astype(np.float32)])
        self._key_pts = pts.copy()
        self._cur_pts = pts.copy()
        self._seeded = len(pts)
        self._key_rot = rot
        self._keyframes += 1
        self._key_frame = max(len(self._rotations) - 1, 0)

    # -- result ---------------------------------------------------------------------------
    def finish(self, num_frames: int | None = None) -> CameraSolve:
        """The solve over the frames added; ``num_frames``: the analysed frame count, frames
        never added (a video that ended early) holding the last motion."""
        while num_frames is not None and len(self._rotations) < num_frames:
            self.add_missing()
        n = len(self._rotations)
        if n == 0 or all(self._static):
            solve = static_solve(n)
            solve.seconds_per_frame = self._seconds / max(n, 1)
            solve.features = float(np.mean(self._counts)) if self._counts else 0.0
            return solve
        rot = smooth_rotations(np.stack(self._rotations), self.options.smooth_sigma)
        steps = rotation_angle_deg(np.einsum("fji,fjk->fik", rot[:-1], rot[1:]))
        moving = np.asarray(self._moving, bool)
        kind = "moving" if moving.mean() > 0.2 else "turning"
        notices = []
        if min(self._counts) < 8:
            notices.append("the camera solve lost the background in some frames (too little "
                           "texture outside the people): their camera motion is held")
        return CameraSolve(rot, np.stack(self._directions), moving,
                           np.asarray(self._key_index, np.int64), kind, float(steps.sum()),
                           self._seconds / n, float(np.mean(self._counts)), self._keyframes,
                           notices)
