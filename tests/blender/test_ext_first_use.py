"""What a first-time user meets, in real Blender through the installed extension and the real
server: a video of real people (bus.jpg, see tests/photos.py), NO model files at all (so the
analysis falls back to the lite backend and no SMPL file gives rigs a body), default
settings everywhere.

Checked: the fallback notice, backend and detector reach the panel's state and the report;
Apply + Set Up Camera with defaults show every rig over its person in the camera view;
new rigs get a skinned stand-in body that a Workbench render from that camera shows inside
the people's boxes; the frame range is the union of the people applied; Re-apply updates
every rig made from the clip (an SMPL rig and an existing armature) in one operator call,
which one undo step takes back.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from assimp_fbx import read_fbx
from bpy_extras.object_utils import world_to_camera_view
from ext_support import fcurves_of, installed_extension, mixamo_armature, prefs, use_server
from photos import bus_photo_path, write_bus_video

from glot_blender.blender.clip_to_fbx import MIN_MEAN_CONFIDENCE
from glot_blender.core.motion_clip import MotionClip, TrackMotion, read_clip
from glot_blender.core.smpl_skeleton import JOINT_NAMES

pytest.importorskip("mediapipe")

RENDER_SCALE_PERCENT = 50
#: share of a person's box the stand-in body covers at least in the render
MIN_BOX_COVER = 0.04


@contextmanager
def printed() -> Iterator[io.StringIO]:
    """The reports of operators called inside the block: headless Blender writes them to
    Python's ``sys.stdout`` (``Info: ...``, ``Warning: ...``)."""
    out = io.StringIO()
    with redirect_stdout(out):
        yield out


@pytest.fixture(autouse=True)
def clean_blender() -> Iterator[object]:
    """An empty file per test; the add-on stays enabled (see test_ext_flow)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield from installed_extension(tmp_path_factory)


@pytest.fixture(scope="module")
def first_analysis(ext, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Analyze with default settings, an empty models folder and no user models folder."""
    folder = tmp_path_factory.mktemp("first-use")
    video = write_bus_video(bus_photo_path(), folder / "bus.mp4")
    models = folder / "models"
    models.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GLOT_MODELS_DIR", raising=False)
        mp.setenv("XDG_DATA_HOME", str(folder / "data"))
        mp.setenv("HOME", str(folder / "home"))
        bpy.ops.wm.read_homefile(use_empty=True)
        use_server(models)
        settings = bpy.context.scene.glot
        settings.video_source = "FILE"
        settings.video_path = str(video)
        with printed() as out:  # headless Blender prints the operator's reports
            result = bpy.ops.glot.analyze()
        bpy.ops.glot.stop_server()  # the next server starts without the patched environment
    return {
        "result": result,
        "clip": Path(settings.clip_path),
        "video": video,
        "backend": settings.analysis_backend,
        "detector": settings.analysis_detector,
        "notices": settings.analysis_notices,
        "message": bpy.context.window_manager.glot_job.last_message,
        "models": models,
        "reports": out.getvalue(),
    }


@pytest.fixture
def loaded(first_analysis) -> MotionClip:
    """The clip loaded in a fresh file with the video chosen, as after Analyze."""
    prefs().models_dir = str(first_analysis["models"])
    assert bpy.ops.glot.load_clip(filepath=str(first_analysis["clip"])) == {"FINISHED"}
    settings = bpy.context.scene.glot
    settings.video_source = "FILE"
    settings.video_path = str(first_analysis["video"])
    return read_clip(first_analysis["clip"])


def seen(clip: MotionClip) -> list[TrackMotion]:
    """People the pose model saw (the others are false detections or hidden throughout)."""
    return [t for t in clip.tracks if float(t.confidence.mean()) >= MIN_MEAN_CONFIDENCE]


def rig_of(track_id: int) -> bpy.types.Object:
    return next(o for o in bpy.data.objects
                if o.type == "ARMATURE" and o.get("glot_track_id") == track_id)


def scene_frame(clip: MotionClip, video_frame: int) -> int:
    """The scene frame of a video frame with the default offset (first analysed frame = 1)."""
    return (video_frame - clip.start_frame) // max(clip.frame_step, 1) + 1


def pixel_of(point) -> np.ndarray:
    """A world point in the scene camera's image, in video pixels (x right, y down)."""
    scene = bpy.context.scene
    ndc = world_to_camera_view(scene, scene.camera, point)
    w, h = scene.render.resolution_x, scene.render.resolution_y
    return np.array([ndc.x * w, (1.0 - ndc.y) * h, ndc.z])


def inside(px: np.ndarray, bbox: np.ndarray, margin: float = 0.0) -> bool:
    cx, cy, w, h = bbox
    return abs(px[0] - cx) <= w / 2 + margin and abs(px[1] - cy) <= h / 2 + margin


# ------------------------------------------------------------------------------ tests


def test_lite_fallback_notice_backend_and_detector_reach_the_panel(first_analysis):
    assert first_analysis["result"] == {"FINISHED"}
    detector = first_analysis["detector"]
    assert first_analysis["backend"] == "lite" and "hog" in detector  # no YOLOv3 files
    notice = first_analysis["notices"]
    assert "GLoT model files are missing" in notice and "lite backend was used" in notice
    said = f"(lite backend, {detector} detector)"
    assert first_analysis["message"].startswith("Found ") and said in first_analysis["message"]
    reports = first_analysis["reports"]  # the status bar / Info log
    assert said in reports and "GLoT model files are missing" in reports


def test_loading_a_clip_says_which_backend_made_it(ext, first_analysis, loaded):
    settings = bpy.context.scene.glot
    assert settings.analysis_backend == "lite" and settings.analysis_notices == ""


def test_default_apply_and_camera_show_each_rig_over_its_person(ext, loaded):
    """Defaults (Placement In the World for a clip with a camera solve, with Set Up Camera
    flying the solved path; As Filmed otherwise), Apply then Set Up Camera: on every frame
    where the person was detected, the rig's pelvis projects inside the person's box."""
    assert loaded.has_world
    assert bpy.context.scene.glot.root_placement == "world"
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    assert bpy.ops.glot.setup_camera() == {"FINISHED"}
    scene, people = bpy.context.scene, seen(loaded)
    assert people
    for track in people:
        rig = rig_of(track.track_id)
        for row in np.nonzero(~track.filled)[0]:
            scene.frame_set(scene_frame(loaded, int(track.frame_ids[row])))
            px = pixel_of(rig.matrix_world @ rig.pose.bones["pelvis"].head)
            assert px[2] > 0 and inside(px, track.bbox[row]), (track.track_id, row, px)


def test_set_up_camera_moves_rigs_placed_at_origin_as_filmed(ext, loaded):
    settings = bpy.context.scene.glot
    settings.root_placement = "origin"
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    track = seen(loaded)[0]
    rig = rig_of(track.track_id)
    bpy.context.scene.frame_set(1)
    assert bpy.ops.glot.setup_camera() == {"FINISHED"}
    assert settings.root_placement == "camera" and rig["glot_placement"] == "camera"
    row = int(np.nonzero(~track.filled)[0][0])
    bpy.context.scene.frame_set(scene_frame(loaded, int(track.frame_ids[row])))
    px = pixel_of(rig.matrix_world @ rig.pose.bones["pelvis"].head)
    assert inside(px, track.bbox[row]), px


def test_without_smpl_file_rigs_get_a_stand_in_body_that_renders(ext, loaded, tmp_path):
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    assert bpy.ops.glot.setup_camera() == {"FINISHED"}
    settings = bpy.context.scene.glot
    assert settings.body_made.startswith("stand-in body")
    people = seen(loaded)
    for track in people:
        rig = rig_of(track.track_id)
        bodies = [c for c in rig.children if c.type == "MESH"]
        assert len(bodies) == 1 and rig["glot_body"] == "stand-in"
        body = bodies[0]
        assert body.modifiers[0].type == "ARMATURE" and body.modifiers[0].object == rig
        weighted = {body.vertex_groups[g.group].name for v in body.data.vertices for g in v.groups
                    if g.weight > 0}
        assert weighted == set(JOINT_NAMES)
    # the middle frame, where everyone seen is detected if anyone is
    frame_rows = {t.track_id: {int(f): r for r, f in enumerate(t.frame_ids)} for t in people}
    video_frame = int(np.median(people[0].frame_ids))
    scene = bpy.context.scene
    scene.frame_set(scene_frame(loaded, video_frame))
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.film_transparent = True
    scene.render.resolution_percentage = RENDER_SCALE_PERCENT
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.filepath = str(tmp_path / "view.png")
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(tmp_path / "view.png"))
    w, h = image.size
    alpha = np.array(image.pixels[:]).reshape(h, w, 4)[::-1, :, 3]  # rows top-down
    drawn = alpha > 0.5
    scale = RENDER_SCALE_PERCENT / 100
    for track in people:
        row = frame_rows[track.track_id].get(video_frame)
        if row is None or track.filled[row]:
            continue
        cx, cy, bw, bh = track.bbox[row] * scale
        box = drawn[int(max(cy - bh / 2, 0)):int(cy + bh / 2), int(max(cx - bw / 2, 0)):int(cx + bw / 2)]
        assert box.mean() > MIN_BOX_COVER, (track.track_id, float(box.mean()))


def test_frame_range_is_the_union_of_the_people_applied(ext, loaded):
    assert len(loaded.tracks) >= 2, "the video shows several people"
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    first = min(scene_frame(loaded, int(t.frame_ids[0])) for t in loaded.tracks)
    last = max(scene_frame(loaded, int(t.frame_ids[-1])) for t in loaded.tracks)
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (first, last)
    ranges = {(scene_frame(loaded, int(t.frame_ids[0])), scene_frame(loaded, int(t.frame_ids[-1])))
              for t in loaded.tracks}
    assert len(ranges) > 1 or (first, last) in ranges  # people seen over different frames


def knee_keys(obj, bone: str) -> np.ndarray:
    fc = next(f for f in fcurves_of(obj) if f'"{bone}"' in f.data_path
              and "quaternion" in f.data_path)
    values = np.empty(len(fc.keyframe_points) * 2)
    fc.keyframe_points.foreach_get("co", values)
    return values[1::2]


def two_targets(clip: MotionClip) -> tuple[bpy.types.Object, bpy.types.Object, int]:
    """Person A on a new SMPL rig, then person A again on a Mixamo-named armature."""
    settings = bpy.context.scene.glot
    person = seen(clip)[0].track_id
    settings.smoothing = 0.0
    for item in settings.tracks:
        item.use = item.track_id == person
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    smpl = rig_of(person)
    character = mixamo_armature()
    settings.target = "ARMATURE"
    settings.target_armature = character
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    return smpl, character, person


def test_reapply_updates_every_rig_made_from_the_clip(ext, loaded):
    smpl, character, person = two_targets(loaded)
    assert character["glot_track_id"] == person and character["glot_target"] == "ARMATURE"
    before = (knee_keys(smpl, "left_knee"), knee_keys(character, "mixamorig:LeftLeg"))
    actions = (smpl.animation_data.action, character.animation_data.action)
    settings = bpy.context.scene.glot
    settings.smoothing = 1.0
    settings.target = "NEW_SMPL"  # the panel's target no longer matters to Re-apply
    assert bpy.ops.glot.reapply_motion() == {"FINISHED"}
    after = (knee_keys(smpl, "left_knee"), knee_keys(character, "mixamorig:LeftLeg"))
    for old, new in zip(before, after):
        assert old.shape == new.shape
        assert np.abs(np.diff(new, 2)).mean() < np.abs(np.diff(old, 2)).mean()
    assert smpl.animation_data.action is not actions[0]
    assert character.animation_data.action is not actions[1]
    assert len(bpy.data.actions) == 2  # the replaced actions are gone


def undo_state() -> dict:
    """Everything an operator of the add-on may create or change."""
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "meshes": sorted(m.name for m in bpy.data.meshes),
        "actions": sorted(a.name for a in bpy.data.actions),
        "cameras": sorted(c.name for c in bpy.data.cameras),
        "materials": sorted(m.name for m in bpy.data.materials),
        "range": (scene.frame_start, scene.frame_end),
        "camera": scene.camera.name if scene.camera else None,
        "placement": scene.glot.root_placement,
        "clip": scene.glot.clip_path,
        "people": [(t.track_id, t.use) for t in scene.glot.tracks],
        "rig_actions": sorted((o.name, o.animation_data.action.name) for o in bpy.data.objects
                              if o.animation_data and o.animation_data.action),
    }


#: operators that change the .blend (one undo step each) and those that do not
SCENE_CHANGING = {"analyze", "load_clip", "detect_bone_map", "apply_motion", "reapply_motion",
                  "setup_camera", "open_log"}
NOT_SCENE_CHANGING = {"cancel_analysis", "export_fbx", "export_bvh", "restart_server",
                      "stop_server", "detect_python", "create_env"}


def test_operators_that_change_the_scene_are_undo_steps(ext):
    registered = {name.removeprefix("GLOT_OT_"): getattr(bpy.types, name)
                  for name in dir(bpy.types) if name.startswith("GLOT_OT_")}
    assert set(registered) == SCENE_CHANGING | NOT_SCENE_CHANGING
    for name, cls in registered.items():
        assert ("UNDO" in cls.bl_options) == (name in SCENE_CHANGING), name


@pytest.mark.parametrize("operator", ["load_clip", "apply_motion", "setup_camera", "reapply_motion"])
def test_one_operator_call_is_one_undo_step(ext, loaded, first_analysis, operator):
    """Blender pushes one undo step after an operator with UNDO (not headless: done here by
    hand around the call, as ``wm_operator_finished`` does); undoing it must give back
    exactly the state before the call, so everything the operator made was made inside that
    one call, and redo must give back the state after it."""
    settings = bpy.context.scene.glot
    settings.root_placement = "origin"
    kwargs = {}
    if operator == "load_clip":
        for item in settings.tracks:
            item.use = False
        kwargs = {"filepath": str(first_analysis["clip"])}
    elif operator != "apply_motion":
        assert bpy.ops.glot.apply_motion() == {"FINISHED"}
        settings.smoothing = 0.9
    bpy.ops.ed.undo_push(message="before")
    before = undo_state()
    assert getattr(bpy.ops.glot, operator)(**kwargs) == {"FINISHED"}
    bpy.ops.ed.undo_push(message=operator)
    after = undo_state()
    assert after != before
    bpy.ops.ed.undo()
    assert undo_state() == before
    bpy.ops.ed.redo()
    assert undo_state() == after


def test_set_up_camera_that_fails_leaves_the_scene_as_it_was(ext, loaded):
    """A rig whose person the clip lacks cannot be re-placed: no camera, no movie clip, no
    change of render size, placement or motion."""
    bpy.context.scene.glot.root_placement = "origin"
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    rig_of(seen(loaded)[0].track_id)["glot_track_id"] = 999
    before = undo_state(), sorted(m.name for m in bpy.data.movieclips)
    render = bpy.context.scene.render
    size = (render.resolution_x, render.resolution_y)
    with pytest.raises(RuntimeError, match="no person 999"):
        bpy.ops.glot.setup_camera()
    assert (undo_state(), sorted(m.name for m in bpy.data.movieclips)) == before
    assert (render.resolution_x, render.resolution_y) == size


def test_export_of_several_rigs_gives_one_fbx_per_person(ext, loaded, tmp_path):
    """Export FBX with every rig selected: NAME_P<id>.fbx each, which assimp (an independent
    reader) reads as 24 animated bones with a key on every frame; All in One File keeps the
    people apart by prefixing their bones."""
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    rigs = sorted((o for o in bpy.data.objects if o.type == "ARMATURE"), key=lambda o: o.name)
    for obj in bpy.data.objects:
        obj.select_set(obj in rigs)
    bpy.context.view_layer.objects.active = rigs[0]
    before = undo_state()
    assert bpy.ops.glot.export_fbx(filepath=str(tmp_path / "crowd.fbx")) == {"FINISHED"}
    assert undo_state() == before
    for track in loaded.tracks:
        channels = read_fbx(tmp_path / f"crowd_P{track.track_id}.fbx").animations[0]
        bones = [c for c in channels if c.node in JOINT_NAMES]
        assert len(bones) == len(JOINT_NAMES), [c.node for c in channels]
        assert {c.rotation_keys for c in bones} == {track.num_frames}
    assert not (tmp_path / "crowd.fbx").exists()
    one = tmp_path / "everyone.fbx"
    assert bpy.ops.glot.export_fbx(filepath=str(one), all_in_one=True) == {"FINISHED"}
    names = {c.node for c in read_fbx(one).animations[0]}
    want = {f"P{t.track_id}_{j}" for t in loaded.tracks for j in JOINT_NAMES}
    assert want <= names and not names & set(JOINT_NAMES)
    assert [b.name for b in rigs[0].data.bones if b.name.startswith("P")] == []  # names back
