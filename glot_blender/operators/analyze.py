"""Analyze a video in the server while Blender stays responsive.

Interactive (``INVOKE_DEFAULT``, the panel's button): a modal operator with a window timer
calls :func:`poll_analysis` a few times a second, shows stage and percentage in the panel and
the status bar, and Esc (or the panel's Cancel button) cancels.

Scripts and background mode (``blender -b``, the ``bpy`` module), where modal handlers never
run: ``bpy.ops.glot.analyze()`` (EXEC) blocks until the job ends, ticking the same
:func:`poll_analysis`; with ``wait=False`` it returns at once and the caller drives
:func:`poll_analysis` itself (a ``bpy.app.timers`` function does it when a window exists).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..analysis_job import AnalysisJob, AnalysisRequest, JobOutcome
from ..core.motion_clip import MotionClip, MotionClipError, read_clip
from ..core.protocol import STATUS_CANCELLED, STATUS_ERROR, STATUS_OK
from ..preferences import ADDON_ID, get_prefs
from ..session import get_runtime
from .reporting import TaskError, run_reported
from .server import server_config, user_folder

TIMER_INTERVAL_S = 0.2
BLOCKING_TIMEOUT_S = 3600.0
CLIPS_FOLDER = "clips"


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
    """The panel's options as the ``analyze`` request; clips go to the add-on's user folder."""
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
        refine=bool(settings.refine),
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
        item.refined = {None: "OFF", True: "YES", False: "NO"}[track.refined]
        error = track.refine_error_px
        item.refine_error_px = error if error == error else -1.0  # NaN: no 2D evidence
        item.use = True
    settings.tracks_index = 0
    if clip.has_world:  # world placement is the default for clips with a camera solve
        settings.root_placement = "world"
    elif settings.root_placement == "world":
        settings.root_placement = "camera"
    if smoothing is not None:
        settings.smoothing = smoothing
    detector = str(clip.analysis_options.get("detector", ""))  # as asked: "auto" says nothing
    record_analysis(settings, clip.backend, "" if detector == "auto" else detector, notices=())
    return clip


def record_analysis(
    settings: bpy.types.PropertyGroup, backend: str, detector: str, notices: Sequence[str]
) -> None:
    """How the loaded clip was made, for the panel: backend, detector and the job's notices
    (a loaded clip file carries no notices)."""
    settings.analysis_backend = backend
    settings.analysis_detector = detector
    settings.analysis_notices = "\n".join(str(n) for n in notices)


def found_message(clip: MotionClip, backend: str, detector: str) -> str:
    """'Found 2 people in 40 frames (lite backend, hog detector); camera turning 18 deg'."""
    n = len(clip.tracks)
    how = ", ".join(f"{name} {kind}" for name, kind in ((backend, "backend"), (detector, "detector"))
                    if name)
    camera = ""
    if clip.camera is not None:
        camera = f"; camera {clip.camera.kind}"
        if clip.camera.kind != "static":
            camera += f" {clip.camera.total_rotation_deg:.0f} deg"
    return (f"Found {n} {'person' if n == 1 else 'people'} in {clip.frame_count} frames"
            + (f" ({how})" if how else "") + camera)


def _running_job() -> AnalysisJob | None:
    try:
        job = get_runtime().analysis
    except RuntimeError:
        return None
    return job if job is not None and not job.finished else None


def _show_progress(context: bpy.types.Context, job: AnalysisJob | None) -> None:
    """Job progress into ``WindowManager.glot_job`` and the status bar (None: clear them)."""
    status = context.window_manager.glot_job
    status.running = job is not None
    status.stage = job.progress.text() if job is not None else ""
    status.fraction = job.progress.fraction if job is not None else 0.0
    if context.workspace is not None:
        text = f"GLoT Mocap: {status.stage}  (Esc to cancel)" if job is not None else None
        context.workspace.status_text_set(text)
    if context.screen is not None:
        for area in context.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def start_analysis(context: bpy.types.Context) -> AnalysisJob:
    """Gather the panel's options and start the job (server start-up runs in a thread)."""
    if _running_job() is not None:
        raise TaskError("An analysis is already running: wait for it or press Cancel")
    prefs = get_prefs(context)
    request = analysis_request(context, prefs, ADDON_ID)
    config = server_config(prefs, ADDON_ID)
    runtime = get_runtime()
    job = AnalysisJob(runtime.session, config, request)
    runtime.analysis = job
    job.start()
    context.window_manager.glot_job.last_message = ""
    _show_progress(context, job)
    return job


def poll_analysis(context: bpy.types.Context) -> JobOutcome | None:
    """One tick: progress into the UI; when the job has ended, its outcome (ok: the clip is
    loaded into ``scene.glot``; cancelled or error: nothing in the scene changed)."""
    runtime = get_runtime()
    job = runtime.analysis
    if job is None:
        return None
    outcome = job.tick()
    if outcome is None:
        _show_progress(context, job)
        return None
    runtime.analysis = None
    _show_progress(context, None)
    if outcome.status == STATUS_OK:
        try:
            clip = load_clip_into_scene(
                context.scene, outcome.clip_path, get_prefs(context).default_smoothing
            )
        except TaskError as exc:
            outcome = JobOutcome(STATUS_ERROR, message=str(exc))
        else:
            summary = outcome.summary
            backend = str(summary.get("backend") or clip.backend)
            detector = str(summary.get("detector") or "")
            record_analysis(context.scene.glot, backend, detector, summary.get("notices") or ())
            outcome = JobOutcome(
                STATUS_OK,
                clip_path=outcome.clip_path,
                summary=summary,
                message=found_message(clip, backend, detector),
            )
    context.window_manager.glot_job.last_message = outcome.message
    return outcome


def _report(op: bpy.types.Operator, outcome: JobOutcome) -> set[str]:
    """The outcome in the status bar / Info log: the result, then each notice as a warning."""
    if outcome.status == STATUS_OK:
        op.report({"INFO"}, outcome.message)
        for notice in outcome.summary.get("notices") or ():
            op.report({"WARNING"}, str(notice))
        return {"FINISHED"}
    op.report({"WARNING"} if outcome.status == STATUS_CANCELLED else {"ERROR"}, outcome.message)
    return {"CANCELLED"}


def _timer_driver() -> float | None:
    """``bpy.app.timers`` driver for ``wait=False`` in an interactive session. A timer is no
    operator, so the clip it loads gets its own undo step here (as the modal Analyze's)."""
    try:
        outcome = poll_analysis(bpy.context)
    except RuntimeError:
        return None
    if outcome is not None and outcome.status == STATUS_OK:
        push_undo_step(GLOT_OT_analyze.bl_label)
    return None if outcome is not None or _running_job() is None else TIMER_INTERVAL_S


def push_undo_step(name: str) -> None:
    """One undo step for what a non-operator path changed (where Blender allows one now)."""
    if bpy.ops.ed.undo_push.poll():
        bpy.ops.ed.undo_push(message=name)


def stop_timers() -> None:
    """Unregister the ``wait=False`` timer (add-on being disabled)."""
    if bpy.app.timers.is_registered(_timer_driver):
        bpy.app.timers.unregister(_timer_driver)


class GLOT_OT_analyze(bpy.types.Operator):
    """Find every person in the video and estimate their 3D motion (runs in the inference server)"""

    bl_idname = "glot.analyze"
    bl_label = "Analyze"
    bl_options = {"REGISTER", "UNDO"}

    wait: BoolProperty(
        name="Wait",
        default=True,
        options={"SKIP_SAVE"},
        description="Scripts: block until the analysis ends (off: return at once, poll_analysis drives it)",
    )
    timeout: FloatProperty(
        name="Timeout", default=BLOCKING_TIMEOUT_S, min=1.0, options={"SKIP_SAVE"}
    )

    _timer = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if _running_job() is not None:
            cls.poll_message_set("An analysis is already running")
            return False
        return context.scene is not None

    def _start(self, context: bpy.types.Context) -> bool:
        try:
            start_analysis(context)
        except TaskError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if context.window is None:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = get_runtime().analysis
        if event.type == "ESC" and event.value == "PRESS" and job is not None:
            job.cancel()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        outcome = poll_analysis(context)
        if outcome is None:
            context.window_manager.progress_update(
                int(context.window_manager.glot_job.fraction * 100)
            )
            return {"RUNNING_MODAL"}
        self._end_modal(context)
        return _report(self, outcome)

    def _end_modal(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()

    def cancel(self, context: bpy.types.Context) -> None:
        job = get_runtime().analysis
        if job is not None:
            job.cancel()
        self._end_modal(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not self._start(context):
            return {"CANCELLED"}
        if not self.wait:
            if context.window is not None:
                bpy.app.timers.register(_timer_driver, first_interval=TIMER_INTERVAL_S)
            return {"FINISHED"}
        job = get_runtime().analysis
        job.wait(self.timeout, on_tick=lambda: _show_progress(context, job))
        outcome = poll_analysis(context)
        return _report(self, outcome) if outcome is not None else {"CANCELLED"}


class GLOT_OT_cancel_analysis(bpy.types.Operator):
    """Stop the running analysis; the scene is left as it was"""

    bl_idname = "glot.cancel_analysis"
    bl_label = "Cancel Analysis"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _running_job() is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = _running_job()
        if job is not None:
            job.cancel()
            context.window_manager.glot_job.stage = "cancelling"
        return {"FINISHED"}


class GLOT_OT_load_clip(bpy.types.Operator, ImportHelper):
    """Load a motion clip (.npz) made earlier, by Analyze or by the glot-mocap command"""

    bl_idname = "glot.load_clip"
    bl_label = "Load Motion Clip"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and _running_job() is None

    def execute(self, context: bpy.types.Context) -> set[str]:
        def load() -> str:
            clip = load_clip_into_scene(
                context.scene, self.filepath, get_prefs(context).default_smoothing
            )
            return f"Loaded {len(clip.tracks)} people from {clip.source_name or self.filepath}"

        return run_reported(self, load)


CLASSES = (GLOT_OT_analyze, GLOT_OT_cancel_analysis, GLOT_OT_load_clip)
