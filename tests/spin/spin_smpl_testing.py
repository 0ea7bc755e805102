"""Helpers of the SMPL pickle tests: small random SMPL arrays and hand-made pickles."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from glot_blender.core.smpl_skeleton import PARENTS

NUM_VERTS, NUM_FACES, NUM_JOINTS = 6890, 13776, 24
#: the root's parent as the official kintree_table stores it (uint32 -1)
ROOT_PARENT = 4294967295


def random_smpl_arrays(seed: int = 0, num_betas: int = 10) -> dict[str, np.ndarray]:
    """Arrays with the official shapes (make_smpl_arrays layout), random values."""
    rng = np.random.default_rng(seed)
    regressor = np.zeros((NUM_JOINTS, NUM_VERTS))
    for j in range(NUM_JOINTS):
        cols = rng.choice(NUM_VERTS, 8, replace=False)
        regressor[j, cols] = rng.dirichlet(np.ones(8))
    weights = rng.random((NUM_VERTS, NUM_JOINTS))
    return {
        "v_template": rng.normal(0.0, 0.3, (NUM_VERTS, 3)),
        "shapedirs": rng.normal(0.0, 0.01, (NUM_VERTS, 3, num_betas)),
        "posedirs": rng.normal(0.0, 0.001, (NUM_VERTS, 3, 207)),
        "J_regressor": regressor,
        "weights": weights / weights.sum(1, keepdims=True),
        "f": rng.integers(0, NUM_VERTS, (NUM_FACES, 3)),
        "kintree_table": np.array([[ROOT_PARENT, *PARENTS[1:]], list(range(NUM_JOINTS))],
                                  dtype=np.int64),
    }


class RunsShell:
    """Pickles as ``os.system(command)``: a file carrying it must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch "{self.marker}"',))


class RunsEval:
    """Pickles as ``builtins.eval(...)`` creating the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


class NamesAnotherClass:
    """Pickles as an instance of a class from an unrelated module (pathlib.PosixPath)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path, (str(self.marker),))


def write_pickle(path: Path, obj: object, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path
