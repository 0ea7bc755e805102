"""Fuzz corpus, model files: a damaged yolov3.cfg, an SMPL pickle whose sparse regressor
claims an absurd shape, and model files that are FIFOs or devices are refused with the
model-file error in one sentence, before anything big is allocated or OpenCV crashes."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from glot_blender.core.smpl_pickle import SMPLPickleError, load_smpl_pickle
from inference_server import darknet_cfg, detect
from inference_server.errors import ModelFileError
from inference_server.registry import ModelRegistry
from inference_server.synthetic.smpl_body import make_smpl_arrays
from inference_server.synthetic.smpl_files import PROTOCOL, _Py2Pickler, official_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))
import darknet_files  # noqa: E402 - the tracking tests' Darknet file writer

FRAME = np.full((48, 64, 3), 128, np.uint8)


def _yolo_files(folder: Path, cfg_text: str) -> tuple[Path, Path]:
    """yolov3.cfg with ``cfg_text`` and a weights file of the size that cfg needs (when it
    can be counted), so only the cfg is at fault."""
    cfg, weights = darknet_files.write_small_random_files(folder)
    cfg.write_text(cfg_text)
    try:
        count = darknet_cfg.darknet_weight_count(cfg_text)
    except (ValueError, KeyError, IndexError, ZeroDivisionError):
        return cfg, weights
    values = np.random.default_rng(0).uniform(0.5, 1.0, count).astype(np.float32)
    weights.write_bytes(weights.read_bytes()[:20] + values.tobytes())
    return cfg, weights


BASE = darknet_files.SMALL_CFG
CFG_CASES = {
    "groups=0": BASE.replace("filters=8\nsize=3\nstride=1", "filters=8\ngroups=0\nsize=3\nstride=1"),
    "groups=3": BASE.replace("filters=8\nsize=3\nstride=1", "filters=8\ngroups=3\nsize=3\nstride=1"),
    "upsample stride=0": BASE.replace("[upsample]\nstride=2", "[upsample]\nstride=0"),
    "upsample stride huge": BASE.replace("[upsample]\nstride=2", "[upsample]\nstride=100000"),
    "upsample stride text": BASE.replace("[upsample]\nstride=2", "[upsample]\nstride=two"),
    "filters=0": BASE.replace("filters=16", "filters=0"),
    "size=-3": BASE.replace("filters=16\nsize=3", "filters=16\nsize=-3"),
    "size huge": BASE.replace("filters=16\nsize=3", "filters=16\nsize=99999"),
    "route forward": BASE.replace("[route]\nlayers=-3", "[route]\nlayers=12"),
    "route far back": BASE.replace("[route]\nlayers=-3", "[route]\nlayers=-40"),
    "shortcut forward": BASE.replace("[shortcut]\nfrom=-2", "[shortcut]\nfrom=3"),
    "yolo mask beyond num": BASE.replace("mask=3,4,5", "mask=3,4,9"),
    "net width=0": BASE.replace("width=64", "width=0"),
    "net channels huge": BASE.replace("channels=3", "channels=100000"),
    "no [net]": BASE.replace("[net]", "[netz]"),
    "missing filters": BASE.replace("filters=16\n", ""),
    "empty": "",
    "binary": "\x00\xff" * 50,
}


@pytest.mark.parametrize("text", list(CFG_CASES.values()), ids=list(CFG_CASES))
def test_damaged_yolov3_cfg_is_a_model_file_error(text: str, tmp_path: Path) -> None:
    cfg, weights = _yolo_files(tmp_path, text)
    with pytest.raises(ModelFileError) as err:
        detect.YoloV3Detector(cfg, weights).detect([FRAME])
    assert "\n" not in err.value.message and "yolov3" in err.value.message


@pytest.mark.parametrize("layers", ["-3,-6", "-1,-6"])
def test_a_network_that_fails_to_run_is_a_model_file_error(layers: str, tmp_path: Path) -> None:
    """A cfg that passes every check and loads, but whose layers do not fit together: the
    forward pass's OpenCV error becomes the model-file error."""
    cfg, weights = _yolo_files(tmp_path, BASE.replace("[route]\nlayers=-3", f"[route]\nlayers={layers}"))
    detector = detect.YoloV3Detector(cfg, weights)
    with pytest.raises(ModelFileError, match="fails to run") as err:
        detector.detect([FRAME])
    assert "\n" not in err.value.message


def _smpl_with_sparse_shape(path: Path, shape: object) -> Path:
    out = official_dict(make_smpl_arrays(seed=0))
    out["J_regressor"].state["_shape"] = shape
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=PROTOCOL).dump(out)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("shape", [(10**12, 6890), (24, 6890 * 10**9), (-24, 6890),
                                   (24,), ("24", "x"), None], ids=str)
def test_sparse_regressor_claims_are_checked_before_allocating(shape: object,
                                                               tmp_path: Path) -> None:
    path = _smpl_with_sparse_shape(tmp_path / "SMPL_NEUTRAL.pkl", shape)
    before = path.read_bytes()
    with pytest.raises(SMPLPickleError, match="J_regressor") as err:
        load_smpl_pickle(path)
    assert "\n" not in str(err.value)
    assert path.read_bytes() == before


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev are POSIX")
def test_model_files_that_are_fifos_or_devices_are_named(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    os.mkfifo(models / "yolov3.cfg")
    (models / "yolov3.weights").symlink_to("/dev/zero")
    with pytest.raises(ModelFileError, match="FIFO"):
        ModelRegistry(models).find("yolov3.cfg")
    with pytest.raises(ModelFileError, match="character device"):
        ModelRegistry(models).find("yolov3.weights")
    with pytest.raises(ModelFileError, match="FIFO"):
        detect.make_detector("yolo", ModelRegistry(models))
    with pytest.raises(ModelFileError, match="character device"):
        detect.YoloV3Detector(tmp_path / "none.cfg", models / "yolov3.weights")
