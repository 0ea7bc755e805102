"""Synthetic GLoT model files in the official layouts (random, well-conditioned weights).

The GLoT checkpoint is ``{epoch, gen_state_dict, performance, gen_optimizer}`` like the
released ``table1_3dpw_weights.pth.tar``: ``gen_state_dict`` has the official 198 entries
with the SMPL buffers of the synthetic body; ``gen_optimizer`` is a real Adam state_dict
(param groups over all parameters, moment estimates for a few of them, to keep the file
small); ``performance`` is a numpy float64 as the training code may store it.

Weights follow the official initialisation (xavier-uniform linears, unit LayerNorms,
N(0, 0.02) positional embeddings) with small random LayerNorm perturbations; the output
heads (pose/shape/camera decoders, KTD joint regressors) are scaled down so that the
predicted 6D rotations stay close to the well-conditioned mean pose, as trained weights do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inference_server.glot.model import GLoTNetwork
from inference_server.synthetic.smpl_body import make_smpl_arrays

#: the released GLoT checkpoint file names (all share one layout)
GLOT_FILE_NAMES = ("table1_3dpw_weights.pth.tar", "table1_h36m_mpii3d_weights.pth.tar",
                   "table2_3dpw_weights.pth.tar")
#: standard deviation of the output-head weights (keeps rot6d well conditioned)
HEAD_WEIGHT_STD = 2e-3
#: parameter name fragments of the output heads
HEAD_KEYS = ("decpose", "decshape", "deccam", "joint_regs")
#: SPIN-like mean camera [s, tx, ty]
MEAN_CAM = (0.9, 0.0, 0.0)
#: how many parameters get Adam moment estimates in the synthetic optimizer state
OPTIMIZER_STATE_PARAMS = 4


def mean_params(seed: int = 0) -> dict[str, np.ndarray]:
    """smpl_mean_params.npz content: pose (144,) float32 6D near identity, shape (10,), cam (3,)."""
    rng = np.random.default_rng(seed + 101)
    identity6d = np.tile(np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]), 24)
    pose = (identity6d + rng.normal(0.0, 0.05, 144)).astype(np.float32)
    shape = rng.normal(0.0, 0.1, 10).astype(np.float32).astype(np.float64)
    return {"pose": pose, "shape": shape, "cam": np.array(MEAN_CAM, dtype=np.float64)}


def smpl_buffers(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """SMPL arrays (make_smpl_arrays layout) -> the SMPL wrapper's buffers (checkpoint layout)."""
    parents = torch.as_tensor(arrays["kintree_table"][0].astype(np.int64))
    parents[0] = -1
    f32 = {k: torch.as_tensor(np.asarray(arrays[k], dtype=np.float32)) for k in
           ("v_template", "shapedirs", "J_regressor", "weights", "J_regressor_extra")}
    posedirs = np.asarray(arrays["posedirs"], dtype=np.float32)
    return {
        "faces_tensor": torch.as_tensor(arrays["f"].astype(np.int64)),
        "v_template": f32["v_template"],
        "shapedirs": f32["shapedirs"],
        "J_regressor": f32["J_regressor"],
        "posedirs": torch.as_tensor(posedirs.reshape(-1, posedirs.shape[-1]).T.copy()),
        "parents": parents,
        "lbs_weights": f32["weights"],
        "J_regressor_extra": f32["J_regressor_extra"],
    }


def _init_weights(net: GLoTNetwork, gen: torch.Generator) -> None:
    for name, p in net.named_parameters():
        if ".smpl." in name:
            continue
        with torch.no_grad():
            if name.endswith("pos_embed"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif p.ndim == 2:
                bound = (6.0 / (p.shape[0] + p.shape[1])) ** 0.5
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
                if any(k in name for k in HEAD_KEYS):
                    p.copy_(torch.randn(p.shape, generator=gen) * HEAD_WEIGHT_STD)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.01 * torch.randn(p.shape, generator=gen))


def glot_state_dict(seed: int = 0, arrays: dict[str, np.ndarray] | None = None
                    ) -> dict[str, torch.Tensor]:
    """The 198-entry ``gen_state_dict`` of a synthetic GLoT (SMPL buffers from ``arrays``)."""
    arrays = make_smpl_arrays(seed) if arrays is None else arrays
    gen = torch.Generator().manual_seed(seed)
    net = GLoTNetwork()
    _init_weights(net, gen)
    buffers = smpl_buffers(arrays)
    means = mean_params(seed)
    with torch.no_grad():
        for smpl in (net.regressor.smpl, net.global_modeling.regressor.smpl):
            for name, value in buffers.items():
                getattr(smpl, name).copy_(value)
        reg = net.global_modeling.regressor
        reg.init_pose.copy_(torch.as_tensor(means["pose"])[None])
        reg.init_shape.copy_(torch.as_tensor(means["shape"], dtype=torch.float32)[None])
        reg.init_cam.copy_(torch.as_tensor(means["cam"], dtype=torch.float32)[None])
    state = net.state_dict()
    for name in buffers:  # one copy of the SMPL buffers in the file (identical values)
        state[f"global_modeling.regressor.smpl.{name}"] = state[f"regressor.smpl.{name}"]
    return state


def _optimizer_state(state: dict[str, torch.Tensor], params: list[str]) -> dict:
    """An Adam state_dict over ``params`` (indices), with moments for the first few."""
    moments = {}
    for i, name in enumerate(params[:OPTIMIZER_STATE_PARAMS]):
        shape = state[name].shape
        moments[i] = {"step": torch.tensor(1000.0), "exp_avg": torch.zeros(shape),
                      "exp_avg_sq": torch.full(shape, 1e-8)}
    group = {"lr": 1e-5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
             "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
             "differentiable": False, "fused": None, "params": list(range(len(params)))}
    return {"state": moments, "param_groups": [group]}


def write_glot_checkpoint(path: str | Path, seed: int = 0,
                          arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write a synthetic GLoT checkpoint in the released layout; returns its path."""
    path = Path(path)
    state = glot_state_dict(seed, arrays)
    param_names = [n for n, _ in GLoTNetwork().named_parameters()]
    ckpt = {"epoch": 42, "gen_state_dict": state, "performance": np.float64(50.6),
            "gen_optimizer": _optimizer_state(state, param_names)}
    torch.save(ckpt, path)
    return path


def write_mean_params(path: str | Path, seed: int = 0) -> Path:
    """Write smpl_mean_params.npz (keys pose, shape, cam)."""
    path = Path(path)
    with path.open("wb") as fh:
        np.savez(fh, **mean_params(seed))
    return path
