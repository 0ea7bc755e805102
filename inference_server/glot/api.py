"""Public entry points: ``load_glot(path, device)`` and ``GLoTModel.infer_track(features)``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from inference_server.errors import ModelFileError
from inference_server.glot.infer import DEFAULT_CHUNK, infer_track_outputs
from inference_server.glot.model import GLoTNetwork
from inference_server.glot.smpl_layer import needed_vertex_ids
from inference_server.safe_load import check_state_dict, load_checkpoint

#: what GLoT checkpoints are called in messages
WHAT = "GLoT checkpoint"
#: feature width the network expects per frame (SPIN ResNet-50)
FEATURE_DIM = 2048


@dataclass
class TrackResult:
    """GLoT output for the N frames of one track, in order (float32 tensors on the model device).

    theta (N,85) = [cam_crop s,tx,ty | axis-angle 72 (global_orient 3 + body_pose 69) | betas 10];
    rotmat (N,24,3,3); kp_3d (N,49,3) SPIN joints; smpl_joints (N,24,3) posed SMPL joints
    without translation; verts (N,6890,3) when asked for, else None.
    """

    theta: torch.Tensor
    rotmat: torch.Tensor
    kp_3d: torch.Tensor
    smpl_joints: torch.Tensor
    verts: torch.Tensor | None = None


class GLoTModel(GLoTNetwork):
    """The released GLoT network plus fast whole-track inference. Build with ``load_glot``."""

    def __init__(self) -> None:
        super().__init__()
        self._vertex_ids: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.proj_short.weight.device

    def prepare(self) -> GLoTModel:
        """Eval mode and per-checkpoint constants (call after loading weights or moving)."""
        self.eval()
        self._vertex_ids = needed_vertex_ids(self.regressor.smpl)
        return self

    @torch.inference_mode()
    def infer_track(self, features: torch.Tensor, with_verts: bool = False, *,
                    chunk: int = DEFAULT_CHUNK, precision: str = "float32",
                    j_regressor_h36m: torch.Tensor | None = None) -> TrackResult:
        """features (N,2048) float32 of one tracked person -> TrackResult for all N frames.

        Exact (to float rounding) with the official demo's per-window forward, boundary frames
        included. ``precision`` "float16"/"bfloat16" runs the transformers under autocast
        (faster on GPUs, no longer exact; SMPL stays float32). ``j_regressor_h36m`` (17,6890)
        switches kp_3d to the 14 H36M evaluation joints.
        """
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM or features.shape[0] < 1:
            raise ValueError(f"features must have shape (N>=1, {FEATURE_DIM}), "
                             f"got {tuple(features.shape)}")
        if self._vertex_ids is None or self._vertex_ids.device != self.device:
            self.prepare()
        x = features.to(self.device, torch.float32)
        reg = None if j_regressor_h36m is None else j_regressor_h36m.to(self.device, torch.float32)
        ids = self._vertex_ids if reg is None else needed_vertex_ids(self.regressor.smpl, reg)
        out = infer_track_outputs(self, x, with_verts=with_verts, vertex_ids=ids, chunk=chunk,
                                  precision=precision, j_regressor_h36m=reg)
        return TrackResult(out.theta, out.rotmat, out.kp_3d, out.smpl_joints, out.verts)

    @torch.inference_mode()
    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """betas (B,10) -> (B,24,3) SMPL joints at zero pose for those shapes."""
        return self.regressor.smpl.rest_joints(betas.to(self.device, torch.float32))


def load_glot(checkpoint_path: str | Path, device: str | torch.device = "cpu") -> GLoTModel:
    """Load a released (or synthetic) GLoT checkpoint strictly; returns the model in eval mode.

    Raises ModelFileError naming the file when it is missing, unsafe, of another kind or does
    not fit the network.
    """
    ckpt = load_checkpoint(checkpoint_path, what=WHAT, required_key="gen_state_dict")
    state = ckpt["gen_state_dict"]
    model = GLoTModel()
    check_state_dict(model, state, path=checkpoint_path, what=WHAT)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # dtype or other mismatch check_state_dict cannot see
        raise ModelFileError(f"The {WHAT} file {checkpoint_path} does not fit the GLoT network "
                             f"({str(exc).splitlines()[0]}).") from None
    return model.to(torch.device(device)).prepare()
