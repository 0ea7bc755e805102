"""A straightforward GLoT forward pass written from the specification (the official per-window
demo loop), independent of inference_server.glot's fast path. Shared by the tests and by
benchmarks/glot_track.py (which adds this folder to sys.path).

It reads the weights from a ``gen_state_dict`` and runs, for every 16-frame window, the whole
network as the official code does: all 16 decoder tokens and ``out_proj`` outputs, the global
branch's SMPL mesh, the local encoder on all 9 tokens and the cross-attention for the three
mid queries; it keeps the mid frame's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from smplx.lbs import lbs, vertices2joints

SEQ = 16
MID = 8
HEADS = 8
EPS = 1e-6
ANCESTORS = [[], [0], [0], [0], [0, 1], [0, 2], [0, 3], [0, 1, 4], [0, 2, 5], [0, 3, 6],
             [0, 1, 4, 7], [0, 2, 5, 8], [0, 3, 6, 9], [0, 3, 6, 9], [0, 3, 6, 9],
             [0, 3, 6, 9, 12], [0, 3, 6, 9, 13], [0, 3, 6, 9, 14], [0, 3, 6, 9, 13, 16],
             [0, 3, 6, 9, 14, 17], [0, 3, 6, 9, 13, 16, 18], [0, 3, 6, 9, 14, 17, 19],
             [0, 3, 6, 9, 13, 16, 18, 20], [0, 3, 6, 9, 14, 17, 19, 21]]
SPIN_JOINT_MAP = [24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30,
                  31, 32, 33, 34, 8, 5, 45, 46, 4, 7, 21, 19, 17, 16, 18, 20, 47, 48, 49, 50,
                  51, 52, 53, 24, 26, 25, 28, 27]


def demo_windows(features: torch.Tensor) -> torch.Tensor:
    """The demo's FeatureDataset windows (N,16,2048): 8 static, N-15 sliding, 7 static.

    For N < 16 (never met by the demo) every frame gets its own static window.
    """
    n = features.shape[0]
    if n < SEQ:
        return torch.stack([features[t].expand(SEQ, -1) for t in range(n)])
    wins = [features[t].expand(SEQ, -1) for t in range(8)]
    wins += [features[i:i + SEQ] for i in range(n - SEQ + 1)]
    wins += [features[n - 7 + j].expand(SEQ, -1) for j in range(7)]
    return torch.stack(wins)


class ReferenceGLoT:
    """Official-style per-window GLoT forward from a state_dict."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.sd = state

    def lin(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.sd[name + ".weight"], self.sd.get(name + ".bias"))

    def ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.sd[name + ".weight"], self.sd[name + ".bias"],
                            EPS)

    def attention(self, x: torch.Tensor, name: str) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.lin(x, name + ".qkv").reshape(b, n, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (c // HEADS) ** -0.5
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.lin(out, name + ".proj")

    def block(self, x: torch.Tensor, name: str) -> torch.Tensor:
        x = x + self.attention(self.ln(x, name + ".norm1"), name + ".attn")
        h = F.gelu(self.lin(self.ln(x, name + ".norm2"), name + ".mlp.fc1"))
        return x + self.lin(h, name + ".mlp.fc2")

    def cross_attention(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        b, nm, c = mem.shape
        kv = self.lin(mem, "local_trans_de.kv_l").reshape(b, nm, 2, HEADS, c // HEADS)
        kv = kv.permute(2, 0, 3, 1, 4)
        q = self.lin(x, "local_trans_de.q_l").reshape(b, x.shape[1], 1, HEADS, c // HEADS)
        q = q.permute(2, 0, 3, 1, 4)[0]
        attn = ((q @ kv[0].transpose(-2, -1)) * (c // HEADS) ** -0.5).softmax(dim=-1)
        out = (attn @ kv[1]).transpose(1, 2).reshape(b, x.shape[1], c)
        return self.lin(out, "local_trans_de.proj")

    # --- SMPL head (spec §1.8) ---
    @staticmethod
    def rot6d(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 3, 2)
        b1 = F.normalize(x[:, :, 0], dim=1, eps=1e-6)
        a2 = x[:, :, 1]
        b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-6)
        return torch.stack([b1, b2, torch.linalg.cross(b1, b2)], dim=-1)

    @staticmethod
    def rotmat_to_aa(r: torch.Tensor) -> torch.Tensor:
        """torchgeometry rotation_matrix_to_quaternion + quaternion_to_angle_axis, NaN -> 0."""
        m = r.transpose(1, 2)
        d2 = m[:, 2, 2] < 1e-6
        d0d1 = m[:, 0, 0] > m[:, 1, 1]
        d0nd1 = m[:, 0, 0] < -m[:, 1, 1]
        t = [1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2],
             1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2], 1 + m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]]
        qs = [torch.stack([m[:, 1, 2] - m[:, 2, 1], t[0], m[:, 0, 1] + m[:, 1, 0],
                           m[:, 2, 0] + m[:, 0, 2]], -1),
              torch.stack([m[:, 2, 0] - m[:, 0, 2], m[:, 0, 1] + m[:, 1, 0], t[1],
                           m[:, 1, 2] + m[:, 2, 1]], -1),
              torch.stack([m[:, 0, 1] - m[:, 1, 0], m[:, 2, 0] + m[:, 0, 2],
                           m[:, 1, 2] + m[:, 2, 1], t[2]], -1),
              torch.stack([t[3], m[:, 1, 2] - m[:, 2, 1], m[:, 2, 0] - m[:, 0, 2],
                           m[:, 0, 1] - m[:, 1, 0]], -1)]
        masks = [d2 & d0d1, d2 & ~d0d1, ~d2 & d0nd1, ~d2 & ~d0nd1]
        q = sum(qi * mi[:, None].float() for qi, mi in zip(qs, masks))
        tt = sum(ti[:, None] * mi[:, None].float() for ti, mi in zip(t, masks))
        q = q / torch.sqrt(tt) * 0.5
        sin_sq = (q[:, 1:] ** 2).sum(-1)
        sin_t, cos_t = torch.sqrt(sin_sq), q[:, 0]
        two_theta = 2.0 * torch.where(cos_t < 0, torch.atan2(-sin_t, -cos_t),
                                      torch.atan2(sin_t, cos_t))
        k = torch.where(sin_sq > 0, two_theta / sin_t, torch.full_like(sin_t, 2.0))
        aa = q[:, 1:] * k[:, None]
        aa[torch.isnan(aa)] = 0.0
        return aa

    def smpl(self, prefix: str, pose6d: torch.Tensor, shape: torch.Tensor, cam: torch.Tensor
             ) -> dict[str, torch.Tensor]:
        n = pose6d.shape[0]
        rotmat = self.rot6d(pose6d).view(n, 24, 3, 3)
        s = {k: self.sd[f"{prefix}.{k}"] for k in ("v_template", "shapedirs", "posedirs",
                                                   "J_regressor", "parents", "lbs_weights",
                                                   "J_regressor_extra")}
        verts, joints = lbs(shape, rotmat, s["v_template"], s["shapedirs"], s["posedirs"],
                            s["J_regressor"], s["parents"], s["lbs_weights"], pose2rot=False)
        sel = self.sd[f"{prefix}.vertex_joint_selector.extra_joints_idxs"]
        all_j = torch.cat([joints, verts[:, sel], vertices2joints(s["J_regressor_extra"], verts)], 1)
        kp_3d = all_j[:, SPIN_JOINT_MAP]
        aa = self.rotmat_to_aa(rotmat.reshape(-1, 3, 3)).reshape(n, 72)
        return {"theta": torch.cat([cam, aa, shape], 1), "verts": verts, "rotmat": rotmat,
                "kp_3d": kp_3d, "kp_2d": self.projection(kp_3d, cam), "smpl_joints": joints}

    @staticmethod
    def projection(joints: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """Weak-perspective crop camera -> normalised 2D keypoints (f=5000, 224 px crop)."""
        cam_t = torch.stack([cam[:, 1], cam[:, 2], 2 * 5000.0 / (224 * cam[:, 0] + 1e-9)], -1)
        p = joints + cam_t[:, None]
        p = p[..., :2] / p[..., 2:]
        return p * 5000.0 / (224 / 2.0)

    # --- the network ---
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x (B,16,2048) windows -> the mid frame's output dict (B,...) as the demo keeps it."""
        b = x.shape[0]
        g = "global_modeling"
        h = self.lin(x, f"{g}.proj") + self.sd[f"{g}.trans.pos_embed"]
        for i in range(2):
            h = self.block(h, f"{g}.trans.blocks.{i}")
        mem = self.ln(h, f"{g}.trans.norm")
        d = self.lin(mem, f"{g}.trans.decoder_embed") + self.sd[f"{g}.trans.decoder_pos_embed"]
        d = self.ln(self.block(d, f"{g}.trans.decoder_blocks.0"), f"{g}.trans.decoder_norm")
        feature = self.lin(d, f"{g}.out_proj")[:, SEQ // 2]          # (B,2048)
        r = f"{g}.regressor"
        pose = self.sd[f"{r}.init_pose"].expand(b, -1)
        shape = self.sd[f"{r}.init_shape"].expand(b, -1)
        cam = self.sd[f"{r}.init_cam"].expand(b, -1)
        for _ in range(3):
            xc = self.lin(torch.cat([feature, pose, shape, cam], 1), f"{r}.fc1")
            pose = self.lin(xc, f"{r}.decpose") + pose
            shape = self.lin(xc, f"{r}.decshape") + shape
            cam = self.lin(xc, f"{r}.deccam") + cam
        self.smpl(f"{r}.smpl", pose, shape, cam)   # the global mesh the demo computes and drops
        # local branch
        xs = self.lin(x[:, MID - 4:MID + 5], "proj_short") + self.sd["local_trans_en.pos_embed"]
        for i in range(3):
            xs = self.block(xs, f"local_trans_en.blocks.{i}")
        xs = self.ln(xs, "local_trans_en.norm")
        out_short = self.cross_attention(xs[:, 3:6], self.lin(mem, "proj_mem"))
        f = out_short[:, 1][:, None]                                   # (B,1,256)
        pose0, shape0, cam0 = pose[:, None], shape[:, None], cam[:, None]
        hs = self.lin(torch.cat([f, shape0], -1), "regressor.fc1")
        hp = self.lin(torch.cat([f, pose0], -1), "regressor.fc2")
        outs: list[torch.Tensor] = []
        for j in range(24):
            inp = torch.cat([hp] + [outs[a] for a in ANCESTORS[j]] + [pose0[:, :, j:j + 6]], -1)
            outs.append(self.lin(inp, f"regressor.local_reg.joint_regs.{j}"))
        pose_f = torch.cat(outs, -1) + pose0
        shape_f = self.lin(hs, "regressor.decshape") + shape0
        cam_f = self.lin(torch.cat([hp, hs, cam0], -1), "regressor.deccam") + cam0
        return self.smpl("regressor.smpl", pose_f.reshape(-1, 144), shape_f.reshape(-1, 10),
                         cam_f.reshape(-1, 3))

    @torch.no_grad()
    def run_track(self, features: torch.Tensor, batch: int = 64) -> dict[str, torch.Tensor]:
        """The demo loop: windows in frame order, batches of ``batch``, one output per window."""
        wins = demo_windows(features)
        parts = [self.forward(wins[i:i + batch]) for i in range(0, wins.shape[0], batch)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
