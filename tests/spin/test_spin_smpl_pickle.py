"""SMPL pickles: the official-imitating writer, the restricted reader, unsafe and wrong files."""

from __future__ import annotations

import pickle
import pickletools
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from spin_smpl_testing import (
    NamesAnotherClass,
    RunsEval,
    RunsShell,
    random_smpl_arrays,
    write_pickle,
)

from glot_blender.core.smpl_pickle import SMPLModelData, SMPLPickleError, load_smpl_pickle
from inference_server.synthetic.smpl_files import (
    CHUMPY_KEYS,
    OFFICIAL_KEYS,
    official_dict,
    write_smpl_pickle,
)

#: the globals an official SMPL pickle names (and nothing else)
OFFICIAL_GLOBALS = {"__builtin__ set", "chumpy.ch Ch", "numpy dtype", "numpy ndarray",
                    "numpy.core.multiarray _reconstruct", "scipy.sparse.csc csc_matrix"}


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return random_smpl_arrays(seed=0)


@pytest.fixture(scope="module")
def official_like(tmp_path_factory: pytest.TempPathFactory, arrays: dict) -> Path:
    path = tmp_path_factory.mktemp("smpl") / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    return write_smpl_pickle(path, arrays)


def _check_round_trip(model: SMPLModelData, arrays: dict) -> None:
    assert np.array_equal(model.v_template, arrays["v_template"])
    assert np.array_equal(model.shapedirs, arrays["shapedirs"][:, :, :10])
    assert np.array_equal(model.posedirs, arrays["posedirs"])
    assert np.array_equal(model.J_regressor, arrays["J_regressor"].astype(np.float32))
    assert np.array_equal(model.weights, arrays["weights"])
    assert np.array_equal(model.faces, arrays["f"])
    assert model.parents.tolist() == [-1, *arrays["kintree_table"][0, 1:].tolist()]
    assert model.J_regressor.dtype == np.float32 and model.faces.dtype == np.int64
    assert model.parents.dtype == np.int64 and model.v_template.dtype == np.float64


# --------------------------------------------------------------------------- imitation


def test_imitation_has_the_official_structure(official_like: Path) -> None:
    data = official_like.read_bytes()
    ops = list(pickletools.genops(data))
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    assert {arg for op, arg, _ in ops if op.name == "GLOBAL"} == OFFICIAL_GLOBALS
    kinds = {op.name for op, _, _ in ops}
    assert "BINUNICODE" not in kinds and "SHORT_BINSTRING" in kinds  # Python-2 text
    assert "BINBYTES" not in kinds and "SHORT_BINBYTES" not in kinds


@pytest.mark.filterwarnings("ignore:Please import `csc_matrix`:DeprecationWarning")
def test_imitation_reads_as_the_official_types(official_like: Path, monkeypatch) -> None:
    """With real scipy and a minimal chumpy module, a plain unpickler sees the official objects."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __setstate__(self, state: dict) -> None:
            self.__dict__.update(state)

    chumpy_ch.Ch = Ch
    chumpy.ch = chumpy_ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", chumpy_ch)
    with official_like.open("rb") as fh:
        model = pickle.load(fh, encoding="latin1")  # our own file, trusted
    assert set(model) == set(OFFICIAL_KEYS)
    assert isinstance(model["J_regressor"], scipy_sparse.csc_matrix)
    assert model["J_regressor"].shape == (24, 6890)
    assert isinstance(model["shapedirs"], Ch) and model["shapedirs"].x.shape == (6890, 3, 10)
    assert model["f"].dtype == np.uint32 and model["bs_type"] == "lrotmin"


# --------------------------------------------------------------------------- reading


def test_round_trip(official_like: Path, arrays: dict) -> None:
    _check_round_trip(load_smpl_pickle(official_like), arrays)


@pytest.mark.parametrize("chumpy_keys", [(), ("shapedirs",), CHUMPY_KEYS])
def test_round_trip_with_any_mix_of_chumpy_and_numpy(tmp_path: Path, arrays: dict,
                                                     chumpy_keys: tuple) -> None:
    path = write_smpl_pickle(tmp_path / "SMPL_NEUTRAL.pkl", arrays, chumpy_keys)
    _check_round_trip(load_smpl_pickle(path), arrays)


@pytest.mark.parametrize("protocol", [2, 4])
def test_python3_numpy_only_pickles_load(tmp_path: Path, arrays: dict, protocol: int) -> None:
    """Chumpy-free conversions written by Python 3 (bytes via _codecs at protocol 2)."""
    plain = {k: v for k, v in arrays.items()}
    plain["kintree_table"] = plain["kintree_table"].astype(np.uint32)
    path = write_pickle(tmp_path / "SMPL_NEUTRAL.pkl", plain, protocol)
    _check_round_trip(load_smpl_pickle(path), arrays)


def test_smpl_300_shape_components_are_cut_to_10(tmp_path: Path) -> None:
    arrays = random_smpl_arrays(seed=1, num_betas=300)
    path = write_smpl_pickle(tmp_path / "SMPL_NEUTRAL_300.pkl", arrays)
    model = load_smpl_pickle(path)
    assert model.shapedirs.shape == (6890, 3, 10)
    _check_round_trip(model, arrays)


def test_reader_needs_only_numpy_and_stdlib(official_like: Path) -> None:
    code = ("import sys; from glot_blender.core.smpl_pickle import load_smpl_pickle; "
            f"m = load_smpl_pickle({str(official_like)!r}); "
            "bad = [n for n in ('torch', 'scipy', 'cv2', 'smplx', 'bpy', 'chumpy') "
            "if n in sys.modules]; print(m.v_template.shape, bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60, check=True)
    assert out.stdout.strip() == "(6890, 3) []"


# --------------------------------------------------------------------------- unsafe files


@pytest.mark.parametrize("payload", [RunsShell, RunsEval, NamesAnotherClass])
def test_pickle_naming_other_code_is_refused_without_running_it(tmp_path: Path, arrays: dict,
                                                               payload: type) -> None:
    marker = tmp_path / "ran"
    model = official_dict(arrays)
    model["bs_style"] = payload(marker)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    from inference_server.synthetic.smpl_files import _Py2Pickler

    with path.open("wb") as fh:
        _Py2Pickler(fh, protocol=2).dump(model)
    with pytest.raises(SMPLPickleError) as info:
        load_smpl_pickle(path)
    msg = str(info.value)
    assert str(path) in msg and "refused" in msg
    assert any(name in msg for name in ("system", "eval", "PosixPath", "Path"))
    assert not marker.exists()


def test_code_hidden_inside_a_chumpy_state_is_refused(tmp_path: Path, arrays: dict) -> None:
    marker = tmp_path / "ran"
    model = official_dict(arrays)
    model["shapedirs"].state["_itr"] = RunsShell(marker)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    from inference_server.synthetic.smpl_files import _Py2Pickler

    with path.open("wb") as fh:
        _Py2Pickler(fh, protocol=2).dump(model)
    with pytest.raises(SMPLPickleError, match="system"):
        load_smpl_pickle(path)
    assert not marker.exists()


def test_reconstructor_only_builds_stand_ins(tmp_path: Path) -> None:
    raw = (b"\x80\x02ccopy_reg\n_reconstructor\ncnumpy\nndarray\nc__builtin__\nobject\nN"
           b"\x87R.")
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(raw)
    with pytest.raises(SMPLPickleError, match="refused: it names 'copy_reg._reconstructor of ndarray'"):
        load_smpl_pickle(path)


def test_codecs_only_decode_latin1(tmp_path: Path) -> None:
    raw = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00rot_13\x86R."
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(raw)
    with pytest.raises(SMPLPickleError, match="refused.*'rot_13' codec"):
        load_smpl_pickle(path)


# --------------------------------------------------------------------------- wrong files


@pytest.mark.parametrize(("key", "shape"), [
    ("v_template", (10475, 3)),       # an SMPL-X template
    ("posedirs", (6890, 3, 486)),     # SMPL-X pose blend shapes
    ("weights", (6890, 52)),          # SMPL-H skinning weights
    ("J_regressor", (52, 6890)),
    ("f", (20908, 3)),
])
def test_wrong_shapes_are_refused(tmp_path: Path, arrays: dict, key: str,
                                  shape: tuple) -> None:
    arrays = dict(arrays)
    arrays[key] = np.zeros(shape, dtype=np.int64 if key == "f" else np.float64)
    path = write_pickle(tmp_path / "model.pkl", arrays)
    with pytest.raises(SMPLPickleError) as info:
        load_smpl_pickle(path)
    msg = str(info.value)
    assert "is not an SMPL model file" in msg and f"'{key}'" in msg and str(shape) in msg
    assert str(path) in msg


def test_missing_keys_are_named(tmp_path: Path, arrays: dict) -> None:
    arrays = {k: v for k, v in arrays.items() if k not in ("posedirs", "weights")}
    path = write_pickle(tmp_path / "model.pkl", arrays)
    with pytest.raises(SMPLPickleError, match="lacks 'posedirs', 'weights'"):
        load_smpl_pickle(path)


def test_faces_out_of_range_and_bad_tree(tmp_path: Path, arrays: dict) -> None:
    bad_faces = dict(arrays, f=arrays["f"] + 6890)
    with pytest.raises(SMPLPickleError, match="faces"):
        load_smpl_pickle(write_pickle(tmp_path / "a.pkl", bad_faces))
    tree = arrays["kintree_table"].copy()
    tree[0, 4] = 7  # a joint whose parent comes after it
    with pytest.raises(SMPLPickleError, match="kintree_table"):
        load_smpl_pickle(write_pickle(tmp_path / "b.pkl", dict(arrays, kintree_table=tree)))


def test_not_a_dict_truncated_and_missing(tmp_path: Path, official_like: Path) -> None:
    with pytest.raises(SMPLPickleError, match="holds a list"):
        load_smpl_pickle(write_pickle(tmp_path / "list.pkl", [1, 2, 3]))
    truncated = tmp_path / "truncated.pkl"
    with official_like.open("rb") as fh:
        truncated.write_bytes(fh.read(1_000_000))
    with pytest.raises(SMPLPickleError, match="damaged"):
        load_smpl_pickle(truncated)
    with pytest.raises(SMPLPickleError, match="does not exist"):
        load_smpl_pickle(tmp_path / "nothing.pkl")
    text = tmp_path / "notes.pkl"
    text.write_text("SMPL model goes here\n")
    with pytest.raises(SMPLPickleError):
        load_smpl_pickle(text)
