"""The whole user path in real Blender, headless, through the extension's operators.

The extension zip is built with ``python -m glot_blender.build``'s code, installed with
Blender's own extension API and enabled; the server is the real ``inference_server`` copy
bundled in the zip, run by this test's Python, on synthetic model files and a synthetic
video. Headless Blender has no window, so modal operators never run: ``glot.analyze`` is
driven the two ways the add-on supports without a window -- blocking (EXEC, the default)
and ``wait=False`` plus the same ``poll_analysis`` function the modal timer calls.

The extension and its server stay enabled for the whole module (starting a server costs
seconds), so this module replaces the folder's per-test factory reset by a reset of the
file (``read_homefile(use_empty=True)``), which keeps add-ons and preferences.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
import synthetic_video
from ext_support import (
    ADDON,
    fcurves_of,
    installed_extension,
    mixamo_armature,
    prefs,
    runtime,
    use_server,
)
from mathutils import Vector

from glot_blender.core.motion_clip import MotionClip, TrackMotion, read_clip, write_clip
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

POLL_TIMEOUT_S = 300.0
VIDEO_FRAMES = 40


@pytest.fixture(autouse=True)
def clean_blender() -> Iterator[object]:
    """Overrides the folder's factory reset: an empty file per test, the add-on stays on."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The built zip installed and enabled; yields the installed package."""
    yield from installed_extension(tmp_path_factory)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> synthetic_video.SyntheticVideo:
    folder = tmp_path_factory.mktemp("video")
    return synthetic_video.walking_video(
        folder / "walk.avi", num_frames=VIDEO_FRAMES, size=(320, 240), person_height=180
    )


def choose_video(path: Path) -> None:
    settings = bpy.context.scene.glot
    settings.video_source = "FILE"
    settings.video_path = str(path)
    settings.backend = "glot"
    settings.detector = "hog"


def poll_analysis(ext: ModuleType):
    return importlib.import_module(f"{ext.__name__}.operators.analyze").poll_analysis


def scene_state() -> dict:
    """What a failed or cancelled analysis must not change."""
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "actions": sorted(a.name for a in bpy.data.actions),
        "armatures": sorted(a.name for a in bpy.data.armatures),
        "clips": sorted(c.name for c in bpy.data.movieclips),
        "tracks": [(t.track_id, t.num_frames) for t in scene.glot.tracks],
        "clip_path": scene.glot.clip_path,
        "range": (scene.frame_start, scene.frame_end, scene.render.fps),
    }


def drive(ext: ModuleType, until, timeout: float = POLL_TIMEOUT_S):
    """Call poll_analysis (what the modal timer calls) until ``until(job)`` or an outcome."""
    tick = poll_analysis(ext)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runtime(ext).analysis
        if job is not None and until(job):
            return None
        outcome = tick(bpy.context)
        if outcome is not None:
            return outcome
        time.sleep(0.05)
    raise AssertionError("the analysis did not reach the expected state in time")


@pytest.fixture(scope="module")
def analysis(ext, video, synthetic_models) -> dict:
    """Analyse the video once with the blocking operator; what the user saw right after."""
    bpy.ops.wm.read_homefile(use_empty=True)
    use_server(synthetic_models)
    choose_video(video.path)
    before = scene_state()
    result = bpy.ops.glot.analyze()
    settings = bpy.context.scene.glot
    return {
        "result": result,
        "clip": Path(settings.clip_path),
        "listed": [(t.track_id, t.num_frames, t.filled_ratio, t.use) for t in settings.tracks],
        "refined": [t.refined for t in settings.tracks],
        "objects_before": before["objects"],
        "objects_after": sorted(o.name for o in bpy.data.objects),
        "status": bpy.context.window_manager.glot_job.running,
        "made_by": (settings.analysis_backend, settings.analysis_detector),
        "message": bpy.context.window_manager.glot_job.last_message,
    }


@pytest.fixture(scope="module")
def analysed(analysis: dict) -> Path:
    """The clip path of the module's one analysis."""
    assert analysis["result"] == {"FINISHED"}
    return analysis["clip"]


@pytest.fixture(scope="module")
def made_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A motion clip written with core.motion_clip: two people, smooth motion plus jitter."""
    rng = np.random.default_rng(0)
    n = 30
    t = np.linspace(0, 2 * np.pi, n)[:, None]
    tracks = []
    for tid, first in ((1, 0), (4, 5)):
        body = 0.3 * np.sin(t + rng.uniform(0, 6, 69)) * rng.uniform(0, 1, 69)
        body += rng.normal(0, 0.03, body.shape)  # jitter for the smoothing to remove
        orient = np.tile([np.pi, 0.0, 0.0], (n, 1))  # upright as seen by the camera
        transl = np.stack([np.linspace(-0.5, 0.5, n), np.zeros(n), np.full(n, 5.0)], 1)
        tracks.append(
            TrackMotion(
                track_id=tid,
                frame_ids=np.arange(first, first + n),
                global_orient=orient,
                body_pose=body,
                betas=np.zeros((n, 10)),
                cam_crop=np.tile([1.0, 0, 0], (n, 1)),
                bbox=np.tile([160, 120, 80, 180], (n, 1)),
                transl=transl,
                rest_joints=DEFAULT_REST_JOINTS,
                joints3d=np.zeros((n, 24, 3)),
                confidence=np.ones(n),
                filled=np.arange(n) % 10 == 0,
            )
        )
    clip = MotionClip(
        fps=25.0,
        frame_count=n + 5,
        width=320,
        height=240,
        tracks=tracks,
        focal_px=400.0,
        source_name="made.avi",
    )
    return write_clip(tmp_path_factory.mktemp("clip") / "made.npz", clip)


# ------------------------------------------------------------------------------ tests


def test_extension_registers_its_ui(ext):
    assert hasattr(bpy.types.Scene, "glot") and hasattr(bpy.types.WindowManager, "glot_job")
    for name in (
        "GLOT_PT_main",
        "GLOT_PT_people",
        "GLOT_PT_motion",
        "GLOT_UL_tracks",
        "GLOT_UL_bone_map",
    ):
        assert hasattr(bpy.types, name), name
    assert bpy.types.GLOT_PT_main.bl_category == "Mocap"
    assert bpy.ops.glot.apply_motion.poll() is False  # nothing loaded yet
    with pytest.raises(RuntimeError, match="No video chosen"):
        bpy.ops.glot.analyze()


def test_refine_checkbox_goes_into_the_analyze_request(ext, video):
    analyze = importlib.import_module(f"{ext.__name__}.operators.analyze")
    prefs = importlib.import_module(f"{ext.__name__}.preferences")
    settings = bpy.context.scene.glot
    choose_video(video.path)
    assert settings.refine is True  # on by default
    params = analyze.analysis_request(bpy.context, prefs.get_prefs(bpy.context), prefs.ADDON_ID).params()
    assert params["refine"] is True
    settings.refine = False
    try:
        params = analyze.analysis_request(bpy.context, prefs.get_prefs(bpy.context),
                                          prefs.ADDON_ID).params()
    finally:
        settings.refine = True
    assert params["refine"] is False


def test_analyze_lists_people_and_changes_no_object(ext, analysis, analysed):
    clip = read_clip(analysed)
    assert analysed.is_file() and clip.frame_count == VIDEO_FRAMES
    assert len(clip.tracks) >= 1
    expected = [
        (t.track_id, t.num_frames, pytest.approx(t.filled_ratio), True) for t in clip.tracks
    ]
    assert analysis["listed"] == expected
    assert analysis["objects_after"] == analysis["objects_before"]  # nothing added to the scene
    # Refine Motion is on by default: the server ran the temporal solver on every person
    assert all(t.refined is not None for t in clip.tracks)
    assert analysis["refined"] == [{True: "YES", False: "NO"}[t.refined] for t in clip.tracks]
    assert analysis["status"] is False  # progress cleared
    assert analysis["made_by"] == ("glot", "hog")  # the panel says what ran
    assert "(glot backend, hog detector)" in analysis["message"]  # then the camera solved
    assert runtime(ext).session.is_running()


def test_apply_new_smpl_rig_keys_every_frame_and_exports(ext, analysed, tmp_path):
    assert bpy.ops.glot.load_clip(filepath=str(analysed)) == {"FINISHED"}
    clip = read_clip(analysed)
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    rigs = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(rigs) == len(clip.tracks)
    for rig in rigs:
        track = clip.track(rig["glot_track_id"])
        curves = fcurves_of(rig)
        assert curves and all(len(fc.keyframe_points) == track.num_frames for fc in curves)
        assert len(rig.data.bones) == 24
        body = [c for c in rig.children if c.type == "MESH"]  # SMPL_NEUTRAL.pkl is in the models
        assert len(body) == 1 and len(body[0].vertex_groups) == 24
        assert rig["glot_body"] == "SMPL mesh" and len(body[0].data.vertices) == 6890
        assert body[0].modifiers[0].type == "ARMATURE" and body[0].modifiers[0].object == rig
    assert bpy.context.scene.glot.body_made == "SMPL mesh from SMPL_NEUTRAL.pkl"
    bpy.context.view_layer.objects.active = rigs[0]
    bvh, fbx = tmp_path / "person.bvh", tmp_path / "person.fbx"
    assert bpy.ops.glot.export_bvh(filepath=str(bvh)) == {"FINISHED"}
    assert bpy.ops.glot.export_fbx(filepath=str(fbx), preset="unreal") == {"FINISHED"}
    assert fbx.stat().st_size > 1000
    assert (
        "MOTION" in bvh.read_text()
        and f"Frames: {clip.track(rigs[0]['glot_track_id']).num_frames}" in bvh.read_text()
    )


def test_reapply_changes_smoothing_without_new_rigs(ext, made_clip):
    bpy.ops.glot.load_clip(filepath=str(made_clip))
    settings = bpy.context.scene.glot
    settings.smoothing = 0.0
    bpy.ops.glot.apply_motion()
    rigs = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
    rig = bpy.data.objects[rigs[0]]

    def knee_values() -> np.ndarray:
        fc = next(
            f for f in fcurves_of(rig) if "left_knee" in f.data_path and "quaternion" in f.data_path
        )
        values = np.empty(len(fc.keyframe_points) * 2)
        fc.keyframe_points.foreach_get("co", values)
        return values[1::2]

    raw = knee_values()
    settings.smoothing = 1.0
    assert bpy.ops.glot.reapply_motion() == {"FINISHED"}
    assert sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE") == rigs
    smooth = knee_values()
    assert raw.shape == smooth.shape
    assert np.abs(np.diff(smooth, 2)).mean() < np.abs(np.diff(raw, 2)).mean()
    assert len(bpy.data.actions) == len(read_clip(made_clip).tracks)  # the old actions are gone

    def root_xy() -> np.ndarray:
        curves = [f for f in fcurves_of(rig) if f.data_path.endswith("location")]
        out = []
        for fc in curves[:2]:
            values = np.empty(len(fc.keyframe_points) * 2)
            fc.keyframe_points.foreach_get("co", values)
            out.append(values[1::2])
        return np.array(out)

    unlocked = root_xy()
    settings.foot_lock = True
    assert bpy.ops.glot.reapply_motion() == {"FINISHED"}
    assert root_xy().shape == unlocked.shape and not np.allclose(root_xy(), unlocked)


def test_apply_to_mixamo_rig_and_export_fbx(ext, analysed, tmp_path):
    bpy.ops.glot.load_clip(filepath=str(analysed))
    clip = read_clip(analysed)
    settings = bpy.context.scene.glot
    character = mixamo_armature()
    settings.target = "ARMATURE"
    settings.target_armature = character
    for i, item in enumerate(settings.tracks):
        item.use = i == 0
    assert bpy.ops.glot.detect_bone_map() == {"FINISHED"}
    pairs = {p.joint: p.bone for p in settings.bone_map}
    assert pairs["pelvis"] == "mixamorig:Hips" and pairs["left_knee"] == "mixamorig:LeftLeg"
    next(p for p in settings.bone_map if p.joint == "left_wrist").bone = ""  # edited by hand
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    assert [o.name for o in bpy.data.objects] == [character.name]  # no SMPL rig made
    curves = fcurves_of(character)
    assert curves and all(len(fc.keyframe_points) == clip.tracks[0].num_frames for fc in curves)
    keyed = {fc.data_path.split('"')[1] for fc in curves}
    assert "mixamorig:LeftForeArm" in keyed and "mixamorig:LeftHand" not in keyed
    bpy.context.view_layer.objects.active = character
    out = tmp_path / "character.fbx"
    assert bpy.ops.glot.export_fbx(filepath=str(out)) == {"FINISHED"}
    assert out.is_file() and out.stat().st_size > 1000


def test_rigify_detect_and_apply_through_the_panel(ext, made_clip):
    """A generated Rigify rig (Basic Human, from the bundled add-on) through the operators:
    Detect says what Apply will do, Apply switches the limbs to FK and reports the achieved
    error it measured on the DEF bones (tests/blender/test_anim_rigify.py checks the motion)."""
    import addon_utils
    from rigify_support import generate_rigify

    addon_utils.enable("rigify", default_set=True, handle_error=None)
    _meta, rig = generate_rigify(basic=True)
    bpy.ops.glot.load_clip(filepath=str(made_clip))
    settings = bpy.context.scene.glot
    settings.target, settings.target_armature = "ARMATURE", rig
    for i, item in enumerate(settings.tracks):
        item.use = i == 0
    assert bpy.ops.glot.detect_bone_map() == {"FINISHED"}
    assert settings.bone_map_preset == "rigify_fk"
    assert sum(bool(p.bone) for p in settings.bone_map) == 22

    rig_name = rig.name

    def switches() -> tuple:  # the rig is looked up again: undo replaces the data blocks
        obj = bpy.data.objects[rig_name]
        bones = obj.pose.bones
        action = obj.animation_data.action if obj.animation_data else None
        return (bones["thigh_parent.L"]["IK_FK"], bones["upper_arm_parent.R"]["IK_FK"],
                bones["torso"]["neck_follow"], bones["torso"]["head_follow"],
                action.name if action else None)

    bpy.ops.ed.undo_push(message="before")  # as Blender does around an UNDO operator
    assert switches() == (0.0, 0.0, 0.5, 0.0, None)
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    bpy.ops.ed.undo_push(message="apply_motion")
    applied = switches()
    assert applied[:4] == (1.0, 1.0, 1.0, 1.0) and applied[4]
    check = rig[glot_verify().CHECK_PROP]
    assert check.startswith("achieved error") and "arms" in check
    bpy.ops.ed.undo()  # one step takes the FK switch, the follows and the action back
    assert switches() == (0.0, 0.0, 0.5, 0.0, None)
    bpy.ops.ed.redo()
    assert switches() == applied


def glot_verify() -> ModuleType:
    return importlib.import_module(f"{ADDON}.blender.verify")


def test_setup_camera_matches_video(ext, made_clip, video):
    bpy.ops.glot.load_clip(filepath=str(made_clip))
    choose_video(video.path)
    clip = read_clip(made_clip)
    assert bpy.ops.glot.setup_camera() == {"FINISHED"}
    scene = bpy.context.scene
    cam = scene.camera
    assert cam is not None and cam.type == "CAMERA"
    assert (scene.render.resolution_x, scene.render.resolution_y) == (video.width, video.height)
    if clip.focal_px > 0:
        assert cam.data.lens == pytest.approx(
            clip.focal_px * cam.data.sensor_width / video.width, rel=1e-4
        )
    bg = cam.data.background_images[0]
    assert bg.source == "MOVIE_CLIP" and Path(bpy.path.abspath(bg.clip.filepath)) == video.path
    forward = cam.matrix_world.to_3x3() @ Vector((0, 0, -1))
    assert forward.y == pytest.approx(1.0, abs=1e-6)  # looks along +y, as the clip's frame


def test_apply_errors_leave_scene_unchanged(ext, made_clip):
    bpy.ops.glot.load_clip(filepath=str(made_clip))
    settings = bpy.context.scene.glot
    data = bpy.data.armatures.new("Stick")
    stick = bpy.data.objects.new("Stick", data)  # an armature with no usable bones
    bpy.context.scene.collection.objects.link(stick)
    bpy.context.view_layer.objects.active = stick
    bpy.ops.object.mode_set(mode="EDIT")
    bone = data.edit_bones.new("Bone")
    bone.head, bone.tail = (0, 0, 0), (0, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    settings.target = "ARMATURE"
    settings.target_armature = stick
    before = scene_state()
    with pytest.raises(RuntimeError, match="tick only one"):
        bpy.ops.glot.apply_motion()  # two people ticked for one armature
    settings.tracks[1].use = False
    with pytest.raises(RuntimeError, match="'Stick'.*pelvis"):
        bpy.ops.glot.apply_motion()
    for item in settings.tracks:
        item.use = False
    with pytest.raises(RuntimeError, match="No person selected"):
        bpy.ops.glot.apply_motion()
    assert scene_state() == before and stick.animation_data is None


def test_cancel_mid_analysis_leaves_scene_unchanged(ext, analysed, video):
    choose_video(video.path)
    before = scene_state()
    assert bpy.ops.glot.analyze(wait=False) == {"FINISHED"}
    job = runtime(ext).analysis
    clips_dir = Path(job.request.output_dir)
    npz_before = set(clips_dir.glob("*.npz"))
    outcome = drive(
        ext, until=lambda j: j.job_id is not None and j.progress.stage not in ("starting server",)
    )
    assert outcome is None, "the job ended before it could be cancelled"
    assert bpy.ops.glot.cancel_analysis() == {"FINISHED"}
    outcome = drive(ext, until=lambda j: False)
    assert outcome.status == "cancelled"
    assert scene_state() == before
    assert set(clips_dir.glob("*.npz")) == npz_before  # no partial clip left
    assert runtime(ext).analysis is None and bpy.ops.glot.analyze.poll()


def test_server_killed_mid_analysis_is_reported_and_restart_works(ext, analysed, video):
    choose_video(video.path)
    before = scene_state()
    bpy.ops.glot.analyze(wait=False)
    drive(ext, until=lambda j: j.job_id is not None)
    pid = runtime(ext).session.current().pid
    os.kill(pid, signal.SIGKILL)
    outcome = drive(ext, until=lambda j: False)
    assert outcome.status == "error"
    assert "stopped unexpectedly" in outcome.message and "Restart Server" in outcome.message
    assert scene_state() == before
    assert not runtime(ext).session.is_running()
    assert bpy.ops.glot.restart_server() == {"FINISHED"}
    session = runtime(ext).session
    assert session.is_running() and session.current().pid != pid
    assert "glot" in session.info.get("backends", {})
    assert bpy.ops.glot.open_log() == {"FINISHED"}  # the log tells what happened
    log = next(t for t in bpy.data.texts if t.name.startswith("server"))
    assert "starting:" in log.as_string() and "inference_server" in log.as_string()


def test_missing_model_files_give_a_clear_message(ext, analysed, video, tmp_path, monkeypatch):
    monkeypatch.delenv("GLOT_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no user models folder either
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    choose_video(video.path)
    empty = tmp_path / "no-models"
    empty.mkdir()
    prefs().models_dir = str(empty)
    before = scene_state()
    with pytest.raises(RuntimeError, match="table1_3dpw_weights.pth.tar"):
        bpy.ops.glot.analyze()
    assert scene_state() == before


def test_disable_stops_server_and_enable_again(ext, synthetic_models):
    use_server(synthetic_models)
    assert bpy.ops.glot.restart_server() == {"FINISHED"}
    client = runtime(ext).session.current()
    assert client.is_alive()
    bpy.ops.preferences.addon_disable(module=ADDON)
    assert not client.is_alive()
    assert not hasattr(bpy.types.Scene, "glot") and not hasattr(bpy.types, "GLOT_PT_main")
    bpy.ops.preferences.addon_enable(module=ADDON)
    assert ADDON in bpy.context.preferences.addons
    assert hasattr(bpy.types.Scene, "glot") and hasattr(bpy.types, "GLOT_PT_main")
    assert runtime(ext).session.current() is None  # a fresh runtime, server not started yet


def test_create_environment_reports_a_broken_base_python(ext, tmp_path, monkeypatch):
    """Create Environment runs server_env.setup_env in a thread; its failure reaches the UI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    p = prefs()
    p.env_dir = str(tmp_path / "env")
    p.server_python = ""
    assert bpy.ops.glot.create_env() == {"FINISHED"}
    sync = importlib.import_module(f"{ext.__name__}.operators.server").sync_env_setup
    deadline = time.monotonic() + 60
    while sync(bpy.context):
        assert time.monotonic() < deadline, "the set-up thread did not finish"
        time.sleep(0.05)
    status = bpy.context.window_manager.glot_job
    assert not status.env_running
    assert str(fake) in status.env_stage and "Python" in status.env_stage
    assert p.server_python == ""  # nothing usable was made
    assert (tmp_path / "env" / "setup-env.log").is_file()
    assert bpy.ops.glot.create_env.poll()  # may be pressed again


def test_device_choice_survives_the_gpu_list_changing(ext):
    """GPU items come from the running server; a stored GPU never turns into another device."""
    session = runtime(ext).session
    saved = session.info
    try:
        session.info = {"devices": [{"id": "cpu"}, {"id": "cuda:0", "name": "Test GPU"}]}
        prefs().device = "cuda:0"
        assert prefs().device == "cuda:0"
        session.info = {}  # server stopped: no GPU items
        assert prefs().device != "mps"
        prefs().device = "cpu"
        assert prefs().device == "cpu"
    finally:
        session.info = saved


def test_frame_range_is_the_union_of_people_seen_over_different_frames(ext, made_clip):
    """Person 1 covers video frames 0-29 and person 4 frames 5-34: the scene spans both
    (frames 1-35), not the last person's 6-35; Re-apply keeps it so."""
    bpy.ops.glot.load_clip(filepath=str(made_clip))
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 100, 120
    assert bpy.ops.glot.apply_motion() == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, 35)
    bpy.context.scene.glot.frame_offset = 10
    assert bpy.ops.glot.reapply_motion() == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (11, 45)
