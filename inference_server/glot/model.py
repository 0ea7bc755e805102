"""The GLoT module tree with the official 198 state_dict keys, in plain torch (spec §1, §2).

Registration order follows the official classes, so ``state_dict()`` lists the keys in the
official order. Training-only parts (mask token MLP, the global regressor's ``fc2``, KTD's
``decshape``/``deccam``, the SMPL wrappers' dummy pose parameters) exist only so that released
checkpoints load with ``strict=True``; inference never uses them.

The regressors expose small functional pieces (``iterate``, ``correct``) that the fast track
inference in :mod:`inference_server.glot.infer` composes.
"""

from __future__ import annotations

import torch
from torch import nn

from inference_server.glot.layers import CrossAttention, GlobalTransformer, LocalTransformer
from inference_server.glot.smpl_layer import SMPLLayer

SEQLEN = 16
MID_FRAME = SEQLEN // 2
STRIDE_SHORT = 4
NPOSE = 144
#: iterations of the SPIN-style global regressor
GLOBAL_ITERATIONS = 3

#: KTD ancestors of each SMPL joint (index = joint)
ANCESTOR_INDEX: tuple[tuple[int, ...], ...] = (
    (), (0,), (0,), (0,), (0, 1), (0, 2), (0, 3), (0, 1, 4), (0, 2, 5), (0, 3, 6),
    (0, 1, 4, 7), (0, 2, 5, 8), (0, 3, 6, 9), (0, 3, 6, 9), (0, 3, 6, 9), (0, 3, 6, 9, 12),
    (0, 3, 6, 9, 13), (0, 3, 6, 9, 14), (0, 3, 6, 9, 13, 16), (0, 3, 6, 9, 14, 17),
    (0, 3, 6, 9, 13, 16, 18), (0, 3, 6, 9, 14, 17, 19), (0, 3, 6, 9, 13, 16, 18, 20),
    (0, 3, 6, 9, 14, 17, 19, 21),
)


class SPINRegressor(nn.Module):
    """The global branch's iterative regressor (``global_modeling.regressor``); fc2 is dead."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2048 + NPOSE + 13, 1024)
        self.fc2 = nn.Linear(1024, 1024)  # commented out in the official forward
        self.decpose = nn.Linear(1024, NPOSE)
        self.decshape = nn.Linear(1024, 10)
        self.deccam = nn.Linear(1024, 3)
        self.smpl = SMPLLayer()
        self.register_buffer("init_pose", torch.zeros(1, NPOSE))
        self.register_buffer("init_shape", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def iterate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B,2048) -> (pose6d (B,144), shape (B,10), cam (B,3)) after 3 residual steps."""
        b = x.shape[0]
        pose = self.init_pose.expand(b, -1)
        shape = self.init_shape.expand(b, -1)
        cam = self.init_cam.expand(b, -1)
        for _ in range(GLOBAL_ITERATIONS):
            xc = self.fc1(torch.cat([x, pose, shape, cam], 1))
            pose = self.decpose(xc) + pose
            shape = self.decshape(xc) + shape
            cam = self.deccam(xc) + cam
        return pose, shape, cam


class KTD(nn.Module):
    """Kinematic-tree decoder: one small regressor per joint, fed its ancestors' outputs."""

    def __init__(self, hidden: int = 1024) -> None:
        super().__init__()
        self.joint_regs = nn.ModuleList(
            nn.Linear(hidden + 6 * len(anc) + 6, 6) for anc in ANCESTOR_INDEX)
        self.decshape = nn.Linear(hidden, 10)  # unused (kept for strict loading)
        self.deccam = nn.Linear(hidden, 3)  # unused

    def forward(self, x: torch.Tensor, global_pose: torch.Tensor) -> torch.Tensor:
        """x (B,k,1024), global_pose (B,k,144) -> pose deltas (B,k,144).

        The official quirk is kept: joint j reads elements j..j+5 of the initial pose.
        """
        outs: list[torch.Tensor] = []
        for j, (reg, anc) in enumerate(zip(self.joint_regs, ANCESTOR_INDEX)):
            parts = [x] + [outs[a] for a in anc] + [global_pose[:, :, j:j + 6]]
            outs.append(reg(torch.cat(parts, -1)))
        return torch.cat(outs, -1)


class HSCR(nn.Module):
    """One-shot correction of the global estimate from the local feature (``regressor``)."""

    def __init__(self, in_dim: int = 256, hidden: int = 1024) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim + 10, hidden)
        self.fc2 = nn.Linear(in_dim + NPOSE, hidden)
        self.decshape = nn.Linear(hidden, 10)
        self.deccam = nn.Linear(hidden * 2 + 3, 3)
        self.smpl = SMPLLayer()
        self.local_reg = KTD(hidden)

    def correct(self, x: torch.Tensor, pose0: torch.Tensor, shape0: torch.Tensor,
                cam0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B,k,256), pose0 (B,k,144), shape0 (B,k,10), cam0 (B,k,3) -> corrected, same shapes."""
        hs = self.fc1(torch.cat([x, shape0], -1))
        hp = self.fc2(torch.cat([x, pose0], -1))
        pose = self.local_reg(hp, pose0) + pose0
        shape = self.decshape(hs) + shape0
        cam = self.deccam(torch.cat([hp, hs, cam0], -1)) + cam0
        return pose, shape, cam


class GMM(nn.Module):
    """Global motion modelling branch (``global_modeling``)."""

    def __init__(self, d_model: int = 512, n_layers: int = 2, heads: int = 8) -> None:
        super().__init__()
        self.proj = nn.Linear(2048, d_model)
        self.trans = GlobalTransformer(depth=n_layers, dim=d_model, mlp_hidden=d_model * 4,
                                       heads=heads, length=SEQLEN)
        self.out_proj = nn.Linear(d_model // 2, 2048)
        self.regressor = SPINRegressor()


class GLoTNetwork(nn.Module):
    """The GLoT generator as released (``gen_state_dict``): 198 state_dict entries."""

    def __init__(self) -> None:
        super().__init__()
        short = 256
        self.proj_short = nn.Linear(2048, short)
        self.proj_mem = nn.Linear(512, short)
        self.local_trans_de = CrossAttention(short, num_heads=8)
        self.local_trans_en = LocalTransformer(depth=3, dim=short, mlp_hidden=short * 4,
                                               heads=8, length=2 * STRIDE_SHORT + 1)
        self.regressor = HSCR(in_dim=short)
        self.global_modeling = GMM()
