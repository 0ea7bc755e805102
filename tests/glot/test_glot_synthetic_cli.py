"""``python -m inference_server.synthetic DIR``: a real subprocess writing every model file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np


def test_command_writes_all_files(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "models"
    proc = subprocess.run([sys.executable, "-m", "inference_server.synthetic", str(out),
                           "--seed", "1"], check=False, cwd=repo_root, capture_output=True, text=True,
                          timeout=120, env={"PATH": "", "OMP_NUM_THREADS": "1",
                                            "PYTHONPATH": str(repo_root)})
    assert proc.returncode == 0, proc.stderr
    for name in ("table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar",
                 "SMPL_NEUTRAL.pkl", "J_regressor_extra.npy", "J_regressor_h36m.npy",
                 "smpl_mean_params.npz"):
        assert (out / name).stat().st_size > 0, name
        assert name in proc.stdout
    means = np.load(out / "smpl_mean_params.npz")
    assert means["pose"].shape == (144,) and means["shape"].shape == (10,)
    assert means["cam"].shape == (3,)
    assert np.load(out / "J_regressor_h36m.npy").shape == (17, 6890)


def test_smpl_pickle_and_checkpoint_carry_the_same_body(synthetic_models: Path) -> None:
    from glot_blender.core.smpl_pickle import load_smpl_pickle
    from inference_server.glot import load_glot

    body = load_smpl_pickle(synthetic_models / "SMPL_NEUTRAL.pkl")
    smpl = load_glot(synthetic_models / "table1_3dpw_weights.pth.tar").regressor.smpl
    np.testing.assert_array_equal(body.v_template.astype(np.float32), smpl.v_template.numpy())
    np.testing.assert_array_equal(body.J_regressor.astype(np.float32), smpl.J_regressor.numpy())
    np.testing.assert_array_equal(np.asarray(body.faces), smpl.faces_tensor.numpy())
    np.testing.assert_array_equal(np.asarray(body.parents)[1:], smpl.parents.numpy()[1:])
    posedirs = body.posedirs.astype(np.float32).reshape(-1, 207).T
    np.testing.assert_array_equal(posedirs, smpl.posedirs.numpy())
