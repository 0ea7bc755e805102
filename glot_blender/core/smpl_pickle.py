"""Reading official SMPL model pickles without chumpy, scipy or any pickled code (numpy only).

The official SMPL files (``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``, ``SMPL_NEUTRAL.pkl``,
...) are Python-2 pickles of a dict whose arrays are partly chumpy objects (``chumpy.ch.Ch``)
and whose joint regressor is a ``scipy.sparse.csc_matrix``. chumpy does not import on current
Python/numpy, and a plain ``pickle.load`` would run whatever a file names. Here a restricted
unpickler resolves only:

- numpy array and dtype reconstruction (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``);
- chumpy classes (module ``chumpy`` or ``chumpy.*``) -> a data-only stand-in whose value is
  the pickled ``x`` array (the plain ``Ch`` arrays the official files hold);
- ``scipy.sparse`` CSC matrices -> a data-only stand-in rebuilt densely from
  ``data``/``indices``/``indptr``/``shape``;
- the few builtins Python-2 pickles of those use (``set``, ``copy_reg._reconstructor`` for the
  stand-ins only, ``_codecs.encode`` for latin-1 text only).

Every other class or function a file names is refused with :class:`SMPLPickleError` before
anything is called. The result is checked to be an SMPL body (6890 vertices, 24 joints, 10
shape and 207 pose blend shapes) and returned as :class:`SMPLModelData`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

try:  # numpy >= 1.26 / 2.x
    from numpy._core import multiarray as _multiarray
except ImportError:  # older numpy
    from numpy.core import multiarray as _multiarray

NUM_VERTS = 6890
NUM_FACES = 13776
NUM_JOINTS = 24
NUM_BETAS = 10
NUM_POSE_BASIS = 207
#: the keys an SMPL model dict must hold to build a body
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f",
                 "kintree_table")
#: text encoding of the Python-2 str objects in the official pickles
PICKLE_ENCODING = "latin1"


class SMPLPickleError(ValueError):
    """An SMPL pickle is missing, damaged, unsafe, or not an SMPL model; the message says which."""


@dataclass(frozen=True)
class SMPLModelData:
    """The arrays of an SMPL body model (numpy).

    v_template (6890,3) float64 rest vertices, metres; shapedirs (6890,3,10) float64;
    posedirs (6890,3,207) float64; J_regressor (24,6890) float32 dense; weights (6890,24)
    float64 skinning weights; faces (13776,3) int64; parents (24,) int64, -1 for the root.
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    faces: np.ndarray
    parents: np.ndarray


# --------------------------------------------------------------------------- stand-ins


class _RefusedGlobal(Exception):
    """Raised inside the unpickler; turned into SMPLPickleError with the file's name."""


class ChumpyStandIn:
    """Holds the pickled state of a chumpy object; never runs any chumpy code."""

    #: the chumpy class this stand-in replaces (set per class by the unpickler)
    class_name = "chumpy.ch.Ch"
    #: the pickled attribute dict (set by unpickling)
    state: ClassVar[dict] = {}  # replaced per instance by __setstate__, never mutated

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {}

    def value(self) -> np.ndarray:
        x = self.state.get("x")
        if not isinstance(x, np.ndarray):
            raise TypeError(f"a chumpy object ({self.class_name}) without a plain array value")
        return x


#: the largest dense matrix a sparse one may turn into (SMPL's J_regressor is 24 x 6890)
MAX_DENSE_VALUES = 64 * 10_475


class SparseStandIn:
    """Holds the pickled state of a scipy CSC matrix; :meth:`value` rebuilds it densely."""
    #: the pickled attribute dict (set by unpickling)
    state: ClassVar[dict] = {}  # replaced per instance by __setstate__, never mutated

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {}

    def value(self, expected: tuple[int, int] | None = None) -> np.ndarray:
        """The dense matrix; TypeError when its claimed shape is not ``expected`` (checked
        before anything is allocated: a claim of 10^12 rows costs nothing)."""
        st = self.state
        shape = st.get("_shape", st.get("shape"))
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"a sparse matrix with the shape {str(shape)[:40]}") from None
        if expected is not None and shape != tuple(expected):
            raise TypeError(f"a sparse matrix of shape {shape}, expected {tuple(expected)}")
        if len(shape) != 2 or min(shape) < 0 or shape[0] * shape[1] > MAX_DENSE_VALUES:
            raise TypeError(f"a sparse matrix of shape {shape}, too large to be an SMPL regressor")
        data, indices, indptr = (np.asarray(st.get(k)) for k in ("data", "indices", "indptr"))
        if shape is None or len(shape) != 2 or indptr.ndim != 1 or indptr.size != shape[1] + 1 \
                or data.size != indices.size or indptr[-1] != data.size:
            raise TypeError("a sparse matrix whose data/indices/indptr/shape do not agree")
        if indices.size and (indices.min() < 0 or indices.max() >= shape[0]):
            raise TypeError("a sparse matrix with row indices out of range")
        dense = np.zeros((int(shape[0]), int(shape[1])), dtype=np.float64)
        cols = np.repeat(np.arange(int(shape[1])), np.diff(indptr.astype(np.int64)))
        np.add.at(dense, (indices.astype(np.int64), cols), data.astype(np.float64))
        return dense


STAND_INS = (ChumpyStandIn, SparseStandIn)


def _safe_reconstructor(cls: type, base: type, state: Any) -> object:
    """``copy_reg._reconstructor`` (protocol 0/1 pickles), for the stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, STAND_INS)) or base is not object \
            or state is not None:
        raise _RefusedGlobal(f"copy_reg._reconstructor of {getattr(cls, '__name__', cls)}")
    return object.__new__(cls)


def _latin1_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes at protocol 2 (latin-1 text only)."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise _RefusedGlobal(f"_codecs.encode with the {encoding!r} codec (only latin-1 text)")
    return text.encode("latin1")


#: exactly the globals an SMPL pickle may name (module, name) -> object
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("copy_reg", "_reconstructor"): _safe_reconstructor,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("_codecs", "encode"): _latin1_encode,
}
#: scipy sparse classes read as dense arrays
SPARSE_CLASSES = frozenset({
    ("scipy.sparse.csc", "csc_matrix"), ("scipy.sparse._csc", "csc_matrix"),
    ("scipy.sparse._csc", "csc_array"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only :data:`SAFE_GLOBALS`, chumpy and CSC stand-ins."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if (module, name) in SPARSE_CLASSES:
            return SparseStandIn
        if (module == "chumpy" or module.startswith("chumpy.")) and name.isidentifier():
            return type(name, (ChumpyStandIn,), {"class_name": f"{module}.{name}"})
        raise _RefusedGlobal(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _RefusedGlobal("a persistent reference")


# --------------------------------------------------------------------------- loading


def _unpickle(path: Path) -> Any:
    if not path.is_file():
        raise SMPLPickleError(f"The SMPL model file {path} does not exist: put the official "
                              "SMPL pickle there or choose its location in the preferences.")
    try:
        with path.open("rb") as fh:
            return RestrictedUnpickler(fh, encoding=PICKLE_ENCODING).load()
    except _RefusedGlobal as exc:
        raise SMPLPickleError(
            f"The SMPL model file {path} was refused: it names '{exc}', which an SMPL model "
            "never needs (it may try to run code); use the official SMPL pickle.") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, OverflowError, UnicodeError) as exc:
        raise SMPLPickleError(f"The SMPL model file {path} is damaged or not a pickle "
                              f"({type(exc).__name__}: {str(exc)[:120]}): download it again.") \
            from None


def _plain(value: Any, expected: tuple[int, ...] | None = None) -> Any:
    """Stand-ins -> numpy arrays (a sparse one only when it claims the ``expected`` shape);
    anything else unchanged."""
    if isinstance(value, SparseStandIn):
        return value.value(expected if expected is not None and len(expected) == 2 else None)
    if isinstance(value, STAND_INS):
        return value.value()
    return value


def _array(model: dict, key: str, shape: tuple[int, ...], path: Path, dtype: type) -> np.ndarray:
    """``model[key]`` as a numpy array of ``shape`` (last dim of shapedirs may be longer)."""
    try:
        arr = np.asarray(_plain(model[key], shape))
    except TypeError as exc:
        raise SMPLPickleError(f"{path} is not an SMPL model file: '{key}' is {exc}.") from None
    if key == "shapedirs" and arr.ndim == 3 and arr.shape[:2] == shape[:2] \
            and arr.shape[2] >= shape[2]:
        arr = arr[:, :, : shape[2]]  # SMPL 1.1 files carry 300 shape components
    if arr.shape != shape or not np.issubdtype(arr.dtype, np.number):
        raise SMPLPickleError(f"{path} is not an SMPL model file: '{key}' has shape "
                              f"{arr.shape} ({arr.dtype}), expected {shape}.")
    if np.issubdtype(np.dtype(dtype), np.floating) and not np.isfinite(arr).all():
        raise SMPLPickleError(f"{path} is not a usable SMPL model file: '{key}' holds "
                              "non-finite values.")
    return np.ascontiguousarray(arr, dtype=dtype)


def _parents(kintree: np.ndarray, path: Path) -> np.ndarray:
    """kintree_table (2,24) -> parents (24,) with -1 for the root (official root: 2**32-1)."""
    parents = kintree[0].astype(np.int64)
    order = kintree[1].astype(np.int64)
    if not np.array_equal(order, np.arange(NUM_JOINTS)):
        raise SMPLPickleError(f"{path} is not an SMPL model file: its kintree_table does not "
                              "list joints 0..23 in order.")
    parents[0] = -1
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, NUM_JOINTS)):
        raise SMPLPickleError(f"{path} is not an SMPL model file: its kintree_table has a "
                              "joint whose parent does not come before it.")
    return parents


def load_smpl_pickle(path: str | Path) -> SMPLModelData:
    """Read an official SMPL model pickle safely; see the module docstring.

    Raises SMPLPickleError (naming the file) for a missing, damaged or unsafe file, or one
    that is not an SMPL body model (wrong keys or shapes, e.g. an SMPL-X file).
    """
    path = Path(path)
    model = _unpickle(path)
    if not isinstance(model, dict):
        raise SMPLPickleError(f"{path} is not an SMPL model file: it holds a "
                              f"{type(model).__name__}, not a dictionary of arrays.")
    missing = [k for k in REQUIRED_KEYS if k not in model]
    if missing:
        raise SMPLPickleError(f"{path} is not an SMPL model file: it lacks "
                              f"{', '.join(repr(k) for k in missing)}.")
    f64 = np.float64
    return SMPLModelData(
        v_template=_array(model, "v_template", (NUM_VERTS, 3), path, f64),
        shapedirs=_array(model, "shapedirs", (NUM_VERTS, 3, NUM_BETAS), path, f64),
        posedirs=_array(model, "posedirs", (NUM_VERTS, 3, NUM_POSE_BASIS), path, f64),
        J_regressor=_array(model, "J_regressor", (NUM_JOINTS, NUM_VERTS), path, np.float32),
        weights=_array(model, "weights", (NUM_VERTS, NUM_JOINTS), path, f64),
        faces=_faces(model, path),
        parents=_parents(_array(model, "kintree_table", (2, NUM_JOINTS), path, np.int64), path),
    )


def _faces(model: dict, path: Path) -> np.ndarray:
    faces = _array(model, "f", (NUM_FACES, 3), path, np.int64)
    if faces.min() < 0 or faces.max() >= NUM_VERTS:
        raise SMPLPickleError(f"{path} is not an SMPL model file: its faces index vertices "
                              f"outside 0..{NUM_VERTS - 1}.")
    return faces
