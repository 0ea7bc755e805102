"""Loading model files without running pickled code, and explaining what is wrong with them.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers; on top of
PyTorch's own list we allow exactly the extra types the official GLoT/SPIN checkpoints need:
numpy scalars (the GLoT checkpoint's ``performance`` value may be one) and the numpy dtypes
they refer to. Anything else a file asks for (``os.system``, a class, a function) makes the
load fail before any of it runs, and the user gets one sentence naming the file.

Helpers also name the kind of a checkpoint ("a SPIN checkpoint ('model' key)") and summarise
a state_dict that does not fit a module in one sentence (counts and two examples).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from inference_server.errors import ModelFileError

#: top-level keys that identify a checkpoint's kind, in the order they are checked
KNOWN_CHECKPOINT_KEYS: tuple[tuple[str, str], ...] = (
    ("gen_state_dict", "a GLoT checkpoint"),
    ("model", "a SPIN checkpoint"),
    ("state_dict", "a generic training checkpoint"),
)

#: how many example keys a mismatch message names
MISMATCH_EXAMPLES = 2


def _numpy_allowlist() -> list:
    """numpy scalar reconstruction and the dtypes scalars in the official files can carry."""
    scalar = np.core.multiarray.scalar
    allowed: list = [scalar, (scalar, "numpy._core.multiarray.scalar"), np.dtype]
    for name in ("float64", "float32", "float16", "int64", "int32", "bool_"):
        allowed.append(type(np.dtype(getattr(np, name))))
    return allowed


#: the extra globals (beyond PyTorch's weights-only defaults) a model file may reference
SAFE_GLOBALS: tuple = tuple(_numpy_allowlist())


def _first_line(text: str) -> str:
    """The most telling line of a torch/pickle error message."""
    for marker in ("GLOBAL", "Can only build", "Unsupported operand"):
        for line in text.splitlines():
            if marker in line:
                return line.strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else text


def _refused_global(text: str) -> str | None:
    """Name of the global a weights-only load refused, if the message says so."""
    match = re.search(r"GLOBAL\s+([\w.]+)", text) or re.search(r"but got <class '([\w.]+)'>", text)
    return match.group(1) if match else None


def safe_torch_load(path: str | Path, *, what: str) -> object:
    """torch.load(weights_only=True, map_location="cpu") with our allowlist.

    Raises ModelFileError (naming the file and ``what`` it should be) when the file is missing,
    unreadable, truncated, or asks to run code or build a type that is not allowlisted.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"The {what} file {path} does not exist: put the file there or "
                             "point the models folder at the folder that holds it.")
    if path.stat().st_size == 0:
        raise ModelFileError(f"The {what} file {path} is empty: download it again.")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_global(str(exc))
        if refused:
            raise ModelFileError(
                f"The {what} file {path} was refused: it asks to load '{refused}', which a "
                "plain weights file never needs (it may try to run code); use the official file."
            ) from None
        raise ModelFileError(f"The {what} file {path} is damaged or not a PyTorch checkpoint "
                             f"({_first_line(str(exc))}): download it again.") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ModelFileError(
            f"The {what} file {path} could not be read (truncated or not a PyTorch checkpoint: "
            f"{_first_line(str(exc))[:160]}): download it again."
        ) from None


def describe_checkpoint(obj: object) -> str:
    """A short description of what a loaded checkpoint holds (for error messages)."""
    if not isinstance(obj, Mapping):
        return f"a {type(obj).__name__}, not a dictionary"
    for key, kind in KNOWN_CHECKPOINT_KEYS:
        if key in obj:
            return f"{kind} ('{key}' key)"
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        example = next(iter(obj))
        return f"a bare state_dict of {len(obj)} tensors (e.g. '{example}')"
    keys = ", ".join(repr(k) for k in list(obj)[:4])
    return f"a dictionary with keys {keys}" if keys else "an empty dictionary"


def load_checkpoint(path: str | Path, *, what: str, required_key: str) -> dict:
    """Load a checkpoint dict safely and check it holds ``required_key``.

    ``what`` names the expected file for messages, e.g. "GLoT checkpoint". Raises
    ModelFileError with one sentence naming the file and the problem.
    """
    obj = safe_torch_load(path, what=what)
    if isinstance(obj, Mapping) and required_key in obj:
        return dict(obj)
    raise ModelFileError(
        f"The file {path} holds {describe_checkpoint(obj)}, not a {what} "
        f"('{required_key}' key): check that the right file is in place."
    )


def summarize_mismatch(missing: list[str], unexpected: list[str],
                       wrong_shape: list[tuple[str, tuple, tuple]]) -> str:
    """One clause describing how a state_dict differs from a module (counts + examples)."""
    parts = []
    if missing:
        ex = ", ".join(f"'{k}'" for k in missing[:MISMATCH_EXAMPLES])
        parts.append(f"{len(missing)} expected keys are missing (e.g. {ex})")
    if unexpected:
        ex = ", ".join(f"'{k}'" for k in unexpected[:MISMATCH_EXAMPLES])
        parts.append(f"{len(unexpected)} keys are unknown (e.g. {ex})")
    if wrong_shape:
        ex = ", ".join(f"'{k}' {tuple(got)} instead of {tuple(want)}"
                       for k, got, want in wrong_shape[:MISMATCH_EXAMPLES])
        parts.append(f"{len(wrong_shape)} tensors have the wrong shape (e.g. {ex})")
    return "; ".join(parts)


def check_state_dict(module: torch.nn.Module, state: Mapping, *, path: str | Path,
                     what: str, ignore_unexpected: tuple[str, ...] = ()) -> None:
    """Raise ModelFileError unless ``state`` fits ``module`` exactly (keys and shapes).

    Keys starting with one of ``ignore_unexpected`` may be present without a counterpart.
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise ModelFileError(f"The {what} file {path} does not hold a state_dict of tensors: "
                             "check that the right file is in place.")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own and not k.startswith(ignore_unexpected)]
    wrong = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ModelFileError(
            f"The {what} file {path} does not fit the {what} network: "
            f"{summarize_mismatch(missing, unexpected, wrong)}; is it a {what} file?"
        )
