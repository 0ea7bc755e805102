"""The model registry: search order, report, the one missing-files message."""

from __future__ import annotations

from pathlib import Path

import pytest

from glot_blender.core.locations import MODELS_DIR_VAR, user_models_dir
from inference_server.errors import InvalidRequestError, ModelFileError
from inference_server.registry import ModelRegistry, format_report


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"x")


def test_search_order_models_dir_then_env_then_user_folder(tmp_path: Path) -> None:
    first, second, home = tmp_path / "a", tmp_path / "b", tmp_path / "home"
    _touch(first, "yolov3.cfg")
    _touch(second, "yolov3.cfg", "yolov3.weights")
    _touch(home / ".local/share/glot-mocap/models", "spin_model_checkpoint.pth.tar")
    env = {MODELS_DIR_VAR: str(second), "HOME": str(home)}
    reg = ModelRegistry(first, env=env)
    assert reg.search_dirs[0] == first and reg.search_dirs[1] == second
    assert reg.find("yolov3.cfg") == first / "yolov3.cfg"
    assert reg.find("yolov3.weights") == second / "yolov3.weights"
    assert reg.find("spin_model_checkpoint.pth.tar").parent == user_models_dir(env, "linux")
    assert reg.find("nothing.bin") is None
    assert reg.require("yolo") == {
        "yolov3.cfg": first / "yolov3.cfg",
        "yolov3.weights": second / "yolov3.weights",
    }


def test_user_data_folder_per_platform(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "APPDATA": str(tmp_path / "Roaming")}
    assert user_models_dir(env, "win32") == tmp_path / "Roaming/glot-mocap/models"
    assert user_models_dir(env, "darwin") == tmp_path / "Library/Application Support/glot-mocap/models"
    assert user_models_dir(env, "linux") == tmp_path / ".local/share/glot-mocap/models"


def test_missing_files_are_named_in_one_message(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "m", env={"HOME": str(tmp_path)})
    _touch(tmp_path / "m", "spin_model_checkpoint.pth.tar")
    with pytest.raises(ModelFileError) as err:
        reg.require("glot")
    msg = str(err.value)
    assert "table1_3dpw_weights.pth.tar" in msg and "spin_model" not in msg
    assert str(tmp_path / "m") in msg and "drive.google.com" in msg
    assert "\n" not in msg


def test_alternative_names_and_selectable_checkpoint(tmp_path: Path) -> None:
    _touch(tmp_path, "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "table2_3dpw_weights.pth.tar",
           "spin_model_checkpoint.pth.tar")
    env = {"HOME": str(tmp_path / "h")}
    reg = ModelRegistry(tmp_path, env=env, glot_checkpoint="table2_3dpw_weights.pth.tar")
    assert reg.require("body")["SMPL_NEUTRAL.pkl"].name.startswith("basicModel")
    assert reg.require("glot")["table2_3dpw_weights.pth.tar"] == tmp_path / "table2_3dpw_weights.pth.tar"
    assert not ModelRegistry(tmp_path, env=env).report()["glot"].ready
    with pytest.raises(InvalidRequestError, match="table1_3dpw"):
        ModelRegistry(tmp_path, env=env, glot_checkpoint="mine.pth")


def test_report_lists_every_file_and_where_it_was_looked_for(tmp_path: Path) -> None:
    _touch(tmp_path / "m", "yolov3.cfg", "yolov3.weights")
    reg = ModelRegistry(tmp_path / "m", env={"HOME": str(tmp_path)})
    rep = reg.report()
    assert rep["yolo"].ready and not rep["glot"].ready and rep["lite"].ready
    assert rep["glot"].missing == ["table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar"]
    text = format_report(reg)
    for name in ("table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar", "yolov3.cfg",
                 "SMPL_NEUTRAL.pkl", str(tmp_path / "m"), str(tmp_path / ".local")):
        assert name in text
    assert str(tmp_path / "m" / "yolov3.cfg") in text
