"""Fast, exact inference of GLoT over a whole track (the per-window math of the demo, batched).

For every frame t of a track the official demo builds one 16-frame window and keeps the
output of its mid token (index 8): frames 0..7 and the last 7 use the frame itself repeated
16 times, the others the window ``[t-8, t+7]``. Here the same windows are expressed as an
index table into per-frame tensors, and the work is rearranged without changing the math:

- the input projections of both branches (``global_modeling.proj``, ``proj_short``) are
  linear per frame, so they run once per frame instead of 16 (9) times per window;
- the decoder, the local encoder's last block, the cross-attention and ``out_proj`` are only
  evaluated for the one token the demo keeps (keys and values still come from all tokens);
- the global branch's SMPL mesh (thrown away by the demo) is never computed, and the final
  SMPL skins only the vertices the 49 joints need unless the mesh is asked for;
- all windows of a track run as batches (chunks bound the memory) under inference_mode.
Tracks shorter than 16 frames: every frame is then within the first 8 or the last 7, so each
frame gets its own repeated-frame window (one output per frame, N >= 1).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from inference_server.glot.model import MID_FRAME, SEQLEN, STRIDE_SHORT, GLoTNetwork
from inference_server.glot.smpl_layer import BodyOutput, smpl_head

#: number of leading frames that use a repeated-frame window (the demo's first 8)
HEAD_STATIC = MID_FRAME
#: number of trailing frames that use a repeated-frame window (the demo's last 7)
TAIL_STATIC = SEQLEN - MID_FRAME - 1
#: windows per batch (bounds memory: ~0.3 MB of activations per window in float32)
DEFAULT_CHUNK = 256
#: bodies per batch of the SMPL head when the full mesh is skinned (cache-friendly size)
MESH_CHUNK = 64
#: precisions accepted by ``infer_track``
PRECISIONS = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


def window_indices(num_frames: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,16) int64: row t lists the track positions forming frame t's window (demo rule)."""
    t = torch.arange(num_frames, device=device)
    offsets = torch.arange(SEQLEN, device=device) - MID_FRAME
    idx = t[:, None] + offsets[None, :]
    static = (t < HEAD_STATIC) | (t >= num_frames - TAIL_STATIC)
    return torch.where(static[:, None], t[:, None].expand(-1, SEQLEN), idx)


def _windows_forward(net: GLoTNetwork, g: torch.Tensor, s: torch.Tensor, idx: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-frame projections g (N,512), s (N,256) and window rows idx (B,16) -> the mid
    frame's corrected (pose6d (B,144), shape (B,10), cam (B,3))."""
    gm = net.global_modeling
    mem = gm.trans.encode(g[idx])                                     # (B,16,512)
    dec = gm.trans.decode_token(mem, MID_FRAME)                       # (B,1,256)
    pose0, shape0, cam0 = gm.regressor.iterate(gm.out_proj(dec[:, 0]))
    lo, hi = MID_FRAME - STRIDE_SHORT, MID_FRAME + STRIDE_SHORT + 1
    query = net.local_trans_en.encode_token(s[idx[:, lo:hi]], STRIDE_SHORT)   # (B,1,256)
    feat = net.local_trans_de(query, net.proj_mem(mem))               # (B,1,256)
    pose, shape, cam = net.regressor.correct(
        feat, pose0[:, None], shape0[:, None], cam0[:, None])
    return pose[:, 0], shape[:, 0], cam[:, 0]


def infer_track_outputs(net: GLoTNetwork, features: torch.Tensor, *, with_verts: bool,
                        vertex_ids: torch.Tensor | None, chunk: int = DEFAULT_CHUNK,
                        precision: str = "float32",
                        j_regressor_h36m: torch.Tensor | None = None) -> BodyOutput:
    """features (N,2048) on the network's device -> BodyOutput for all N frames, in order."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, not {precision!r}")
    device = features.device
    low = PRECISIONS[precision]
    idx_all = window_indices(features.shape[0], device)
    autocast = nullcontext() if low is None else torch.autocast(device.type, dtype=low)
    with autocast:
        g = net.global_modeling.proj(features)
        s = net.proj_short(features)
        params = [_windows_forward(net, g, s, idx_all[i:i + chunk])
                  for i in range(0, features.shape[0], chunk)]
    pose, shape, cam = (torch.cat([p[k] for p in params]).float() for k in range(3))
    step = min(chunk, MESH_CHUNK) if with_verts else chunk
    outs = [smpl_head(net.regressor.smpl, pose[i:i + step], shape[i:i + step],
                      cam[i:i + step], with_verts=with_verts, vertex_ids=vertex_ids,
                      j_regressor_h36m=j_regressor_h36m)
            for i in range(0, pose.shape[0], step)]
    verts = torch.cat([o.verts for o in outs]) if with_verts else None
    return BodyOutput(torch.cat([o.theta for o in outs]), torch.cat([o.rotmat for o in outs]),
                      torch.cat([o.kp_3d for o in outs]),
                      torch.cat([o.smpl_joints for o in outs]), verts)
