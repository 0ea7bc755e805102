"""Transformer building blocks of GLoT, with the official module names (spec §1.2-1.4, 1.6).

Attention is written out as the official code does (``q @ kᵀ * scale``, softmax, ``@ v``)
so results match it to float rounding. Dropout and DropPath are identity at inference and
have no parameters, so they are left out. Besides the plain ``forward``, blocks offer
``forward_token``: the block's output for ONE token, which still attends over all tokens
(keys and values for all, query, projection and MLP for that token only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: LayerNorm epsilon used by every transformer norm in GLoT
LN_EPS = 1e-6


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """q (B,H,Nq,d), k/v (B,H,Nk,d) -> (B,Nq,H*d), the official explicit formulation."""
    attn = ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1)
    out = attn @ v
    b, h, n, d = out.shape
    return out.transpose(1, 2).reshape(b, n, h * d)


class Attention(nn.Module):
    """Multi-head self-attention with a packed qkv projection (rows Q, K, V; heads major)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B,N,C) -> (B,H,N,C/H)."""
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,N,C) -> (B,N,C)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(_attend(q, k, v, self.scale))

    def forward_token(self, x: torch.Tensor, token: int) -> torch.Tensor:
        """x (B,N,C) -> (B,1,C): the output of token ``token`` only."""
        c = x.shape[-1]
        w, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, token:token + 1], w[:c], None if bias is None else bias[:c])
        kv = F.linear(x, w[c:], None if bias is None else bias[c:])
        k, v = kv[..., :c], kv[..., c:]
        return self.proj(_attend(self._heads(q), self._heads(k), self._heads(v), self.scale))


class CrossAttention(nn.Module):
    """Single-layer cross-attention (no residual, norm or MLP): queries x, keys/values mem."""

    def __init__(self, dim: int, num_heads: int = 8) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.kv_l = nn.Linear(dim, dim * 2, bias=False)
        self.q_l = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        """x (B,Nq,C), mem (B,Nm,C) -> (B,Nq,C)."""
        b, nm, c = mem.shape
        h, d = self.num_heads, c // self.num_heads
        kv = self.kv_l(mem).reshape(b, nm, 2, h, d).permute(2, 0, 3, 1, 4)
        q = self.q_l(x).reshape(b, x.shape[1], h, d).transpose(1, 2)
        return self.proj(_attend(q, kv[0], kv[1], self.scale))


class Block(nn.Module):
    """Pre-norm ViT block: x + attn(norm1(x)), then + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,N,C) -> (B,N,C)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def forward_token(self, x: torch.Tensor, token: int) -> torch.Tensor:
        """x (B,N,C) -> (B,1,C): the block's output at ``token`` (attending over all N)."""
        y = x[:, token:token + 1] + self.attn.forward_token(self.norm1(x), token)
        return y + self.mlp(self.norm2(y))


class GlobalTransformer(nn.Module):
    """MAE-style encoder/decoder of the global branch (``global_modeling.trans``)."""

    def __init__(self, depth: int = 2, dim: int = 512, mlp_hidden: int = 2048, heads: int = 8,
                 length: int = 16, pose_dim: int = 157) -> None:
        super().__init__()
        dec_dim = dim // 2
        # training-only mask token generator, kept for strict loading
        self.mask_token_mlp = nn.Sequential(
            nn.Linear(pose_dim, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
            nn.Linear(512, dec_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, length, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.decoder_blocks = nn.ModuleList(
            Block(dec_dim, heads, dim * 2) for _ in range(depth // 2))
        self.decoder_embed = nn.Linear(dim, dec_dim)
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, length, dec_dim))
        self.decoder_norm = nn.LayerNorm(dec_dim, eps=LN_EPS)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Projected window tokens (B,16,512) -> encoder memory (B,16,512) (after ``norm``)."""
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def decode_token(self, mem: torch.Tensor, token: int) -> torch.Tensor:
        """Encoder memory (B,16,512) -> decoder output (B,1,256) at ``token`` only."""
        x = self.decoder_embed(mem) + self.decoder_pos_embed
        *body, last = self.decoder_blocks
        for blk in body:
            x = blk(x)
        return self.decoder_norm(last.forward_token(x, token))


class LocalTransformer(nn.Module):
    """Encoder of the local branch (``local_trans_en``) over 9 frames."""

    def __init__(self, depth: int = 3, dim: int = 256, mlp_hidden: int = 1024, heads: int = 8,
                 length: int = 9) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, length, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)

    def encode_token(self, x: torch.Tensor, token: int) -> torch.Tensor:
        """Projected local tokens (B,9,256) -> encoder output (B,1,256) at ``token`` only."""
        x = x + self.pos_embed
        *body, last = self.blocks
        for blk in body:
            x = blk(x)
        return self.norm(last.forward_token(x, token))
