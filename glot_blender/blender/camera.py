"""The video camera in the scene: lens and render size of the analysed video, the video as
its background (a movie clip)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import bpy

from .errors import AnimError

CAMERA_NAME = "GLoT Camera"
DEFAULT_SENSOR_MM = 36.0
#: field of view assumed when the clip carries no focal length (GLoT demo's 5000 px is for crops)
FALLBACK_FOV_DEG = 55.0


@dataclass(frozen=True)
class CameraRequest:
    """A camera matching the analysed video: size in px, focal length in px, the video file
    ('' = no background), the scene's frame offset and the clip's first analysed frame."""

    width: int
    height: int
    focal_px: float
    video: str
    frame_offset: int
    start_frame: int


def focal_mm(focal_px: float, width: int, sensor_mm: float = DEFAULT_SENSOR_MM) -> float:
    """Lens in mm for a sensor ``sensor_mm`` wide (sensor fit horizontal)."""
    if focal_px <= 0:
        focal_px = 0.5 * width / math.tan(math.radians(FALLBACK_FOV_DEG) / 2)
    return focal_px * sensor_mm / width


def setup_camera(scene: bpy.types.Scene, request: CameraRequest) -> bpy.types.Object:
    """Camera at the origin looking along +Y (the video camera in Blender's frame), lens and
    render size of the video, the video as its background (a movie clip).

    Raises :class:`AnimError` before anything changes when the clip has no video size or
    Blender cannot open the video."""
    if request.width <= 0 or request.height <= 0:
        raise AnimError("The motion clip has no video size: re-run the analysis with this version")
    movie = None
    if request.video:
        try:
            movie = bpy.data.movieclips.load(request.video, check_existing=True)
        except RuntimeError as exc:
            raise AnimError(
                f"Blender cannot open the video {request.video} as a movie clip: {exc}"
            ) from exc
    cam_data = bpy.data.cameras.new(CAMERA_NAME)
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = DEFAULT_SENSOR_MM
    cam_data.lens = focal_mm(request.focal_px, request.width)
    cam_obj = bpy.data.objects.new(CAMERA_NAME, cam_data)
    scene.collection.objects.link(cam_obj)
    cam_obj.location = (0.0, 0.0, 0.0)
    cam_obj.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.camera = cam_obj
    scene.render.resolution_x = request.width
    scene.render.resolution_y = request.height
    scene.render.resolution_percentage = 100
    if movie is not None:
        # the clip's first analysed frame on scene frame 1 + offset, as apply.clip_frames
        movie.frame_start = 1 + request.frame_offset - request.start_frame
        cam_data.show_background_images = True
        bg = cam_data.background_images.new()
        bg.source = "MOVIE_CLIP"
        bg.clip = movie
        bg.alpha = 1.0
    return cam_obj
