"""The video camera in the scene: lens and render size of the analysed video, the video as
its background (a movie clip); with :func:`setup_camera_as_filmed`, the clip's rigs placed
where that camera sees them. Given the clip's camera solve (placement "world") the camera
flies along the solved path, one key per analysed frame, so the rigs in the world overlay
the footage while the floor stays still."""

from __future__ import annotations

import math
from dataclasses import dataclass

import bpy
import numpy as np

from ..core.motion_clip import CameraTrajectory
from ..core.world_frame import camera_object_pose
from .apply_clip import ApplyRequest, place_as_filmed
from .errors import AnimError
from .keyframes import ChannelKeys, new_action_with_keys

CAMERA_NAME = "GLoT Camera"
DEFAULT_SENSOR_MM = 36.0
#: field of view assumed when the clip carries no focal length (GLoT demo's 5000 px is for crops)
FALLBACK_FOV_DEG = 55.0


@dataclass(frozen=True)
class CameraRequest:
    """A camera matching the analysed video: size in px, focal length in px, the video file
    ('' = no background), the scene's frame offset and the clip's first analysed frame;
    trajectory: the clip's camera solve to fly along (None: a still camera at the origin)."""

    width: int
    height: int
    focal_px: float
    video: str
    frame_offset: int
    start_frame: int
    trajectory: CameraTrajectory | None = None


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
    if request.trajectory is not None:
        animate_camera(cam_obj, request.trajectory, request.frame_offset)
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


def animate_camera(cam_obj: bpy.types.Object, trajectory: CameraTrajectory,
                   frame_offset: int = 0) -> bpy.types.Action:
    """Keys on every analysed frame (row i on scene frame i + 1 + offset, as
    :func:`.apply.clip_frames`): location and rotation quaternion of the solved camera."""
    quat, loc = camera_object_pose(trajectory)
    cam_obj.rotation_mode = "QUATERNION"
    cam_obj.rotation_quaternion = quat[0]
    cam_obj.location = loc[0]
    frames = np.arange(len(loc), dtype=np.float64) + 1 + frame_offset
    keys = [ChannelKeys("location", loc.astype(np.float32), "Camera"),
            ChannelKeys("rotation_quaternion", quat.astype(np.float32), "Camera")]
    return new_action_with_keys(cam_obj, f"{CAMERA_NAME} solved path", frames, keys)


def _discard(cam_obj: bpy.types.Object, movies_before: set[str]) -> None:
    """Remove a camera made by :func:`setup_camera` and a movie clip it loaded anew."""
    data = cam_obj.data
    action = cam_obj.animation_data.action if cam_obj.animation_data else None
    bpy.data.objects.remove(cam_obj)
    if data.users == 0:
        bpy.data.cameras.remove(data)
    if action is not None and action.users == 0:
        bpy.data.actions.remove(action)
    for movie in [m for m in bpy.data.movieclips if m.name not in movies_before]:
        if movie.users == 0:
            bpy.data.movieclips.remove(movie)


def setup_camera_as_filmed(
    scene: bpy.types.Scene, request: CameraRequest, motion: ApplyRequest
) -> tuple[bpy.types.Object, list[bpy.types.Object]]:
    """:func:`setup_camera`, then the clip's rigs placed "At Origin" re-applied as filmed
    (:func:`.apply_clip.place_as_filmed`), so the camera view shows every person over the
    video. All or nothing: returns (camera, rigs moved)."""
    movies_before = {m.name for m in bpy.data.movieclips}
    render = scene.render
    before = (scene.camera, render.resolution_x, render.resolution_y, render.resolution_percentage)
    cam = setup_camera(scene, request)
    try:
        moved = place_as_filmed(scene, motion,
                                "world" if request.trajectory is not None else "camera")
    except Exception:
        scene.camera = before[0]
        render.resolution_x, render.resolution_y, render.resolution_percentage = before[1:]
        _discard(cam, movies_before)
        raise
    return cam, moved
