"""The SMPL body layer carried by every GLoT checkpoint, and the common output head.

``SMPLLayer`` has the exact parameters and buffers of the official VIBE/GLoT SMPL wrapper
(smplx ``SMPL`` + ``J_regressor_extra``), so the checkpoint's SMPL buffers load into it and no
SMPL pickle is needed. Skinning uses smplx's LBS functions. Outputs follow the SPIN convention:
49 joints (25 OpenPose-style + 24 "ground truth" joints), or 14 H36M joints when a
``J_regressor_h36m`` is given.

``posed_joints_only`` skins only the vertices the 49 joints depend on (the 21 selected
vertices and the support of ``J_regressor_extra``): the same per-vertex arithmetic, without
the other ~6,800 vertices, used when the mesh itself is not wanted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from smplx.lbs import batch_rigid_transform, blend_shapes, vertices2joints
from torch import nn

NUM_VERTS = 6890
NUM_JOINTS = 24
NUM_BETAS = 10
NUM_FACES = 13776
#: smplx vertex ids of the 21 extra SMPL joints (nose, eyes, ears, feet, fingertips)
EXTRA_VERTEX_IDS = (332, 6260, 2800, 4071, 583, 3216, 3226, 3387, 6617, 6624, 6787,
                    2746, 2319, 2445, 2556, 2673, 6191, 5782, 5905, 6016, 6133)
#: SPIN's 49-joint order as indices into [24 SMPL, 21 vertex joints, 9 J_regressor_extra]
JOINT_MAP = (24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31,
             32, 33, 34, 8, 5, 45, 46, 4, 7, 21, 19, 17, 16, 18, 20, 47, 48, 49, 50, 51, 52,
             53, 24, 26, 25, 28, 27)
#: Human3.6M-17 -> the 14 evaluation joints
H36M_TO_J14 = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
#: normalisation epsilon of the 6D -> rotation matrix conversion
ROT6D_EPS = 1e-6
#: epsilon of the rotation matrix -> quaternion conversion (torchgeometry / VIBE)
QUAT_EPS = 1e-6


class VertexJointSelector(nn.Module):
    """Holds the vertex ids of the 21 extra joints (smplx's module of the same name)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("extra_joints_idxs", torch.tensor(EXTRA_VERTEX_IDS, dtype=torch.long))


class SMPLLayer(nn.Module):
    """The SMPL wrapper's parameters and buffers (names and shapes of smplx 0.1.13 + VIBE)."""

    def __init__(self, batch_size: int = 64) -> None:
        super().__init__()
        # unused per-instance pose/shape parameters of smplx (always passed explicitly)
        self.betas = nn.Parameter(torch.zeros(batch_size, NUM_BETAS))
        self.global_orient = nn.Parameter(torch.zeros(batch_size, 3))
        self.body_pose = nn.Parameter(torch.zeros(batch_size, 69))
        self.register_buffer("faces_tensor", torch.zeros(NUM_FACES, 3, dtype=torch.long))
        self.register_buffer("v_template", torch.zeros(NUM_VERTS, 3))
        self.register_buffer("shapedirs", torch.zeros(NUM_VERTS, 3, NUM_BETAS))
        self.register_buffer("J_regressor", torch.zeros(NUM_JOINTS, NUM_VERTS))
        self.register_buffer("posedirs", torch.zeros(207, NUM_VERTS * 3))
        self.register_buffer("parents", torch.zeros(NUM_JOINTS, dtype=torch.long))
        self.register_buffer("lbs_weights", torch.zeros(NUM_VERTS, NUM_JOINTS))
        self.register_buffer("J_regressor_extra", torch.zeros(9, NUM_VERTS))
        self.vertex_joint_selector = VertexJointSelector()

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """betas (B,10) -> SMPL joints at zero pose (B,24,3)."""
        v_shaped = self.v_template + blend_shapes(betas, self.shapedirs)
        return vertices2joints(self.J_regressor, v_shaped)

    def skin(self, rotmat: torch.Tensor, betas: torch.Tensor,
             vertex_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """LBS as smplx.lbs.lbs (pose2rot=False), optionally for a subset of vertices.

        rotmat (B,24,3,3), betas (B,10) -> (vertices (B,V',3), posed joints (B,24,3)) where
        V' = 6890, or len(vertex_ids) when given.
        """
        batch = rotmat.shape[0]
        v_shaped = self.v_template + blend_shapes(betas, self.shapedirs)
        joints = vertices2joints(self.J_regressor, v_shaped)
        posedirs, weights = self.posedirs, self.lbs_weights
        if vertex_ids is not None:
            v_shaped = v_shaped[:, vertex_ids]
            cols = (vertex_ids[:, None] * 3 + torch.arange(3, device=vertex_ids.device)).reshape(-1)
            posedirs, weights = posedirs[:, cols], weights[vertex_ids]
        ident = torch.eye(3, dtype=rotmat.dtype, device=rotmat.device)
        pose_feature = (rotmat[:, 1:] - ident).reshape(batch, -1)
        v_posed = v_shaped + torch.matmul(pose_feature, posedirs).view(batch, -1, 3)
        posed_joints, transforms = batch_rigid_transform(
            rotmat, joints, self.parents.cpu(), dtype=rotmat.dtype)
        w = weights.unsqueeze(0).expand(batch, -1, -1)
        t = torch.matmul(w, transforms.view(batch, NUM_JOINTS, 16)).view(batch, -1, 4, 4)
        ones = torch.ones(batch, v_posed.shape[1], 1, dtype=rotmat.dtype, device=rotmat.device)
        v_homo = torch.matmul(t, torch.cat([v_posed, ones], dim=2).unsqueeze(-1))
        return v_homo[:, :, :3, 0], posed_joints


@dataclass
class BodyOutput:
    """Output of the SMPL head for B bodies.

    theta (B,85) = [cam 3, axis-angle 72, betas 10]; rotmat (B,24,3,3); kp_3d (B,49,3) (or
    (B,14,3) with an H36M regressor); smpl_joints (B,24,3) posed SMPL joints (no translation);
    verts (B,6890,3) or None.
    """

    theta: torch.Tensor
    rotmat: torch.Tensor
    kp_3d: torch.Tensor
    smpl_joints: torch.Tensor
    verts: torch.Tensor | None


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(B, 6k) 6D rotations -> (B*k, 3, 3); elements [0,2,4] column 1, [1,3,5] column 2."""
    x = x.reshape(-1, 3, 2)
    a1, a2 = x[:, :, 0], x[:, :, 1]
    b1 = F.normalize(a1, dim=1, eps=ROT6D_EPS)
    b2 = F.normalize(a2 - torch.einsum("bi,bi->b", b1, a2).unsqueeze(-1) * b1, dim=-1,
                     eps=ROT6D_EPS)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack((b1, b2, b3), dim=-1)


def _rotmat_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """(B,3,3|4) -> (B,4) [w,x,y,z], the torchgeometry branch-by-mask formulation."""
    r = m.transpose(1, 2)
    mask_d2 = r[:, 2, 2] < QUAT_EPS
    mask_d0_d1 = r[:, 0, 0] > r[:, 1, 1]
    mask_d0_nd1 = r[:, 0, 0] < -r[:, 1, 1]
    t0 = 1 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2]
    q0 = torch.stack([r[:, 1, 2] - r[:, 2, 1], t0, r[:, 0, 1] + r[:, 1, 0],
                      r[:, 2, 0] + r[:, 0, 2]], -1)
    t1 = 1 - r[:, 0, 0] + r[:, 1, 1] - r[:, 2, 2]
    q1 = torch.stack([r[:, 2, 0] - r[:, 0, 2], r[:, 0, 1] + r[:, 1, 0], t1,
                      r[:, 1, 2] + r[:, 2, 1]], -1)
    t2 = 1 - r[:, 0, 0] - r[:, 1, 1] + r[:, 2, 2]
    q2 = torch.stack([r[:, 0, 1] - r[:, 1, 0], r[:, 2, 0] + r[:, 0, 2],
                      r[:, 1, 2] + r[:, 2, 1], t2], -1)
    t3 = 1 + r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2]
    q3 = torch.stack([t3, r[:, 1, 2] - r[:, 2, 1], r[:, 2, 0] - r[:, 0, 2],
                      r[:, 0, 1] - r[:, 1, 0]], -1)
    c0 = (mask_d2 & mask_d0_d1).unsqueeze(-1).to(q0.dtype)
    c1 = (mask_d2 & ~mask_d0_d1).unsqueeze(-1).to(q0.dtype)
    c2 = (~mask_d2 & mask_d0_nd1).unsqueeze(-1).to(q0.dtype)
    c3 = (~mask_d2 & ~mask_d0_nd1).unsqueeze(-1).to(q0.dtype)
    q = q0 * c0 + q1 * c1 + q2 * c2 + q3 * c3
    t = t0.unsqueeze(-1) * c0 + t1.unsqueeze(-1) * c1 + t2.unsqueeze(-1) * c2 + t3.unsqueeze(-1) * c3
    return q / torch.sqrt(t) * 0.5


def _quaternion_to_angle_axis(q: torch.Tensor) -> torch.Tensor:
    """(B,4) [w,x,y,z] -> (B,3) axis-angle."""
    q1, q2, q3 = q[..., 1], q[..., 2], q[..., 3]
    sin_sq = q1 * q1 + q2 * q2 + q3 * q3
    sin_t = torch.sqrt(sin_sq)
    cos_t = q[..., 0]
    two_theta = 2.0 * torch.where(cos_t < 0.0, torch.atan2(-sin_t, -cos_t),
                                  torch.atan2(sin_t, cos_t))
    k = torch.where(sin_sq > 0.0, two_theta / sin_t, 2.0 * torch.ones_like(sin_t))
    return torch.stack([q1 * k, q2 * k, q3 * k], dim=-1)


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """(B,3,3) rotation matrices -> (B,3) axis-angle (NaN -> 0, as the official code)."""
    aa = _quaternion_to_angle_axis(_rotmat_to_quaternion(rotmat))
    return torch.nan_to_num(aa, nan=0.0)


def _needed_vertices(smpl: SMPLLayer, extra_regressor: torch.Tensor | None) -> torch.Tensor:
    """Sorted ids of the vertices the 49 joints (or the H36M joints) depend on."""
    reg = smpl.J_regressor_extra if extra_regressor is None else extra_regressor
    support = torch.nonzero(reg.abs().sum(0) > 0).flatten()
    ids = torch.cat([support, smpl.vertex_joint_selector.extra_joints_idxs.to(support.device)])
    return torch.unique(ids)


def smpl_head(smpl: SMPLLayer, pose6d: torch.Tensor, shape: torch.Tensor, cam: torch.Tensor,
              *, with_verts: bool = False, j_regressor_h36m: torch.Tensor | None = None,
              vertex_ids: torch.Tensor | None = None) -> BodyOutput:
    """The common SMPL output head (spec §1.8) for B bodies.

    pose6d (B,144), shape (B,10), cam (B,3). ``vertex_ids`` (from ``needed_vertex_ids``) lets
    the head skin only the vertices the joints need when ``with_verts`` is False.
    """
    batch = pose6d.shape[0]
    rotmat = rot6d_to_rotmat(pose6d).view(batch, NUM_JOINTS, 3, 3)
    subset = None if with_verts else vertex_ids
    verts, posed = smpl.skin(rotmat, shape, subset)
    if j_regressor_h36m is not None:
        reg = j_regressor_h36m if subset is None else j_regressor_h36m[:, subset]
        kp_3d = vertices2joints(reg, verts)[:, list(H36M_TO_J14)]
    else:
        sel = smpl.vertex_joint_selector.extra_joints_idxs
        extra = smpl.J_regressor_extra
        if subset is not None:
            pos = torch.searchsorted(subset, sel)
            sel, extra = pos, extra[:, subset]
        joints = torch.cat([posed, verts[:, sel], vertices2joints(extra, verts)], dim=1)
        kp_3d = joints[:, list(JOINT_MAP)]
    aa = rotmat_to_axis_angle(rotmat.reshape(-1, 3, 3)).reshape(batch, 72)
    theta = torch.cat([cam, aa, shape], dim=1)
    return BodyOutput(theta, rotmat, kp_3d, posed, verts if subset is None else None)


def needed_vertex_ids(smpl: SMPLLayer, j_regressor_h36m: torch.Tensor | None = None) -> torch.Tensor:
    """Sorted vertex ids that ``smpl_head`` needs to produce the joints without the mesh."""
    return _needed_vertices(smpl, j_regressor_h36m)
