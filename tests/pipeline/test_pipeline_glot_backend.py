"""The GLoT backend against the models it wraps (synthetic weights, real loading code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference_server.backends.base import TrackInput
from inference_server.backends.glot_backend import GlotBackend, track_confidence
from inference_server.crop import normalize_crops
from inference_server.registry import ModelRegistry


@pytest.fixture(scope="module")
def backend(synthetic_models: Path, low_threads: None) -> GlotBackend:
    return GlotBackend.from_registry(ModelRegistry(synthetic_models), "cpu")


def test_encode_crops_is_the_spin_extractor_on_normalised_crops(backend: GlotBackend) -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    feats = backend.encode_crops(crops)
    assert feats.shape == (3, 2048) and feats.dtype == np.float32
    with torch.inference_mode():
        ref = backend.extractor(torch.from_numpy(normalize_crops(crops))).numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-5)
    assert backend.encode_crops(crops[:0]).shape == (0, 2048)


def test_solve_track_unpacks_theta_and_rest_joints(backend: GlotBackend) -> None:
    n = 20
    feats = np.random.default_rng(1).normal(0, 1, (n, 2048)).astype(np.float32)
    filled = np.zeros(n, bool)
    filled[7:9] = True
    score = np.where(filled, 0.0, 0.9).astype(np.float32)
    track = TrackInput(3, np.arange(n), np.tile([[160.0, 120, 100, 100]], (n, 1)), feats, filled,
                       score)
    pose = backend.solve_track(track)
    ref = backend.model.infer_track(torch.from_numpy(feats))
    theta = ref.theta.numpy()
    np.testing.assert_allclose(pose.cam_crop, theta[:, :3], atol=1e-6)
    np.testing.assert_allclose(pose.global_orient, theta[:, 3:6], atol=1e-6)
    np.testing.assert_allclose(pose.body_pose, theta[:, 6:75], atol=1e-6)
    np.testing.assert_allclose(pose.betas, theta[:, 75:], atol=1e-6)
    np.testing.assert_allclose(pose.joints3d, ref.smpl_joints.numpy(), atol=1e-6)
    mean_betas = torch.from_numpy(theta[:, 75:].mean(0, keepdims=True))
    np.testing.assert_allclose(pose.rest_joints, backend.model.rest_joints(mean_betas)[0].numpy(),
                               atol=1e-6)
    assert pose.joints3d.shape == (n, 24, 3) and pose.rest_joints.shape == (24, 3)
    np.testing.assert_allclose(pose.confidence[~filled], 0.9)
    np.testing.assert_allclose(pose.confidence[filled], 0.45)


def test_checkpoint_hash_is_of_the_whole_file(backend: GlotBackend, synthetic_models: Path) -> None:
    import hashlib

    data = (synthetic_models / "table1_3dpw_weights.pth.tar").read_bytes()
    assert backend.checkpoint_sha256() == hashlib.sha256(data).hexdigest()


def test_confidence_clips_scores_and_handles_all_filled() -> None:
    conf = track_confidence(np.array([1.4, -0.2, 0.5]), np.array([False, False, False]))
    np.testing.assert_allclose(conf, [1.0, 0.0, 0.5])
    assert track_confidence(np.zeros(2), np.ones(2, bool)).tolist() == [0.0, 0.0]
