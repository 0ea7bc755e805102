"""Videos of a real photo filmed by a turning camera, with the camera's true rotation.

The photo is the scene seen by camera 0 (focal ``SCENE_FOCAL`` px at the photo's size); the
video's camera has focal ``VIDEO_FOCAL`` px at ``VIDEO_SIZE`` and turns by a known rotation per
frame. Frame t is the photo warped by the pure-rotation homography
``K_photo @ R_0t @ K_video^-1`` (video pixel -> photo pixel), which is exactly what a camera
turning about its centre sees; the photo's edges are part of the scene (black beyond them).

``R_0t`` is camera-0-from-camera-t in the video camera frame (x right, y down, z forward), the
frame :mod:`inference_server.camera_motion` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

SCENE_FOCAL = 1000.0
VIDEO_FOCAL = 600.0
VIDEO_SIZE = (480, 640)  # (width, height): bus.jpg is portrait
FPS = 30.0


@dataclass
class CameraVideo:
    """path; rotations (F,3,3) camera-0-from-camera-t; focal_px; size (w, h); fps."""

    path: Path
    rotations: np.ndarray
    focal_px: float
    size: tuple[int, int]
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])


def turning_rotations(num_frames: int, yaw_deg: float = 6.0, pitch_deg: float = 3.0,
                      roll_deg: float = 2.0) -> np.ndarray:
    """(F,3,3) a smooth hand-held-like turn: yaw, pitch and roll as slow sinusoids from 0."""
    t = np.linspace(0.0, 1.0, num_frames)
    yaw = yaw_deg * np.sin(np.pi * t)  # out and back
    pitch = pitch_deg * np.sin(2 * np.pi * t)
    roll = roll_deg * (1 - np.cos(2 * np.pi * t)) * 0.5
    # camera axes: yaw about y (down), pitch about x (right), roll about z (forward)
    return Rotation.from_euler("yxz", np.stack([yaw, pitch, roll], 1), degrees=True).as_matrix()


def intrinsics(focal: float, size: tuple[int, int]) -> np.ndarray:
    return np.array([[focal, 0, size[0] / 2], [0, focal, size[1] / 2], [0, 0, 1.0]])


def render(photo: np.ndarray, rotation: np.ndarray, size: tuple[int, int] = VIDEO_SIZE,
           focal: float = VIDEO_FOCAL) -> np.ndarray:
    """One frame of the photo seen by the video camera turned by ``rotation`` (R_0t)."""
    k_photo = intrinsics(SCENE_FOCAL, (photo.shape[1], photo.shape[0]))
    m = k_photo @ rotation @ np.linalg.inv(intrinsics(focal, size))
    return cv2.warpPerspective(photo, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT)


def project_scene_point(xy_photo: np.ndarray, rotation: np.ndarray,
                        size: tuple[int, int] = VIDEO_SIZE, focal: float = VIDEO_FOCAL,
                        photo_size: tuple[int, int] = (810, 1080)) -> np.ndarray:
    """Where photo pixels (N,2) appear in the video frame with rotation R_0t."""
    k_photo = intrinsics(SCENE_FOCAL, photo_size)
    h = intrinsics(focal, size) @ rotation.T @ np.linalg.inv(k_photo)
    p = np.column_stack([xy_photo, np.ones(len(xy_photo))]) @ h.T
    return p[:, :2] / p[:, 2:]


def write_camera_video(photo_path: Path, path: Path, rotations: np.ndarray,
                       size: tuple[int, int] = VIDEO_SIZE, focal: float = VIDEO_FOCAL,
                       fps: float = FPS) -> CameraVideo:
    """Write the video (.avi MJPG, quality as a phone's) of ``rotations`` over the photo."""
    photo = cv2.imread(str(photo_path))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    try:
        for rot in rotations:
            writer.write(render(photo, rot, size, focal))
    finally:
        writer.release()
    return CameraVideo(Path(path), np.asarray(rotations), focal, size, fps)


def read_frames(path: Path):
    """Decoded BGR frames of a video, one at a time."""
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def dot_scene(num_points: int = 700, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 3D scene of textured dots at 4-15 m (points (N,3) in camera 0, grey levels (N,))."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(4.0, 15.0, num_points)
    xy = rng.uniform(-0.7, 0.7, (num_points, 2)) * z[:, None]
    return np.column_stack([xy, z]), rng.uniform(0, 255, num_points)


def render_dots(points: np.ndarray, grey: np.ndarray, rotation: np.ndarray, center: np.ndarray,
                size: tuple[int, int] = (640, 480), focal: float = 500.0) -> np.ndarray:
    """The dot scene seen by a camera at ``center`` (camera 0 coordinates) turned by R_0t."""
    cam = (points - center) @ rotation  # R_0t^T (p - c), row-wise
    img = np.full((size[1], size[0], 3), 128, np.uint8)
    order = np.argsort(-cam[:, 2])  # far first
    for i in order:
        x, y, z = cam[i]
        if z <= 0.5:
            continue
        u, v = focal * x / z + size[0] / 2, focal * y / z + size[1] / 2
        r = max(2, int(round(25.0 / z)))
        if -r <= u < size[0] + r and -r <= v < size[1] + r:
            g = int(grey[i])
            cv2.circle(img, (int(round(u * 4)), int(round(v * 4))), r * 4, (g, g, g), -1,
                       cv2.LINE_AA, shift=2)
    return img
