"""A synthetic SMPL model pickle that imitates the official Python-2 files opcode for opcode.

The official ``basicModel_*_lbs_10_207_0_v1.0.0.pkl`` files were written by Python 2's cPickle
at protocol 2: a dict with the keys of :data:`OFFICIAL_KEYS`, text as byte strings
(``BINSTRING``), numpy arrays through ``numpy.core.multiarray._reconstruct`` with their raw
data as a byte string, chumpy arrays as ``chumpy.ch.Ch`` objects (``NEWOBJ`` + attribute dict
holding the value in ``x``), the joint regressors as ``scipy.sparse.csc.csc_matrix`` objects.
This writer emits the same structure with neither chumpy nor scipy involved: small local
classes stand for those and are written under the official module/class names, so a reader
cannot tell the file apart from an official one (and must cope with exactly what it will meet).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

#: the keys of the official SMPL model dicts
OFFICIAL_KEYS = (
    "J_regressor_prior", "f", "J_regressor", "kintree_table", "J", "weights_prior", "weights",
    "vert_sym_idxs", "posedirs", "pose_training_info", "bs_style", "v_template", "shapedirs",
    "bs_type",
)
#: arrays stored as chumpy objects by default (the official files mix chumpy and numpy)
CHUMPY_KEYS = ("v_template", "shapedirs", "posedirs", "J", "weights")
#: pickle protocol of Python 2's ``cPickle.dump(..., -1)``
PROTOCOL = 2


class _Global:
    """A class or function written as GLOBAL ``module name`` without importing it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


RECONSTRUCT = _Global("numpy.core.multiarray", "_reconstruct")
NDARRAY = _Global("numpy", "ndarray")
DTYPE = _Global("numpy", "dtype")


class _ChObject:
    """Pickles as a ``chumpy.ch.Ch`` holding ``x`` (state as chumpy's ``__getstate__``)."""

    cls = _Global("chumpy.ch", "Ch")

    def __init__(self, x: np.ndarray) -> None:
        self.state = {"x": _Py2Array(x), "_dirty_vars": set(), "_itr": None,
                      "_depends_on_deps": {}, "_make_dense": False, "_make_sparse": False}


class _CscObject:
    """Pickles as a ``scipy.sparse.csc.csc_matrix`` (attribute dict of old scipy)."""

    cls = _Global("scipy.sparse.csc", "csc_matrix")

    def __init__(self, dense: np.ndarray) -> None:
        dense = np.asarray(dense, dtype=np.float64)
        rows, cols = np.nonzero(dense.T)  # column-major order
        indptr = np.zeros(dense.shape[1] + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=dense.shape[1]), out=indptr[1:])
        self.state = {"_shape": tuple(int(s) for s in dense.shape), "maxprint": 50,
                      "indices": _Py2Array(cols.astype(np.int32)),
                      "indptr": _Py2Array(indptr), "data": _Py2Array(dense.T[rows, cols])}


class _Py2Array:
    """Pickles a numpy array as Python 2 numpy did (raw data as a byte string)."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = np.ascontiguousarray(arr)


class _Py2Pickler(pickle._Pickler):
    """Python's pure pickler at protocol 2, writing text and objects the Python-2 way."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def _global(self, ref: _Global) -> None:
        self.write(pickle.GLOBAL + f"{ref.module}\n{ref.name}\n".encode("ascii"))

    def save_bytestring(self, data: bytes) -> None:
        """A Python-2 ``str``: SHORT_BINSTRING / BINSTRING (read back as latin-1 text)."""
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)

    def save_str(self, obj: str) -> None:
        self.save_bytestring(obj.encode("latin1"))
        self.memoize(obj)

    def save_dtype(self, dtype: np.dtype) -> None:
        """numpy.dtype(descr, 0, 1) then BUILD with the dtype's pickled state."""
        self._global(DTYPE)
        self.save_bytestring(dtype.str[1:].encode("ascii"))  # e.g. 'f8'
        self.save(0)
        self.save(1)
        self.write(pickle.TUPLE3 + pickle.REDUCE)
        self.save(dtype.__reduce__()[2])
        self.write(pickle.BUILD)

    def save_array(self, wrapped: _Py2Array) -> None:
        arr = wrapped.arr
        self._global(RECONSTRUCT)
        self._global(NDARRAY)
        self.save((0,))
        self.save_bytestring(b"b")
        self.write(pickle.TUPLE3 + pickle.REDUCE + pickle.MARK)
        self.save(1)
        self.save(tuple(int(s) for s in arr.shape))
        self.save_dtype(arr.dtype)
        self.save(False)
        self.save_bytestring(arr.tobytes())
        self.write(pickle.TUPLE + pickle.BUILD)

    def save_object(self, obj: _ChObject | _CscObject) -> None:
        """NEWOBJ of the official class with no arguments, then its attribute dict."""
        self._global(obj.cls)
        self.write(pickle.EMPTY_TUPLE + pickle.NEWOBJ)
        self.memoize(obj)
        self.save(obj.state)
        self.write(pickle.BUILD)

    dispatch[str] = save_str
    dispatch[_Py2Array] = save_array
    dispatch[_ChObject] = save_object
    dispatch[_CscObject] = save_object


def official_dict(arrays: Mapping[str, np.ndarray],
                  chumpy_keys: Iterable[str] = CHUMPY_KEYS) -> dict:
    """The official key set built from SMPL ``arrays`` (make_smpl_arrays layout), wrapped.

    ``arrays`` needs v_template, shapedirs, posedirs, J_regressor, weights, f, kintree_table.
    """
    chumpy_keys = set(chumpy_keys)
    v_template = np.asarray(arrays["v_template"], dtype=np.float64)
    regressor = np.asarray(arrays["J_regressor"], dtype=np.float64)
    num_verts = v_template.shape[0]
    plain = {
        "f": np.asarray(arrays["f"]).astype(np.uint32),
        "kintree_table": np.asarray(arrays["kintree_table"]).astype(np.int64),
        "J": regressor @ v_template,
        "weights_prior": np.asarray(arrays["weights"], dtype=np.float64),
        "weights": np.asarray(arrays["weights"], dtype=np.float64),
        "vert_sym_idxs": np.arange(num_verts, dtype=np.int64)[::-1].copy(),
        "posedirs": np.asarray(arrays["posedirs"], dtype=np.float64),
        "v_template": v_template,
        "shapedirs": np.asarray(arrays["shapedirs"], dtype=np.float64),
    }
    out: dict = {}
    for key in OFFICIAL_KEYS:
        if key in ("J_regressor", "J_regressor_prior"):
            out[key] = _CscObject(regressor)
        elif key == "pose_training_info":
            out[key] = {"comment": "synthetic", "num_poses": 1786, "version": "1.0.0"}
        elif key == "bs_style":
            out[key] = "lbs"
        elif key == "bs_type":
            out[key] = "lrotmin"
        else:
            value = plain[key]
            out[key] = _ChObject(value) if key in chumpy_keys else _Py2Array(value)
    return out


def write_smpl_pickle(path: str | Path, arrays: Mapping[str, np.ndarray],
                      chumpy_keys: Iterable[str] = CHUMPY_KEYS) -> Path:
    """Write an SMPL model pickle with the official structure; returns its path.

    ``arrays`` as from ``inference_server.synthetic.smpl_body.make_smpl_arrays(seed)``;
    ``chumpy_keys`` chooses which arrays are stored as chumpy objects.
    """
    path = Path(path)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=PROTOCOL).dump(official_dict(arrays, chumpy_keys))
    path.write_bytes(buf.getvalue())
    return path

