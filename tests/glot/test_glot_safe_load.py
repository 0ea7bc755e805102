"""Safe loading of model files: allowlist, wrong kinds, truncation, malicious pickles."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_server.errors import ModelFileError
from inference_server.safe_load import check_state_dict, load_checkpoint, safe_torch_load


class _Evil:
    """Unpickling this would create a file (it must never run)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _adam_state(params: list[torch.Tensor]) -> dict:
    opt = torch.optim.Adam(params, lr=1e-4)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    return opt.state_dict()


def test_official_layout_with_numpy_scalar_loads(tmp_path: Path) -> None:
    w = torch.nn.Parameter(torch.randn(3, 2))
    path = tmp_path / "table1_3dpw_weights.pth.tar"
    torch.save({"epoch": 12, "gen_state_dict": {"w": w.detach()},
                "performance": np.float64(50.6), "gen_optimizer": _adam_state([w])}, path)
    ckpt = load_checkpoint(path, what="GLoT checkpoint", required_key="gen_state_dict")
    assert ckpt["epoch"] == 12
    assert float(ckpt["performance"]) == pytest.approx(50.6)
    assert ckpt["gen_optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)


def test_legacy_format_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.pth.tar"
    torch.save({"model": {"conv1.weight": torch.ones(2)}}, path,
               _use_new_zipfile_serialization=False)
    ckpt = load_checkpoint(path, what="SPIN checkpoint", required_key="model")
    assert torch.equal(ckpt["model"]["conv1.weight"], torch.ones(2))


def test_spin_file_given_as_glot(tmp_path: Path) -> None:
    path = tmp_path / "spin_model_checkpoint.pth.tar"
    torch.save({"model": {"conv1.weight": torch.ones(1)}}, path)
    with pytest.raises(ModelFileError) as err:
        load_checkpoint(path, what="GLoT checkpoint", required_key="gen_state_dict")
    msg = str(err.value)
    assert "SPIN checkpoint ('model' key)" in msg and "'gen_state_dict'" in msg
    assert str(path) in msg and "\n" not in msg


def test_bare_state_dict_described(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    torch.save({"a.weight": torch.ones(1), "b.bias": torch.ones(1)}, path)
    with pytest.raises(ModelFileError, match="bare state_dict of 2 tensors"):
        load_checkpoint(path, what="GLoT checkpoint", required_key="gen_state_dict")


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        safe_torch_load(tmp_path / "nope.pth", what="GLoT checkpoint")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ModelFileError, match="is empty"):
        safe_torch_load(tmp_path / "empty.pth", what="GLoT checkpoint")


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_file(tmp_path: Path, legacy: bool) -> None:
    buf = io.BytesIO()
    torch.save({"gen_state_dict": {"w": torch.randn(64, 64)}}, buf,
               _use_new_zipfile_serialization=not legacy)
    data = buf.getvalue()
    path = tmp_path / "cut.pth.tar"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as err:
        load_checkpoint(path, what="GLoT checkpoint", required_key="gen_state_dict")
    assert str(path) in str(err.value) and "download it again" in str(err.value)
    assert "\n" not in str(err.value)


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "readme.pth.tar"
    path.write_text("<html>Google Drive: virus scan warning</html>")
    with pytest.raises(ModelFileError, match="could not be read|damaged"):
        safe_torch_load(path, what="GLoT checkpoint")


@pytest.mark.parametrize("container", ["pickle", "torch_zip"])
def test_malicious_pickle_refused_without_running(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "table1_3dpw_weights.pth.tar"
    payload = {"gen_state_dict": {"w": torch.ones(1)}, "performance": _Evil(str(marker))}
    if container == "pickle":  # a legacy-style plain pickle (no tensors: pickled inline)
        payload["gen_state_dict"] = {}
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
        assert zipfile.is_zipfile(path)
    with pytest.raises(ModelFileError) as err:
        load_checkpoint(path, what="GLoT checkpoint", required_key="gen_state_dict")
    assert not marker.exists()
    msg = str(err.value)
    assert "refused" in msg and "system" in msg and str(path) in msg


def test_other_model_state_dict_summarised(tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    other = {f"layer{i}.weight": torch.ones(2, 2) for i in range(30)}
    other["0.weight"] = torch.ones(5, 5)
    with pytest.raises(ModelFileError) as err:
        check_state_dict(module, other, path=tmp_path / "x.pth", what="GLoT checkpoint")
    msg = str(err.value)
    assert "3 expected keys are missing" in msg and "30 keys are unknown" in msg
    assert "1 tensors have the wrong shape" in msg and "(5, 5) instead of (3, 4)" in msg
    assert "\n" not in msg and msg.count("layer") <= 2
    check_state_dict(module, module.state_dict(), path="ok.pth", what="GLoT checkpoint")


def test_legacy_cuda_saved_checkpoint_loads_on_cpu(tmp_path: Path) -> None:
    """The released files were saved by PyTorch ~1.4 on a GPU (legacy format, cuda storages)."""
    buf = io.BytesIO()
    torch.save({"epoch": 3, "gen_state_dict": {"w": torch.arange(4.0)},
                "performance": np.float64(1.0)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    cpu_type, cpu_loc = b"ctorch\nFloatStorage\n", b"X\x03\x00\x00\x00cpu"
    assert data.count(cpu_type) == 1 and data.count(cpu_loc) == 1
    data = data.replace(cpu_type, b"ctorch.cuda\nFloatStorage\n")
    data = data.replace(cpu_loc, b"X\x06\x00\x00\x00cuda:0")
    path = tmp_path / "table1_3dpw_weights.pth.tar"
    path.write_bytes(data)
    ckpt = load_checkpoint(path, what="GLoT checkpoint", required_key="gen_state_dict")
    assert ckpt["gen_state_dict"]["w"].device.type == "cpu"
    assert ckpt["gen_state_dict"]["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
