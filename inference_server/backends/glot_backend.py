"""The GLoT backend: SPIN ResNet-50 features per crop, GLoT over each whole track.

``encode_crops`` turns 224x224 RGB crops into 2048-d SPIN features (ImageNet normalisation,
then the feature extractor in batches); ``solve_track`` runs ``GLoTModel.infer_track`` over all
frames of one track and unpacks ``theta = [cam (3), pose (72), betas (10)]``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from glot_blender.core.locations import SPIN_CHECKPOINT

from ..crop import normalize_crops
from ..registry import ModelRegistry
from .base import CancelCheck, PoseBackend, TrackInput, TrackPose

#: crops per feature-extractor call (the demo uses 256; 64 keeps CPU memory modest)
FEATURE_BATCH = 64
#: confidence of a frame filled across a gap, relative to the track's median detection score
FILLED_CONFIDENCE_FACTOR = 0.5
#: bytes read per step when hashing the checkpoint
HASH_CHUNK = 1 << 22


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a whole file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def track_confidence(det_score: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """(N,) 0..1: the detector score where detected, a reduced score where filled."""
    score = np.clip(np.asarray(det_score, dtype=np.float32), 0.0, 1.0)
    filled = np.asarray(filled, dtype=bool)
    detected = score[~filled]
    base = float(np.median(detected)) if detected.size else 0.0
    return np.where(filled, FILLED_CONFIDENCE_FACTOR * base, score).astype(np.float32)


class GlotBackend(PoseBackend):
    """GLoT with its SPIN feature extractor, both loaded once on ``device``."""

    name = "glot"
    batch_size = FEATURE_BATCH

    def __init__(self, checkpoint: Path, spin_checkpoint: Path, device: torch.device | str = "cpu"):
        from ..glot import load_glot
        from ..spin import load_feature_extractor

        self.device = torch.device(device)
        self.checkpoint = Path(checkpoint)
        self.extractor = load_feature_extractor(Path(spin_checkpoint), device=self.device)
        self.model = load_glot(self.checkpoint, device=self.device)
        self._sha256: str | None = None

    @classmethod
    def from_registry(cls, registry: ModelRegistry, device: torch.device | str = "cpu") -> GlotBackend:
        """Load the files the registry finds (ModelFileError naming any missing one)."""
        paths = registry.require("glot")
        return cls(paths[registry.glot_checkpoint], paths[SPIN_CHECKPOINT], device)

    def checkpoint_sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.checkpoint)
        return self._sha256

    def rest_joints_function(self):
        """SMPL rest joints of the checkpoint's body model for given betas (the solver's skeleton)."""

        @torch.inference_mode()
        def rest_joints(betas: np.ndarray) -> np.ndarray:
            b = torch.as_tensor(np.asarray(betas, np.float32), device=self.device)
            return self.model.rest_joints(b).double().cpu().numpy()

        return rest_joints

    @torch.inference_mode()
    def encode_crops(self, crops: np.ndarray) -> np.ndarray:
        """crops (B, 224, 224, 3) uint8 RGB -> SPIN features (B, 2048) float32."""
        out = []
        for i in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(normalize_crops(crops[i : i + self.batch_size])).to(self.device)
            out.append(self.extractor(x).float().cpu().numpy())
        if not out:
            return np.zeros((0, 2048), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    @torch.inference_mode()
    def solve_track(self, track: TrackInput, should_cancel: CancelCheck | None = None) -> TrackPose:
        """All frames of one track -> SMPL motion (one row per frame)."""
        feats = torch.from_numpy(np.ascontiguousarray(track.features, dtype=np.float32))
        result = self.model.infer_track(feats.to(self.device), with_verts=False)
        theta = result.theta.float().cpu().numpy()
        betas = theta[:, 75:85]
        mean_betas = torch.from_numpy(betas.mean(axis=0, keepdims=True)).to(self.device)
        rest = self.model.rest_joints(mean_betas)[0].float().cpu().numpy()
        return TrackPose(
            global_orient=theta[:, 3:6],
            body_pose=theta[:, 6:75],
            betas=betas,
            cam_crop=theta[:, :3],
            rest_joints=rest,
            joints3d=result.smpl_joints.float().cpu().numpy(),
            confidence=track_confidence(track.det_score, track.filled),
        )
