"""Synthetic model files with the official names and layouts, random weights.

Used by the tests and by anyone who wants to try the tool without the real (licensed) files:
``python -m inference_server.synthetic DIR`` (or ``glot-mocap synth-models DIR``). The outputs
are random: poses come out plausible-looking at best, never meaningful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference_server.synthetic.glot_files import (
    GLOT_FILE_NAMES,
    write_glot_checkpoint,
    write_mean_params,
)
from inference_server.synthetic.smpl_body import make_smpl_arrays
from inference_server.synthetic.smpl_files import write_smpl_pickle
from inference_server.synthetic.spin_files import write_spin_checkpoint

SPIN_FILE_NAME = "spin_model_checkpoint.pth.tar"
SMPL_FILE_NAME = "SMPL_NEUTRAL.pkl"
MEAN_PARAMS_FILE_NAME = "smpl_mean_params.npz"
EXTRA_REGRESSOR_FILE_NAME = "J_regressor_extra.npy"
H36M_REGRESSOR_FILE_NAME = "J_regressor_h36m.npy"


def write_synthetic_models(folder: str | Path, seed: int = 0,
                           glot_names: tuple[str, ...] = GLOT_FILE_NAMES[:1]) -> dict[str, Path]:
    """Write every model file (official names) into ``folder``; returns {file name: path}.

    Files: the GLoT checkpoint(s) ``glot_names`` (default ``table1_3dpw_weights.pth.tar``),
    ``spin_model_checkpoint.pth.tar``, ``SMPL_NEUTRAL.pkl`` (same SMPL arrays as the GLoT
    checkpoint's buffers), ``J_regressor_extra.npy``, ``J_regressor_h36m.npy``,
    ``smpl_mean_params.npz``. Deterministic for ``seed``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = make_smpl_arrays(seed)
    written: dict[str, Path] = {}
    for name in glot_names:
        written[name] = write_glot_checkpoint(folder / name, seed, arrays)
    write_spin_checkpoint(folder / SPIN_FILE_NAME, seed)
    written[SPIN_FILE_NAME] = folder / SPIN_FILE_NAME
    write_smpl_pickle(folder / SMPL_FILE_NAME, arrays)
    written[SMPL_FILE_NAME] = folder / SMPL_FILE_NAME
    written[MEAN_PARAMS_FILE_NAME] = write_mean_params(folder / MEAN_PARAMS_FILE_NAME, seed)
    for name, key in ((EXTRA_REGRESSOR_FILE_NAME, "J_regressor_extra"),
                      (H36M_REGRESSOR_FILE_NAME, "J_regressor_h36m")):
        np.save(folder / name, np.asarray(arrays[key], dtype=np.float64))
        written[name] = folder / name
    return written
