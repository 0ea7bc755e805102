"""The one function behind each operator (bpy): operators gather options into a frozen
dataclass, call one of these, and turn :class:`TaskError` into ``self.report``.

Every function here checks everything it can before it touches the scene, so a failure
leaves the scene as it was.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..core.motion_clip import MotionClip, MotionClipError, read_clip
from .runtime import AnalysisRequest, ServerConfig, server_source_dir

CLIPS_FOLDER = "clips"
LOG_FILE = "server.log"
TRACK_ID_PROP = "glot_track_id"
CLIP_PROP = "glot_clip"
CAMERA_NAME = "GLoT Camera"
#: official SMPL model file names, as in inference_server/registry.py
SMPL_PICKLE_NAMES = ("SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
DEFAULT_SENSOR_MM = 36.0
#: field of view assumed when the clip carries no focal length (GLoT demo's 5000 px is for crops)
FALLBACK_FOV_DEG = 55.0


class TaskError(Exception):
    """A user-facing failure: ``str(err)`` is one sentence that says what to do."""


def user_folder(addon_id: str, name: str) -> Path:
    """A per-user folder of the extension (Blender 4.2+), else one in the temp folder."""
    try:
        return Path(bpy.utils.extension_path_user(addon_id, path=name, create=True))
    except (ValueError, AttributeError, RuntimeError):
        folder = Path(tempfile.gettempdir()) / "glot-mocap" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


# ----------------------------------------------------------------------------- analysis


def video_path_of(context: bpy.types.Context) -> Path:
    """The video chosen in the panel (file, picked movie clip, or the scene's active clip)."""
    settings = context.scene.glot
    if settings.video_source == "MOVIE_CLIP":
        clip = settings.movie_clip or context.scene.active_clip
        if clip is None:
            raise TaskError(
                "No movie clip chosen: pick one in the Mocap panel or open a clip in the Movie Clip Editor"
            )
        raw = clip.filepath
    else:
        raw = settings.video_path
    if not raw:
        raise TaskError("No video chosen: pick a video file in the Mocap panel")
    path = Path(bpy.path.abspath(raw))
    if not path.is_file():
        raise TaskError(f"Video file not found: {path}; check the path in the Mocap panel")
    return path


def analysis_request(
    context: bpy.types.Context, prefs: bpy.types.AddonPreferences, addon_id: str
) -> AnalysisRequest:
    settings = context.scene.glot
    start = end = None
    if settings.use_frame_range:
        start, end = int(settings.frame_start), int(settings.frame_end)
        if end <= start:
            raise TaskError(
                f"Frame range End ({end}) must be after Start ({start}); End is exclusive"
            )
    fov = float(prefs.default_fov_deg)
    return AnalysisRequest(
        video=str(video_path_of(context)),
        output_dir=str(user_folder(addon_id, CLIPS_FOLDER)),
        start=start,
        end=end,
        backend=settings.backend,
        detector=settings.detector,
        device=prefs.device or "auto",  # a GPU item vanishes while the server is stopped
        fov_deg=fov if fov > 0 else None,
    )


def server_config(prefs: bpy.types.AddonPreferences, addon_id: str) -> ServerConfig:
    """Server settings from the preferences; finds a usable Python when none is set."""
    python = bpy.path.abspath(prefs.server_python) if prefs.server_python else ""
    if not python:
        from ..client import pick_server_python

        found = pick_server_python(server_source_dir(), bpy.path.abspath(prefs.env_dir) or None)
        if found is None:
            raise TaskError(
                "No Python with the inference server was found: open Preferences > Add-ons > "
                "GLoT Mocap and press Create Environment (or set Server Python)"
            )
        python = found.path
        prefs.server_python = python
    models = bpy.path.abspath(prefs.models_dir) if prefs.models_dir else ""
    return ServerConfig(
        python_exe=python,
        models_dir=models.rstrip("/\\") if models else "",
        threads=int(prefs.server_threads),
        log_path=str(user_folder(addon_id, "logs") / LOG_FILE),
    )


def load_clip_into_scene(
    scene: bpy.types.Scene, path: str | os.PathLike[str], smoothing: float | None = None
) -> MotionClip:
    """Read and validate a motion clip, then list its people in ``scene.glot``."""
    try:
        clip = read_clip(path)
    except MotionClipError as exc:
        raise TaskError(f"Cannot load the motion clip: {exc}") from exc
    if not clip.tracks:
        raise TaskError(
            f"The motion clip {Path(path).name} holds no person: analyse another video or range"
        )
    settings = scene.glot
    settings.clip_path = str(Path(path).resolve())
    settings.tracks.clear()
    for track in clip.tracks:
        item = settings.tracks.add()
        item.track_id = track.track_id
        item.num_frames = track.num_frames
        item.first_frame = int(track.frame_ids[0])
        item.filled_ratio = track.filled_ratio
        item.use = True
    settings.tracks_index = 0
    if smoothing is not None:
        settings.smoothing = smoothing
    return clip


def loaded_clip(scene: bpy.types.Scene) -> MotionClip:
    path = scene.glot.clip_path
    if not path:
        raise TaskError("No motion clip loaded: press Analyze or Load Clip first")
    try:
        return read_clip(path)
    except MotionClipError as exc:
        raise TaskError(
            f"Cannot read the loaded motion clip ({exc}); analyse the video again"
        ) from exc


# ----------------------------------------------------------------------------- camera


@dataclass(frozen=True)
class CameraRequest:
    """A camera matching the analysed video: size in px, focal length in px, the video file."""

    width: int
    height: int
    focal_px: float
    video: str
    frame_offset: int
    start_frame: int


def camera_request(context: bpy.types.Context) -> CameraRequest:
    clip = loaded_clip(context.scene)
    try:
        video = str(video_path_of(context))
    except TaskError:
        video = ""
    return CameraRequest(
        width=clip.width,
        height=clip.height,
        focal_px=float(clip.focal_px),
        video=video,
        frame_offset=int(context.scene.glot.frame_offset),
        start_frame=int(clip.start_frame),
    )


def focal_mm(focal_px: float, width: int, sensor_mm: float = DEFAULT_SENSOR_MM) -> float:
    """Lens in mm for a sensor ``sensor_mm`` wide (sensor fit horizontal)."""
    if focal_px <= 0:
        focal_px = 0.5 * width / math.tan(math.radians(FALLBACK_FOV_DEG) / 2)
    return focal_px * sensor_mm / width


def setup_camera(scene: bpy.types.Scene, request: CameraRequest) -> bpy.types.Object:
    """Camera at the origin looking along +Y (the video camera in Blender's frame), lens and
    render size of the video, the video as its background (a movie clip)."""
    if request.width <= 0 or request.height <= 0:
        raise TaskError("The motion clip has no video size: re-run the analysis with this version")
    movie = None
    if request.video:
        try:
            movie = bpy.data.movieclips.load(request.video, check_existing=True)
        except RuntimeError as exc:
            raise TaskError(
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
        movie.frame_start = (
            1 + request.frame_offset - request.start_frame
        )  # as blender.apply.clip_frames
        cam_data.show_background_images = True
        bg = cam_data.background_images.new()
        bg.source = "MOVIE_CLIP"
        bg.clip = movie
        bg.alpha = 1.0
    return cam_obj


# ----------------------------------------------------------------------------- motion


@dataclass(frozen=True)
class ApplyRequest:
    """Put people of the loaded clip onto armatures.

    target: "NEW_SMPL" (one SMPL rig per person, reused by a re-apply) or "ARMATURE" (the
    armature named ``armature`` through ``bone_map``: (SMPL joint, target bone) pairs, ''
    bone = unmapped); smoothing 0..1 (0 = off); frame_offset added to every key's frame
    (0: the first analysed frame lands on scene frame 1); smpl_pickle: an SMPL model file
    to give each new SMPL rig a skinned body mesh ('' = rigs only).
    """

    clip_path: str
    track_ids: tuple[int, ...]
    target: str = "NEW_SMPL"
    armature: str = ""
    bone_map: tuple[tuple[str, str], ...] = ()
    smoothing: float = 0.5
    foot_lock: bool = False
    root_motion: bool = True
    root_placement: str = "origin"
    frame_offset: int = 0
    smpl_pickle: str = ""


def find_smpl_pickle(search_dirs: list[Path]) -> str:
    """The SMPL model file (official names) in the models folders, '' when there is none."""
    for folder in search_dirs:
        for name in SMPL_PICKLE_NAMES:
            if (folder / name).is_file():
                return str(folder / name)
    return ""


def apply_request(context: bpy.types.Context, search_dirs: list[Path] = ()) -> ApplyRequest:
    """search_dirs: model folders where an SMPL file gives new rigs a body mesh."""
    settings = context.scene.glot
    if not settings.clip_path:
        raise TaskError("No motion clip loaded: press Analyze or Load Clip first")
    ids = tuple(t.track_id for t in settings.tracks if t.use)
    if not ids:
        raise TaskError("No person selected: tick at least one person in the list")
    armature = settings.target_armature.name if settings.target_armature else ""
    if settings.target == "ARMATURE":
        if not armature:
            raise TaskError(
                "No target armature chosen: pick one in the Mocap panel or use New SMPL Rig"
            )
        if len(ids) > 1:
            raise TaskError("An existing armature takes one person: tick only one in the list")
    return ApplyRequest(
        clip_path=settings.clip_path,
        track_ids=ids,
        target=settings.target,
        armature=armature,
        bone_map=tuple((p.joint, p.bone) for p in settings.bone_map if p.bone),
        smoothing=float(settings.smoothing),
        foot_lock=bool(settings.foot_lock),
        root_motion=bool(settings.root_motion),
        root_placement=settings.root_placement,
        frame_offset=int(settings.frame_offset),
        smpl_pickle=find_smpl_pickle(list(search_dirs)) if settings.body_mesh else "",
    )


def _apply_options(request: ApplyRequest, bone_map: dict[str, str | list[str]] | None):
    """ApplyOptions without smoothing: :func:`prepared_clip` smooths (and locks feet) first."""
    from ..blender.apply import ApplyOptions

    return ApplyOptions(
        bone_map=bone_map,
        root_motion=request.root_motion,
        root_placement=request.root_placement,
        frame_offset=request.frame_offset,
        smoothing=None,
    )


def prepared_clip(clip: MotionClip, request: ApplyRequest) -> MotionClip:
    """The clip with the requested people smoothed, then foot-locked (the file is unchanged).

    Order matters: locking after smoothing keeps planted feet still in the final motion.
    """
    import dataclasses

    from ..core.foot_contact import lock_track_feet
    from ..core.smoothing import SmoothingOptions, smooth_track

    tracks = []
    for track in clip.tracks:
        if track.track_id in request.track_ids:
            if request.smoothing > 0:
                track = smooth_track(track, clip.fps, SmoothingOptions(strength=request.smoothing))
            if request.foot_lock:
                track, _contacts = lock_track_feet(track, clip.fps)
        tracks.append(track)
    return dataclasses.replace(clip, tracks=tracks)


def rigs_of_clip(scene: bpy.types.Scene, clip_path: str) -> dict[int, bpy.types.Object]:
    """SMPL rigs made by earlier applies of this clip, by person id."""
    rigs = {}
    for obj in scene.objects:
        if obj.type == "ARMATURE" and obj.get(CLIP_PROP) == clip_path and TRACK_ID_PROP in obj:
            rigs[int(obj[TRACK_ID_PROP])] = obj
    return rigs


@dataclass
class _Applied:
    obj: bpy.types.Object
    created: bool
    previous_action: object
    new_action: object = None
    mesh: bpy.types.Object | None = None


def _rollback(done: list[_Applied]) -> None:
    for item in reversed(done):
        if item.mesh is not None:
            mesh_data = item.mesh.data
            bpy.data.objects.remove(item.mesh)
            if mesh_data.users == 0:
                bpy.data.meshes.remove(mesh_data)
        if item.created:
            data = item.obj.data
            bpy.data.objects.remove(item.obj)
            if data.users == 0:
                bpy.data.armatures.remove(data)
        elif item.obj.animation_data is not None:
            item.obj.animation_data.action = item.previous_action
        if item.new_action is not None and item.new_action.users == 0:
            bpy.data.actions.remove(item.new_action)


def _body_mesh(armature: bpy.types.Object, smpl_pickle: str, betas) -> bpy.types.Object:
    """The skinned SMPL body for a new rig (mean shape of the track)."""
    from ..blender.armature import create_smpl_mesh

    try:
        return create_smpl_mesh(
            armature, smpl_pickle, betas.mean(axis=0), name=f"{armature.name} body"
        )
    except (OSError, ValueError, KeyError) as exc:
        raise TaskError(
            f"The SMPL model file {smpl_pickle} cannot be used ({exc}); replace it with the "
            "official file or untick Body Mesh"
        ) from exc


def apply_motion(
    scene: bpy.types.Scene, request: ApplyRequest, reuse_rigs: bool = False
) -> list[bpy.types.Object]:
    """Apply each requested person; all or nothing (a failure removes what was made).

    reuse_rigs: put the motion again on the SMPL rigs made earlier for these people
    (Re-apply); actions they leave without users are removed.
    """
    from ..blender.apply import apply_track
    from ..blender.armature import create_smpl_armature
    from ..blender.errors import AnimError

    clip = loaded_clip_at(request.clip_path)
    missing = [i for i in request.track_ids if i not in clip.track_ids]
    if missing:
        raise TaskError(f"The motion clip has no person {missing[0]}; load the clip again")
    clip = prepared_clip(clip, request)
    targets: list[tuple[int, bpy.types.Object | None]] = []
    if request.target == "ARMATURE":
        obj = scene.objects.get(request.armature)
        if obj is None or obj.type != "ARMATURE":
            raise TaskError(
                f"'{request.armature}' is not an armature of this scene: pick another target"
            )
        targets = [(request.track_ids[0], obj)]
    else:
        rigs = rigs_of_clip(scene, request.clip_path) if reuse_rigs else {}
        targets = [(i, rigs.get(i)) for i in request.track_ids]
        if reuse_rigs and not any(obj for _i, obj in targets):
            raise TaskError("No rig made from this clip is in the scene: press Apply first")
    bone_map = None
    if request.target == "ARMATURE":
        bone_map = bone_map_from_pairs(request.bone_map) or auto_bone_map(targets[0][1])
    options = _apply_options(request, bone_map)
    done: list[_Applied] = []
    try:
        for track_id, obj in targets:
            if obj is None:
                if reuse_rigs:
                    continue
                obj = create_smpl_armature(
                    clip.track(track_id).rest_joints,
                    name=f"SMPL person {track_id}",
                    collection=scene.collection,
                )
                obj[TRACK_ID_PROP] = track_id
                obj[CLIP_PROP] = request.clip_path
                item = _Applied(obj, True, None)
                done.append(item)
                if request.smpl_pickle:
                    item.mesh = _body_mesh(obj, request.smpl_pickle, clip.track(track_id).betas)
            else:
                anim = obj.animation_data
                item = _Applied(obj, False, anim.action if anim is not None else None)
                done.append(item)
            item.new_action = apply_track(obj, clip, track_id, options, scene=scene)
    except AnimError as exc:
        _rollback(done)
        raise TaskError(str(exc)[:1].upper() + str(exc)[1:]) from exc
    except Exception:
        _rollback(done)
        raise
    for item in done:
        old = item.previous_action
        if old is not None and old is not item.new_action and old.users == 0:
            bpy.data.actions.remove(old)
    return [item.obj for item in done]


def loaded_clip_at(path: str) -> MotionClip:
    try:
        return read_clip(path)
    except MotionClipError as exc:
        raise TaskError(f"Cannot read the motion clip ({exc}); analyse the video again") from exc


# ----------------------------------------------------------------------------- bone map


def fill_bone_map(scene: bpy.types.Scene) -> tuple[str, int]:
    """Detect the target armature's preset (name patterns as fallback) and list the map in
    ``scene.glot.bone_map``: all 24 SMPL joints, '' = unmapped, a chain as "a, b, c".
    Returns (preset key or "auto", number of joints mapped)."""
    from ..core import bone_maps
    from ..core.smpl_skeleton import JOINT_NAMES

    settings = scene.glot
    arm = settings.target_armature
    if arm is None or arm.type != "ARMATURE":
        raise TaskError("Choose a target armature first")
    try:
        result = bone_maps.resolve_bone_map([b.name for b in arm.data.bones])
    except bone_maps.PresetError as exc:
        raise TaskError(f"Cannot read the bone-map presets: {exc}") from exc
    if not result:
        raise TaskError(
            f"No bone of '{arm.name}' matches a known rig or name pattern: fill the map by hand"
        )
    settings.bone_map.clear()
    for joint in JOINT_NAMES:
        pair = settings.bone_map.add()
        pair.joint = joint
        pair.bone = bone_maps.as_text(result[joint]) if joint in result else ""
    settings.bone_map_preset = result.source.removeprefix("preset:")
    return settings.bone_map_preset, len(result)


def auto_bone_map(armature: bpy.types.Object) -> dict[str, str | list[str]]:
    """The detected preset's map (or the name-pattern map) when the user filled none."""
    from ..core import bone_maps

    try:
        return dict(bone_maps.resolve_bone_map([b.name for b in armature.data.bones]))
    except bone_maps.PresetError as exc:
        raise TaskError(f"Cannot read the bone-map presets: {exc}") from exc


def bone_map_from_pairs(pairs: tuple[tuple[str, str], ...]) -> dict[str, str | list[str]]:
    """The UI list's (joint, text) pairs as a bone map (a "a, b" text is a chain)."""
    from ..core.bone_maps import split_bones

    out: dict[str, str | list[str]] = {}
    for joint, text in pairs:
        bones = split_bones(text)
        if bones:
            out[joint] = bones[0] if len(bones) == 1 else list(bones)
    return out


# ----------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportRequest:
    """Export ``armature`` (with its action) to ``path`` as ``kind`` ("fbx" | "bvh")."""

    armature: str
    path: str
    kind: str
    preset: str = ""


def export_preset_items() -> tuple[tuple[str, str, str], ...]:
    """Enum items of the FBX presets of :mod:`..blender.export`."""
    from ..blender.export import preset_descriptions

    return tuple((name, name.title(), desc) for name, desc in preset_descriptions().items())


def export_request(
    context: bpy.types.Context, filepath: str, kind: str, preset: str
) -> ExportRequest:
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise TaskError("Select the armature to export (it must be the active object)")
    if not filepath:
        raise TaskError("No file chosen: pick where to save the export")
    anim = obj.animation_data
    if anim is None or anim.action is None:
        raise TaskError(f"Armature '{obj.name}' has no motion: press Apply Motion first")
    return ExportRequest(
        armature=obj.name, path=bpy.path.abspath(filepath), kind=kind, preset=preset
    )


def export_motion(request: ExportRequest) -> str:
    from ..blender import export
    from ..blender.errors import AnimError

    obj = bpy.data.objects.get(request.armature)
    if obj is None:
        raise TaskError(f"Armature '{request.armature}' no longer exists")
    try:
        if request.kind == "fbx":
            path = export.export_fbx(obj, request.path, request.preset)
        else:
            path = export.export_bvh(obj, request.path)
    except AnimError as exc:
        raise TaskError(str(exc)[:1].upper() + str(exc)[1:]) from exc
    return str(path or request.path)
