"""Where GLoT Mocap keeps a user's files, and what the model files are called (stdlib only).

One owner for these facts: the server's model registry, the environment set-up
(``glot_blender.server_env``), the add-on's preferences and its operators all import them.

The user data folder (``user_data_dir``) is ``$XDG_DATA_HOME/glot-mocap`` or
``~/.local/share/glot-mocap`` on Linux, ``~/Library/Application Support/glot-mocap`` on macOS,
``%APPDATA%/glot-mocap`` on Windows; it holds ``models/`` and the server's ``server-env/``.
Logs (the CLI's error log) go to the per-user state folder (``user_state_dir``).
Model files are found by their official names in, in this order: the chosen models folder,
the folder named by ``GLOT_MODELS_DIR``, then ``<user data>/models``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

APP_FOLDER = "glot-mocap"
MODELS_FOLDER = "models"
ENV_FOLDER = "server-env"
#: environment variable naming a models folder (searched after the chosen one)
MODELS_DIR_VAR = "GLOT_MODELS_DIR"
#: the command that creates the server's environment (glot_blender.server_env:main)
ENV_COMMAND = "glot-mocap-env"

# ----------------------------------------------------------------------------- model files
#: the released GLoT checkpoints; the first is the demo's default
GLOT_CHECKPOINTS: tuple[str, ...] = (
    "table1_3dpw_weights.pth.tar",
    "table1_h36m_mpii3d_weights.pth.tar",
    "table2_3dpw_weights.pth.tar",
)
SPIN_CHECKPOINT = "spin_model_checkpoint.pth.tar"
#: the neutral SMPL model, under either of its official names (the first is canonical)
SMPL_PICKLES: tuple[str, ...] = ("SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
YOLO_CFG = "yolov3.cfg"
YOLO_WEIGHTS = "yolov3.weights"
ONNX_DETECTOR = "person_detector.onnx"


def user_data_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-user data folder of the app for this operating system."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        base = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else home / ".local" / "share"
    return base / APP_FOLDER


def user_state_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-user folder for logs and other state (never a shared temporary folder):
    ``$XDG_STATE_HOME/glot-mocap`` (``~/.local/state``) on Linux, ``~/Library/Logs/glot-mocap``
    on macOS, ``%LOCALAPPDATA%\\glot-mocap\\Logs`` on Windows."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        base = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
        return base / APP_FOLDER / "Logs"
    if platform == "darwin":
        return home / "Library" / "Logs" / APP_FOLDER
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else home / ".local" / "state"
    return base / APP_FOLDER


def user_models_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The models folder in the user data folder (always searched, last)."""
    return user_data_dir(env, platform) / MODELS_FOLDER


def default_env_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Where the server's Python environment is created unless the user picks a folder."""
    return user_data_dir(env, platform) / ENV_FOLDER


def models_search_dirs(models_dir: str | os.PathLike[str] | None = None,
                       env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The models folders in search order, without repeats: ``models_dir`` (when given),
    ``$GLOT_MODELS_DIR`` (when set), the user data folder's ``models``."""
    env = os.environ if env is None else env
    dirs: list[Path] = []
    if models_dir:
        dirs.append(Path(models_dir).expanduser())
    if env.get(MODELS_DIR_VAR):
        dirs.append(Path(env[MODELS_DIR_VAR]).expanduser())
    dirs.append(user_models_dir(env))
    return tuple(dict.fromkeys(dirs))


def find_model_file(names: Iterable[str], search_dirs: Iterable[Path]) -> Path | None:
    """The first existing file with one of ``names`` (in that order of preference), looking
    through ``search_dirs`` in order for each name; None when there is none."""
    dirs = tuple(search_dirs)
    for name in names:
        for folder in dirs:
            if (folder / name).is_file():
                return folder / name
    return None
