"""GLoT: strict loading of official-layout checkpoints, exact fast inference, wrong files."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_glot import ReferenceGLoT

from inference_server.errors import ModelFileError
from inference_server.glot import GLoTModel, load_glot, window_indices
from inference_server.glot.model import KTD
from inference_server.synthetic.glot_files import GLOT_FILE_NAMES, write_glot_checkpoint

SPEC = Path(__file__).resolve().parents[3] / "shared" / "design" / "glot-reference.md"
TOL = 1e-5
VERTS_TOL = 1e-4


def _spec_keys() -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    pattern = re.compile(r"^((?:proj_short|proj_mem|local_|regressor\.|global_modeling\.)\S+)"
                         r"\s+\(([\d,]+)\)\s+(\w+)")
    for line in SPEC.read_text().splitlines():
        m = pattern.match(line)
        if m:
            rows.append((m.group(1), tuple(int(v) for v in m.group(2).split(",") if v), m.group(3)))
    return rows


def test_state_dict_matches_official_listing() -> None:
    if not SPEC.is_file():
        pytest.skip("the shared specification is not next to this checkout")
    spec = _spec_keys()
    assert len(spec) == 198
    mine = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch."))
            for k, v in GLoTModel().state_dict().items()]
    assert mine == spec


def test_official_file_names_load_strictly(tmp_path: Path, glot_checkpoint: Path) -> None:
    for name in GLOT_FILE_NAMES:
        path = tmp_path / name
        shutil.copy(glot_checkpoint, path)
        model = load_glot(path)
        assert not model.training
        state = torch.load(path, weights_only=False)["gen_state_dict"]
        assert len(state) == 198
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key]), key
    assert model.device == torch.device("cpu")


def _compare(model: GLoTModel, features: torch.Tensor) -> None:
    ref = ReferenceGLoT(model.state_dict()).run_track(features)
    fast = model.infer_track(features, with_verts=True)
    n = features.shape[0]
    assert fast.theta.shape == (n, 85) and fast.rotmat.shape == (n, 24, 3, 3)
    assert fast.kp_3d.shape == (n, 49, 3) and fast.verts.shape == (n, 6890, 3)
    assert fast.smpl_joints.shape == (n, 24, 3)
    for name in ("theta", "rotmat", "kp_3d", "smpl_joints"):
        torch.testing.assert_close(getattr(fast, name), ref[name], atol=TOL, rtol=0)
    torch.testing.assert_close(fast.verts, ref["verts"], atol=VERTS_TOL, rtol=0)
    lean = model.infer_track(features)
    assert lean.verts is None
    torch.testing.assert_close(lean.kp_3d, fast.kp_3d, atol=TOL, rtol=0)
    torch.testing.assert_close(lean.theta, fast.theta, atol=TOL, rtol=0)


def test_parity_40_frames(glot_model: GLoTModel) -> None:
    features = torch.rand(40, 2048, generator=torch.Generator().manual_seed(1))
    _compare(glot_model, features)


@pytest.mark.parametrize("n", [1, 7, 15, 16])
def test_parity_short_tracks(glot_model: GLoTModel, n: int) -> None:
    features = torch.rand(n, 2048, generator=torch.Generator().manual_seed(n))
    _compare(glot_model, features)


def test_small_chunks_give_same_result(glot_model: GLoTModel) -> None:
    features = torch.rand(30, 2048, generator=torch.Generator().manual_seed(5))
    a = glot_model.infer_track(features)
    b = glot_model.infer_track(features, chunk=7)
    torch.testing.assert_close(a.kp_3d, b.kp_3d, atol=TOL, rtol=0)


def test_outputs_vary_and_depend_on_neighbours(glot_model: GLoTModel) -> None:
    features = torch.rand(24, 2048, generator=torch.Generator().manual_seed(2))
    base = glot_model.infer_track(features).theta
    assert base[:, 3:75].std(0).mean() > 1e-3  # not a constant pose
    changed = features.clone()
    changed[12] = torch.rand(2048, generator=torch.Generator().manual_seed(9))
    moved = (glot_model.infer_track(changed).theta - base).abs().amax(1)
    # sliding frames 8..16 have frame 12 in their window; the static ones (0..7, 17..23) not
    assert moved[8:17].min() > 0
    assert moved[:8].max() == 0 and moved[17:].max() == 0


def test_window_indices_follow_the_demo() -> None:
    idx = window_indices(20)
    assert idx.shape == (20, 16)
    for t in range(8):
        assert (idx[t] == t).all()
    for t in range(13, 20):
        assert (idx[t] == t).all()
    for t in range(8, 13):
        assert idx[t].tolist() == list(range(t - 8, t + 8))
    assert (window_indices(15) == torch.arange(15)[:, None]).all()


def test_ktd_reads_overlapping_init_slices() -> None:
    ktd = KTD(hidden=4)
    with torch.no_grad():
        for reg in ktd.joint_regs:
            reg.weight.zero_()
            reg.bias.zero_()
            reg.weight[:, -6:] = torch.eye(6)
    init = torch.arange(144, dtype=torch.float32).reshape(1, 1, 144)
    out = ktd(torch.zeros(1, 1, 4), init)
    for j in range(24):
        assert out[0, 0, 6 * j:6 * j + 6].tolist() == list(range(j, j + 6))


def test_ktd_feeds_ancestor_outputs() -> None:
    ktd = KTD(hidden=4)
    with torch.no_grad():
        for reg in ktd.joint_regs:
            reg.weight.zero_()
            reg.bias.fill_(1.0)
            reg.weight[:, 4:-6] = 1.0 / 6   # sum of the ancestors' (6-d) outputs / 6 per row
    out = ktd(torch.zeros(1, 1, 4), torch.zeros(1, 1, 144)).reshape(24, 6)[:, 0]
    assert out[0] == 1.0 and out[1] == 2.0 and out[4] == 4.0   # 1, 1+1, 1+(1+2)


def test_h36m_regressor_gives_14_joints(glot_model: GLoTModel) -> None:
    from inference_server.synthetic.smpl_body import make_smpl_arrays

    reg = torch.as_tensor(make_smpl_arrays(0)["J_regressor_h36m"], dtype=torch.float32)
    features = torch.rand(18, 2048, generator=torch.Generator().manual_seed(3))
    full = glot_model.infer_track(features, with_verts=True)
    out = glot_model.infer_track(features, j_regressor_h36m=reg)
    assert out.kp_3d.shape == (18, 14, 3)
    expected = torch.einsum("jv,bvc->bjc", reg, full.verts)[:, [6, 5, 4, 1, 2, 3, 16, 15, 14,
                                                                 11, 12, 13, 8, 10]]
    torch.testing.assert_close(out.kp_3d, expected, atol=TOL, rtol=0)


def test_rest_joints_of_mean_shape(glot_model: GLoTModel) -> None:
    from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

    joints = glot_model.rest_joints(torch.zeros(2, 10))
    assert joints.shape == (2, 24, 3)
    np.testing.assert_allclose(joints[0].numpy(), DEFAULT_REST_JOINTS, atol=1e-5)


def test_bfloat16_option_runs_close(glot_model: GLoTModel) -> None:
    features = torch.rand(20, 2048, generator=torch.Generator().manual_seed(4))
    exact = glot_model.infer_track(features)
    low = glot_model.infer_track(features, precision="bfloat16")
    assert low.theta.dtype == torch.float32
    assert (low.theta - exact.theta).abs().max() < 0.1
    with pytest.raises(ValueError):
        glot_model.infer_track(features, precision="int8")


def test_bad_feature_shape(glot_model: GLoTModel) -> None:
    with pytest.raises(ValueError, match="2048"):
        glot_model.infer_track(torch.zeros(10, 512))


# --- wrong files ---

def test_spin_file_given_as_glot(tmp_path: Path) -> None:
    path = tmp_path / "spin_model_checkpoint.pth.tar"
    torch.save({"model": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, path)
    with pytest.raises(ModelFileError) as err:
        load_glot(path)
    assert "SPIN checkpoint ('model' key)" in str(err.value) and str(path) in str(err.value)


def test_truncated_glot_file(tmp_path: Path, glot_checkpoint: Path) -> None:
    path = tmp_path / "table1_3dpw_weights.pth.tar"
    path.write_bytes(glot_checkpoint.read_bytes()[:5_000_000])
    with pytest.raises(ModelFileError, match="truncated"):
        load_glot(path)


def test_state_dict_of_another_model(tmp_path: Path) -> None:
    path = tmp_path / "table1_3dpw_weights.pth.tar"
    other = torch.nn.Sequential(torch.nn.Linear(2048, 512), torch.nn.Linear(512, 85))
    torch.save({"epoch": 1, "gen_state_dict": other.state_dict()}, path)
    with pytest.raises(ModelFileError) as err:
        load_glot(path)
    msg = str(err.value)
    assert "198 expected keys are missing" in msg and "4 keys are unknown" in msg
    assert "\n" not in msg and len(msg) < 400


def test_checkpoint_with_wrong_shapes(tmp_path: Path, glot_checkpoint: Path) -> None:
    ckpt = torch.load(glot_checkpoint, weights_only=False)
    ckpt["gen_state_dict"]["proj_short.weight"] = torch.zeros(512, 2048)
    path = tmp_path / "table1_3dpw_weights.pth.tar"
    torch.save(ckpt, path)
    with pytest.raises(ModelFileError, match=r"'proj_short.weight' \(512, 2048\) instead of"):
        load_glot(path)


def test_malicious_glot_file_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "created_by_pickle"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "table1_3dpw_weights.pth.tar"
    torch.save({"gen_state_dict": {}, "performance": Evil()}, path)
    with pytest.raises(ModelFileError, match="refused"):
        load_glot(path)
    assert not marker.exists()


def test_write_synthetic_models_layout(synthetic_models: Path) -> None:
    names = {p.name for p in synthetic_models.iterdir()}
    assert {"table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar", "SMPL_NEUTRAL.pkl",
            "J_regressor_extra.npy", "J_regressor_h36m.npy", "smpl_mean_params.npz"} <= names
    model = load_glot(synthetic_models / "table1_3dpw_weights.pth.tar")
    means = np.load(synthetic_models / "smpl_mean_params.npz")
    np.testing.assert_array_equal(model.global_modeling.regressor.init_pose[0].numpy(),
                                  means["pose"])
    extra = np.load(synthetic_models / "J_regressor_extra.npy")
    np.testing.assert_allclose(model.regressor.smpl.J_regressor_extra.numpy(), extra, atol=1e-7)


def test_synthetic_checkpoint_deterministic(tmp_path: Path, glot_checkpoint: Path) -> None:
    again = write_glot_checkpoint(tmp_path / "again.pth.tar", seed=0)
    a = torch.load(again, weights_only=False)["gen_state_dict"]
    b = torch.load(glot_checkpoint, weights_only=False)["gen_state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)
