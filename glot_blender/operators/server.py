"""Server life cycle from the UI: restart, stop, find a Python, create its environment, log."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.locations import default_env_dir
from ..preferences import ADDON_ID, get_prefs
from ..server_env import (
    CREATE_ENV_BUTTON,
    SetupError,
    default_base_python,
    find_server_pythons,
    pick_server_python,
    server_source_dir,
    setup_env,
)
from ..server_errors import RequestTimeout, ServerCrashed, ServerError
from ..session import (
    EnvSetupTask,
    ServerConfig,
    crash_message,
    get_runtime,
    no_analysis_running,
)
from .reporting import TaskError

ENV_TIMER_INTERVAL_S = 0.5
ENV_LOG_SHOWN = 12
LOGS_FOLDER = "logs"
LOG_FILE = "server.log"


def user_folder(addon_id: str, name: str) -> Path:
    """A per-user folder of the extension (Blender 4.2+), else one in the user's own state
    folder (never a fixed name in the shared temporary folder)."""
    try:
        return Path(bpy.utils.extension_path_user(addon_id, path=name, create=True))
    except (ValueError, AttributeError, RuntimeError):
        from ..core.locations import user_state_dir
        from ..core.safe_files import private_dir

        return private_dir(user_state_dir() / name)


def server_log_path() -> Path:
    """The server's log file (stderr of every server the add-on starts)."""
    return user_folder(ADDON_ID, LOGS_FOLDER) / LOG_FILE


def server_config(prefs: bpy.types.AddonPreferences, addon_id: str) -> ServerConfig:
    """Server settings from the preferences; finds a usable Python when none is set."""
    python = bpy.path.abspath(prefs.server_python) if prefs.server_python else ""
    if not python:
        found = pick_server_python(server_source_dir(), bpy.path.abspath(prefs.env_dir) or None)
        if found is None:
            raise TaskError(
                "No Python with the inference server was found: open Preferences > Add-ons > "
                f"GLoT Mocap and press {CREATE_ENV_BUTTON} (or set Server Python)"
            )
        python = found.path
        prefs.server_python = python
    models = bpy.path.abspath(prefs.models_dir) if prefs.models_dir else ""
    return ServerConfig(
        python_exe=python,
        models_dir=models.rstrip("/\\") if models else "",
        threads=int(prefs.server_threads),
        log_path=str(user_folder(addon_id, LOGS_FOLDER) / LOG_FILE),
    )


class GLOT_OT_restart_server(bpy.types.Operator):
    """Stop the inference server if it runs and start a fresh one (after a crash or a settings change)"""

    bl_idname = "glot.restart_server"
    bl_label = "Restart Server"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not no_analysis_running():
            cls.poll_message_set("Cancel the running analysis first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime = get_runtime()
        try:
            info = runtime.session.restart(server_config(get_prefs(context), ADDON_ID))
        except TaskError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except ServerCrashed as exc:
            self.report({"ERROR"}, crash_message(exc, None))
            return {"CANCELLED"}
        except (ServerError, RequestTimeout) as exc:
            self.report({"ERROR"}, f"The inference server did not start: {exc}")
            return {"CANCELLED"}
        self.report(
            {"INFO"},
            f"Inference server {info.get('server_version', '')} running (torch {info.get('torch_version', '?')})",
        )
        return {"FINISHED"}


class GLOT_OT_stop_server(bpy.types.Operator):
    """Stop the inference server (it starts again with the next analysis)"""

    bl_idname = "glot.stop_server"
    bl_label = "Stop Server"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return no_analysis_running() and get_runtime().session.current() is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        get_runtime().session.shutdown()
        return {"FINISHED"}


class GLOT_OT_detect_python(bpy.types.Operator):
    """Look for a Python that can run the server (GLOT_SERVER_PYTHON, the created environment, PATH)"""

    bl_idname = "glot.detect_python"
    bl_label = "Find Server Python"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if get_runtime().env_setup is not None:
            cls.poll_message_set(f"Wait for {CREATE_ENV_BUTTON} to finish")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = get_prefs(context)
        env_dir = bpy.path.abspath(prefs.env_dir) if prefs.env_dir else None
        candidates = find_server_pythons(server_source_dir(), env_dir)
        usable = [c for c in candidates if c.ok]
        if not usable:
            reasons = (
                "; ".join(f"{c.path}: {c.reason}" for c in candidates) or "no Python found on PATH"
            )
            self.report(
                {"ERROR"}, f"No Python can run the server ({reasons}); press {CREATE_ENV_BUTTON}"
            )
            return {"CANCELLED"}
        prefs.server_python = usable[0].path
        self.report({"INFO"}, f"Server Python: {usable[0].path} ({usable[0].reason})")
        return {"FINISHED"}


def sync_env_setup(context: bpy.types.Context) -> bool:
    """Copy the set-up thread's progress and log into the UI; True while it runs. When it
    succeeded, the new environment's Python becomes the server Python."""
    task = get_runtime().env_setup
    status = context.window_manager.glot_job
    if task is None:
        status.env_running = False
        return False
    status.env_running = not task.done
    status.env_fraction = task.fraction
    status.env_stage = task.error or task.stage
    status.env_log = "\n".join(task.log[-ENV_LOG_SHOWN:])
    if task.done:
        get_runtime().env_setup = None
        if task.python_exe:
            get_prefs(context).server_python = task.python_exe
    return not task.done


def _env_timer() -> float | None:
    try:
        running = sync_env_setup(bpy.context)
    except RuntimeError:  # add-on disabled meanwhile
        return None
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()
    return ENV_TIMER_INTERVAL_S if running else None


def stop_timers() -> None:
    """Unregister the set-up progress timer (add-on being disabled)."""
    if bpy.app.timers.is_registered(_env_timer):
        bpy.app.timers.unregister(_env_timer)


class GLOT_OT_create_env(bpy.types.Operator):
    """Create the inference server's Python environment (a venv with torch and the server; downloads about 1 GB)"""

    bl_idname = "glot.create_env"
    bl_label = CREATE_ENV_BUTTON
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return get_runtime().env_setup is None

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = get_prefs(context)
        try:
            base = default_base_python()
        except SetupError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        env_dir = bpy.path.abspath(prefs.env_dir) if prefs.env_dir else str(default_env_dir())
        models = bpy.path.abspath(prefs.models_dir) if prefs.models_dir else None
        task = EnvSetupTask(env_dir=env_dir)
        get_runtime().env_setup = task
        # the same call, with the same defaults, as the glot-mocap-env command line
        task.start(
            lambda log, cancel: setup_env(
                env_dir, base_python=base, log=log, models_dir=models, should_cancel=cancel
            )
        )
        bpy.app.timers.register(_env_timer, first_interval=ENV_TIMER_INTERVAL_S)
        self.report(
            {"INFO"}, f"Creating the server environment in {Path(env_dir)} (see the log below)"
        )
        return {"FINISHED"}


class GLOT_OT_open_log(bpy.types.Operator):
    """Open the server's log file in Blender's text editor"""

    bl_idname = "glot.open_log"
    bl_label = "Open Server Log"
    bl_options = {"REGISTER", "UNDO"}  # adds or refreshes a text datablock

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not server_log_path().is_file():
            cls.poll_message_set("The server has not run yet: no log")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        path = server_log_path()
        if not path.is_file():
            self.report({"WARNING"}, f"No server log yet at {path}: the server has not run")
            return {"CANCELLED"}
        text = bpy.data.texts.get(path.name) or bpy.data.texts.load(str(path))
        text.from_string(path.read_text(encoding="utf-8", errors="replace"))
        self.report({"INFO"}, f"Server log loaded into the Text Editor as '{text.name}' ({path})")
        return {"FINISHED"}


CLASSES = (
    GLOT_OT_restart_server,
    GLOT_OT_stop_server,
    GLOT_OT_detect_python,
    GLOT_OT_create_env,
    GLOT_OT_open_log,
)
