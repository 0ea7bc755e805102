"""SPIN ResNet-50 feature extractor: official layout, strict loading, folded = plain, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from inference_server import spin
from inference_server.errors import ModelFileError

#: tolerance of the fast extractor against the plain eval-mode forward (the issue's 1e-4)
FEATURE_TOL = 1e-4

HEAD_SHAPES = {
    "fc1.weight": (1024, 2205), "fc1.bias": (1024,), "fc2.weight": (1024, 1024),
    "fc2.bias": (1024,), "decpose.weight": (144, 1024), "decpose.bias": (144,),
    "decshape.weight": (10, 1024), "decshape.bias": (10,), "deccam.weight": (3, 1024),
    "deccam.bias": (3,), "init_pose": (1, 144), "init_shape": (1, 10), "init_cam": (1, 3),
}


def _crops(n: int, seed: int) -> torch.Tensor:
    """ImageNet-normalised-like crops: smooth random images, values around [-2, 2.5]."""
    gen = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, 28, 28, generator=gen)
    img = torch.nn.functional.interpolate(small, size=(224, 224), mode="bilinear",
                                          align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return (img - mean) / std


def _save_model(path: Path, state: dict) -> Path:
    torch.save({"model": state, "epoch": 1}, path)
    return path


# --------------------------------------------------------------------------- layout


def test_synthetic_file_has_the_official_layout(spin_checkpoint: Path) -> None:
    ckpt = torch.load(spin_checkpoint, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"model", "optimizer", "epoch", "batch_idx", "batch_size",
                         "total_step_count"}
    state = ckpt["model"]
    assert len(state) == 331
    assert not any(k.startswith("smpl.") for k in state)
    backbone = spin.build_plain_resnet().state_dict()
    assert set(state) == set(backbone) | set(HEAD_SHAPES)
    for key, shape in HEAD_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    for key, value in backbone.items():
        assert state[key].shape == value.shape and state[key].dtype == value.dtype, key
    assert list(state)[:3] == ["init_pose", "init_shape", "init_cam"]  # root buffers first


def test_backbone_structure_matches_torchvision_v15() -> None:
    net = spin.build_plain_resnet()
    assert [len(s) for s in net.stages()] == [3, 4, 6, 3]
    block = net.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)  # stride on the 3x3
    assert block.downsample[0].stride == (2, 2)
    assert net.layer1[0].downsample is not None and net.layer1[1].downsample is None
    assert isinstance(net.avgpool, torch.nn.AvgPool2d) and net.avgpool.kernel_size == 7
    assert sum(p.numel() for p in net.parameters()) == 23_508_032  # ResNet-50 without fc


# --------------------------------------------------------------------------- loading


def test_strict_loading_keeps_every_backbone_value(spin_checkpoint: Path, spin_state: dict,
                                                   plain_extractor) -> None:
    assert not plain_extractor.training
    loaded = plain_extractor.state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, spin_state[key]), key


def test_fast_matches_plain_forward(plain_extractor, fast_extractor) -> None:
    crops = _crops(3, seed=1)
    with torch.inference_mode():
        ref = plain_extractor(crops)
    out = fast_extractor(crops)
    assert out.shape == (3, spin.FEATURE_DIM) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert (out - ref).abs().max().item() < FEATURE_TOL
    # the synthetic BatchNorm statistics keep features at a sane scale, varying per crop
    assert 0.01 < ref.std().item() < 10.0 and ref.abs().max().item() < 100.0
    assert (ref[0] - ref[1]).abs().max().item() > 1e-3


def test_fast_extractor_is_batch_independent(fast_extractor) -> None:
    crops = _crops(3, seed=2)
    whole = fast_extractor(crops)
    parts = torch.cat([fast_extractor(crops[:1]), fast_extractor(crops[1:])])
    assert (whole - parts).abs().max().item() < FEATURE_TOL


def test_fast_extractor_has_no_batchnorm_left(fast_extractor) -> None:
    kinds = {type(m) for m in fast_extractor.modules()}
    assert torch.nn.BatchNorm2d not in kinds
    convs = [m for m in fast_extractor.modules() if isinstance(m, spin.FoldedConv)]
    assert len(convs) == 53  # 1 stem + 16 blocks x 3 + 4 downsamples
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert not any(p.requires_grad for p in fast_extractor.parameters())


def test_fold_batchnorm_is_exact_on_one_layer() -> None:
    gen = torch.Generator().manual_seed(3)
    conv = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
    bn = torch.nn.BatchNorm2d(16).eval()
    with torch.no_grad():
        conv.weight.normal_(0, 0.3, generator=gen)
        bn.weight.uniform_(0.2, 3.0, generator=gen)
        bn.bias.normal_(0, 1.0, generator=gen)
        bn.running_mean.normal_(0, 2.0, generator=gen)
        bn.running_var.uniform_(0.01, 4.0, generator=gen)
    x = torch.randn(2, 8, 15, 15, generator=gen)
    with torch.no_grad():
        ref = bn(conv(x))
        out = spin.FoldedConv(conv, bn)(x)
    assert (out - ref).abs().max().item() < 1e-6 * ref.abs().max().item()  # float32 rounding


def test_crops_of_another_size_are_refused(fast_extractor) -> None:
    with pytest.raises(ValueError, match="224"):
        fast_extractor(torch.zeros(1, 3, 256, 256))


def test_unknown_precision_is_refused(spin_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        spin.load_feature_extractor(spin_checkpoint, precision="int8")


def test_bfloat16_precision_stays_close(plain_extractor, spin_state: dict,
                                        tmp_path: Path) -> None:
    """The documented speed/exactness trade (meant for GPUs) runs and stays in the ballpark."""
    net = spin.build_plain_resnet()
    net.load_state_dict(plain_extractor.state_dict())
    fast = spin.fuse_resnet(net.eval(), "cpu", precision="bfloat16")
    crops = _crops(1, seed=4)
    with torch.inference_mode():
        ref = plain_extractor(crops)
    out = fast(crops)
    assert out.dtype == torch.float32
    rel = ((out - ref).norm() / ref.norm()).item()
    assert 0.0 < rel < 0.1


# --------------------------------------------------------------------------- wrong files


def test_glot_checkpoint_given_as_spin(tmp_path: Path) -> None:
    from inference_server.synthetic.glot_files import write_glot_checkpoint

    path = write_glot_checkpoint(tmp_path / "table1_3dpw_weights.pth.tar", seed=0)
    with pytest.raises(ModelFileError) as info:
        spin.load_feature_extractor(path)
    msg = str(info.value)
    assert str(path) in msg and "GLoT" in msg and "SPIN" in msg
    assert "\n" not in msg


def test_missing_backbone_key(tmp_path: Path, spin_state: dict) -> None:
    state = dict(spin_state)
    del state["layer3.2.conv2.weight"]
    path = _save_model(tmp_path / "spin.pth.tar", state)
    with pytest.raises(ModelFileError) as info:
        spin.load_feature_extractor(path)
    msg = str(info.value)
    assert str(path) in msg and "layer3.2.conv2.weight" in msg and "missing" in msg


def test_wrong_shape(tmp_path: Path, spin_state: dict) -> None:
    state = dict(spin_state)
    state["layer4.0.conv1.weight"] = torch.zeros(512, 512, 1, 1)
    path = _save_model(tmp_path / "spin.pth.tar", state)
    with pytest.raises(ModelFileError, match=r"layer4\.0\.conv1\.weight.*\(512, 512, 1, 1\)"):
        spin.load_feature_extractor(path)


def test_unknown_keys_are_not_ignored(tmp_path: Path, spin_state: dict) -> None:
    state = dict(spin_state)
    state["smpl.v_template"] = torch.zeros(6890, 3)
    path = _save_model(tmp_path / "spin.pth.tar", state)
    with pytest.raises(ModelFileError, match=r"1 keys are unknown \(e\.g\. 'smpl\.v_template'\)"):
        spin.load_feature_extractor(path)


def test_head_keys_are_optional_and_batch_counters_too(tmp_path: Path, spin_state: dict) -> None:
    state = {k: v for k, v in spin_state.items()
             if k not in spin.HEAD_KEYS and not k.endswith("num_batches_tracked")}
    path = _save_model(tmp_path / "spin_backbone_only.pth.tar", state)
    assert len(spin.backbone_state_dict(path)) == 265


def test_state_dict_of_another_model(tmp_path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    path = _save_model(tmp_path / "other.pth.tar", other.state_dict())
    with pytest.raises(ModelFileError) as info:
        spin.load_feature_extractor(path)
    msg = str(info.value)
    assert str(path) in msg and "missing" in msg and "unknown" in msg and len(msg) < 500


def test_non_finite_weights(tmp_path: Path, spin_state: dict) -> None:
    state = dict(spin_state)
    bad = state["layer1.0.bn1.running_var"].clone()
    bad[3] = float("nan")
    state["layer1.0.bn1.running_var"] = bad
    path = _save_model(tmp_path / "spin.pth.tar", state)
    with pytest.raises(ModelFileError, match="non-finite"):
        spin.load_feature_extractor(path)


def test_truncated_file(tmp_path: Path, spin_checkpoint: Path) -> None:
    path = tmp_path / "spin_model_checkpoint.pth.tar"
    with spin_checkpoint.open("rb") as fh:
        path.write_bytes(fh.read(3_000_000))
    with pytest.raises(ModelFileError) as info:
        spin.load_feature_extractor(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "spin_model_checkpoint.pth.tar"
    with pytest.raises(ModelFileError, match="does not exist"):
        spin.load_feature_extractor(path)


class _RunsCode:
    """Pickles as a call of os.system (what a malicious checkpoint would carry)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch "{self.marker}"',))


def test_checkpoint_that_runs_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "spin_model_checkpoint.pth.tar"
    torch.save({"model": {"conv1.weight": torch.zeros(1)}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(ModelFileError) as info:
        spin.load_feature_extractor(path)
    assert str(path) in str(info.value) and "system" in str(info.value)
    assert not marker.exists()


def test_benchmark_measure_extractor_contract(spin_checkpoint: Path, repo_root: Path) -> None:
    """benchmarks/spin_features.measure_extractor (imported by benchmarks/glot_track.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "spin_features", repo_root / "benchmarks" / "spin_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.measure_extractor(batch=1, crops=2, checkpoint=spin_checkpoint, repeats=1)
    assert {"plain_crops_per_s", "fast_crops_per_s", "ratio", "max_abs_diff"} <= set(res)
    assert res["crops"] == 2 and res["plain_crops_per_s"] > 0 and res["fast_crops_per_s"] > 0
    assert res["max_abs_diff"] < FEATURE_TOL
