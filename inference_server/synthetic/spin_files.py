"""A synthetic ``spin_model_checkpoint.pth.tar`` in the layout SPIN's trainer saves.

Top level as SPIN's ``CheckpointSaver`` writes it: ``model`` (the HMR state_dict, 331 keys in
the official order: the ``init_*`` buffers, the ResNet-50 backbone, then the regressor head
``fc1``/``fc2``/``decpose``/``decshape``/``deccam``), ``optimizer`` (an Adam state_dict),
``epoch``, ``batch_idx``, ``batch_size``, ``total_step_count``.

Weights are random but well conditioned: He-initialised convolutions, and BatchNorm running
statistics measured on random crops, so every layer's eval-mode activations stay near unit
scale (features neither vanish nor explode through the 16 residual blocks).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from inference_server.spin import FEATURE_DIM, Bottleneck, ResNet50Backbone, build_plain_resnet
from inference_server.synthetic.glot_files import mean_params

#: SMPL pose in 6D (24 joints x 6), shape and camera sizes of the HMR head
NPOSE, NSHAPE, NCAM = 144, 10, 3
#: hidden width of the HMR regressor
HEAD_HIDDEN = 1024
#: crops used to measure the BatchNorm statistics (count, side in pixels)
CALIBRATION_CROPS, CALIBRATION_SIDE = 2, 224
#: gamma of each block's last BatchNorm: keeps the residual sum from growing block by block
RESIDUAL_GAMMA = 0.3
#: num_batches_tracked written for every BatchNorm (any positive count, like a trained file)
BATCHES_TRACKED = 375_000
#: how many parameters get Adam moment estimates in the optimizer state (kept small)
OPTIMIZER_STATE_PARAMS = 4


def _init_backbone(net: ResNet50Backbone, gen: torch.Generator) -> None:
    """He-normal convolutions, BatchNorm affine near identity (small gamma closing blocks)."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.7, 1.3, generator=gen)
                module.bias.normal_(0.0, 0.1, generator=gen)
        for module in net.modules():
            if isinstance(module, Bottleneck):
                module.bn3.weight.mul_(RESIDUAL_GAMMA)


def _calibrate_batchnorm(net: ResNet50Backbone, gen: torch.Generator) -> None:
    """Set every BatchNorm's running statistics to those of random normalised crops."""
    crops = torch.randn(CALIBRATION_CROPS, 3, CALIBRATION_SIDE, CALIBRATION_SIDE, generator=gen)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: one batch -> exactly its statistics
    net.train()
    with torch.no_grad():
        net(crops)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
            module.num_batches_tracked.fill_(BATCHES_TRACKED)
    net.eval()


def _head_state(gen: torch.Generator, seed: int) -> dict[str, torch.Tensor]:
    """fc1/fc2/decpose/decshape/deccam (xavier, decoders with gain 0.01 as SPIN) and init_*."""
    shapes = {"fc1": (HEAD_HIDDEN, FEATURE_DIM + NPOSE + NSHAPE + NCAM),
              "fc2": (HEAD_HIDDEN, HEAD_HIDDEN), "decpose": (NPOSE, HEAD_HIDDEN),
              "decshape": (NSHAPE, HEAD_HIDDEN), "deccam": (NCAM, HEAD_HIDDEN)}
    state: dict[str, torch.Tensor] = {}
    for name, (out_f, in_f) in shapes.items():
        gain = 0.01 if name.startswith("dec") else 1.0
        bound = gain * (6.0 / (in_f + out_f)) ** 0.5
        state[f"{name}.weight"] = (torch.rand(out_f, in_f, generator=gen) * 2 - 1) * bound
        state[f"{name}.bias"] = (torch.rand(out_f, generator=gen) * 2 - 1) / in_f ** 0.5
    means = mean_params(seed)
    for key, name in (("pose", "init_pose"), ("shape", "init_shape"), ("cam", "init_cam")):
        state[name] = torch.as_tensor(means[key], dtype=torch.float32)[None]
    return state


def spin_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """The 331-key HMR state_dict (random, well-conditioned), in the official key order."""
    gen = torch.Generator().manual_seed(seed)
    net = build_plain_resnet()
    _init_backbone(net, gen)
    _calibrate_batchnorm(net, gen)
    head = _head_state(gen, seed)
    state = {k: head[k] for k in ("init_pose", "init_shape", "init_cam")}
    state.update({k: v.detach().clone() for k, v in net.state_dict().items()})
    state.update({k: v for k, v in head.items() if not k.startswith("init_")})
    return state


def _optimizer_state(state: dict[str, torch.Tensor]) -> dict:
    """An Adam state_dict over the HMR parameters, with moments for the first few."""
    params = [k for k in state if not k.startswith("init_")
              and not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    moments = {}
    for i, name in enumerate(params[:OPTIMIZER_STATE_PARAMS]):
        shape = state[name].shape
        moments[i] = {"step": torch.tensor(float(BATCHES_TRACKED)), "exp_avg": torch.zeros(shape),
                      "exp_avg_sq": torch.full(shape, 1e-8)}
    group = {"lr": 5e-5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
             "amsgrad": False, "params": list(range(len(params)))}
    return {"state": moments, "param_groups": [group]}


def write_spin_checkpoint(path: str | Path, seed: int = 0,
                          state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write a synthetic SPIN checkpoint with the official layout; returns its path.

    ``state`` (default ``spin_state_dict(seed)``) is the HMR state_dict stored under 'model'.
    """
    path = Path(path)
    state = spin_state_dict(seed) if state is None else state
    ckpt = {"model": state, "optimizer": _optimizer_state(state), "epoch": 4,
            "batch_idx": 2000, "batch_size": 64, "total_step_count": BATCHES_TRACKED}
    torch.save(ckpt, path)
    return path
