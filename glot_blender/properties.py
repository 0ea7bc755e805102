"""Add-on state: ``Scene.glot`` (saved with the .blend, one undo step per change) and
``WindowManager.glot_job`` (live job and set-up progress: never saved, never part of undo,
so a failed or cancelled analysis leaves the scene untouched)."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import PropertyGroup

VIDEO_SOURCES = (
    ("FILE", "Video File", "Analyse a video file from disk"),
    ("MOVIE_CLIP", "Movie Clip", "Analyse the file of a movie clip loaded in this .blend"),
)
BACKENDS = (
    ("auto", "Auto", "GLoT when its model files are present, otherwise the lite backend"),
    ("glot", "GLoT", "GLoT (CVPR 2023) with SPIN features: best quality, needs the model files"),
    ("lite", "Lite", "MediaPipe BlazePose + inverse kinematics: no model files, lower quality"),
)
DETECTORS = (
    ("auto", "Auto", "YOLOv3 when its files are present, otherwise BlazePose's person detector "
     "together with OpenCV's HOG (no download), otherwise HOG"),
    ("blazepose", "BlazePose", "MediaPipe's BlazePose person detector from the mediapipe wheel: "
     "people in any pose, no files to fetch"),
    ("yolo", "YOLOv3", "Darknet YOLOv3 (needs yolov3.cfg and yolov3.weights)"),
    ("hog", "HOG", "OpenCV's built-in HOG people detector (upright walkers only, no files)"),
    ("onnx", "ONNX", "Your own person detector: person_detector.onnx in the models folder"),
)
TARGETS = (
    ("NEW_SMPL", "New SMPL Rig", "Create one SMPL armature per selected person"),
    ("ARMATURE", "Existing Armature", "Retarget onto an armature of this scene through a bone map"),
)


def _is_armature(_self: PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class GLOT_PG_track(PropertyGroup):
    """One person of the loaded motion clip."""

    track_id: IntProperty(name="Person", description="Person id in the motion clip")
    num_frames: IntProperty(name="Frames", description="Frames this person covers")
    first_frame: IntProperty(name="First Frame", description="Video frame where the person appears")
    filled_ratio: FloatProperty(
        name="Filled",
        description="Share of frames filled in across occlusion gaps",
        subtype="FACTOR",
    )
    use: BoolProperty(name="Use", description="Apply this person's motion", default=True)
    refined: EnumProperty(
        name="Refined",
        description="Whether the temporal solver refined this person's motion",
        items=(("OFF", "Off", "The solver did not run (Refine Motion was off)"),
               ("YES", "Refined", "The solver's motion: aligned with the video, steady"),
               ("NO", "Not refined", "The solver did not converge: the backend's motion")),
        default="OFF",
    )
    refine_error_px: FloatProperty(
        name="2D Error",
        description="The solver's final mean distance to the 2D keypoints, in pixels "
        "(negative: not measured)",
        default=-1.0,
    )


class GLOT_PG_bone_pair(PropertyGroup):
    """One line of the bone map: SMPL joint -> target bone ('' = unmapped, stays at rest)."""

    joint: StringProperty(name="SMPL Joint")
    bone: StringProperty(
        name="Target Bone", description="Bone of the target armature ('' = unmapped)"
    )


class GLOT_PG_scene(PropertyGroup):
    """Everything the Mocap panel edits (``Scene.glot``)."""

    video_source: EnumProperty(name="Source", items=VIDEO_SOURCES, default="FILE")
    video_path: StringProperty(name="Video", subtype="FILE_PATH", description="Video to analyse")
    movie_clip: PointerProperty(name="Movie Clip", type=bpy.types.MovieClip)
    use_frame_range: BoolProperty(name="Frame Range", description="Analyse only part of the video")
    frame_start: IntProperty(
        name="Start", min=0, default=0, description="First video frame (0-based)"
    )
    frame_end: IntProperty(
        name="End", min=1, default=250, description="Frame after the last one (exclusive)"
    )
    backend: EnumProperty(name="Backend", items=BACKENDS, default="auto")
    detector: EnumProperty(name="Detector", items=DETECTORS, default="auto")
    refine: BoolProperty(
        name="Refine Motion",
        description="Optimise each person's whole motion against the video's 2D keypoints: "
        "the body lines up with the person, holds still when they do, feet stay planted "
        "(off: the pose model's raw output)",
        default=True,
    )

    clip_path: StringProperty(
        name="Motion Clip", subtype="FILE_PATH", description="The loaded motion clip (.npz)"
    )
    analysis_backend: StringProperty(
        name="Backend Used", description="Pose backend that made the loaded motion clip"
    )
    analysis_detector: StringProperty(
        name="Detector Used", description="Person detector used for the loaded motion clip"
    )
    analysis_notices: StringProperty(
        name="Notices",
        description="What the analysis said about how it ran (one notice per line), such as a "
        "fallback to the lite backend because model files are missing",
    )
    tracks: CollectionProperty(type=GLOT_PG_track)
    tracks_index: IntProperty(name="Active Person")

    target: EnumProperty(name="Target", items=TARGETS, default="NEW_SMPL")
    target_armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)
    bone_map_preset: StringProperty(
        name="Bone Map", description="Bone-map preset of the target armature"
    )
    bone_map: CollectionProperty(type=GLOT_PG_bone_pair)
    bone_map_index: IntProperty(name="Active Bone Pair")

    body_mesh: BoolProperty(
        name="Body Mesh",
        default=True,
        description="Give new SMPL rigs a visible body: the skinned SMPL mesh when the SMPL "
        "model file is in the models folder, otherwise a stand-in of capsules sized to the person",
    )
    body_made: StringProperty(
        name="Body Made", description="The body the last Apply gave its new SMPL rigs"
    )
    smoothing: FloatProperty(
        name="Smoothing",
        min=0.0,
        max=1.0,
        default=0.5,
        subtype="FACTOR",
        description="0 keeps every jitter, 1 smooths the most (re-apply to change)",
    )
    foot_lock: BoolProperty(
        name="Foot Lock", description="Remove foot sliding during ground contact"
    )
    root_motion: BoolProperty(
        name="Root Motion",
        default=True,
        description="Move the character through space (off: in place)",
    )
    root_placement: EnumProperty(
        name="Placement",
        items=(
            (
                "origin",
                "At Origin",
                (
                    "The motion starts at the rig's rest position (Set Up Camera moves such "
                    "rigs to As Filmed, where the camera sees them)"
                ),
            ),
            (
                "camera",
                "As Filmed",
                (
                    "Where the person was seen from the video camera, which Set Up Camera adds "
                    "at the world origin: the camera view shows each rig over its person"
                ),
            ),
            (
                "world",
                "In the World",
                (
                    "Everyone on one floor, walking where they walked, the camera's own motion "
                    "removed (clips with a camera solve; the default for them): Set Up Camera "
                    "flies the camera along the solved path over the video"
                ),
            ),
        ),
        default="camera",
    )
    frame_offset: IntProperty(
        name="Frame Offset",
        default=0,
        description="Frames added to every key (0: the first analysed frame lands on frame 1)",
    )
    export_preset: StringProperty(name="Export Preset", default="unity")


class GLOT_PG_job(PropertyGroup):
    """Live progress (``WindowManager.glot_job``): analysis and environment set-up."""

    running: BoolProperty(name="Running")
    stage: StringProperty(name="Stage")
    fraction: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    last_message: StringProperty(name="Last Message")
    env_running: BoolProperty(name="Setting Up")
    env_fraction: FloatProperty(name="Set-up Progress", min=0.0, max=1.0, subtype="FACTOR")
    env_stage: StringProperty(name="Set-up Stage")
    env_log: StringProperty(name="Set-up Log")


CLASSES = (GLOT_PG_track, GLOT_PG_bone_pair, GLOT_PG_scene, GLOT_PG_job)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.glot = PointerProperty(type=GLOT_PG_scene)
    bpy.types.WindowManager.glot_job = PointerProperty(type=GLOT_PG_job)


def unregister() -> None:
    del bpy.types.WindowManager.glot_job
    del bpy.types.Scene.glot
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
