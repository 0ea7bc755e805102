"""The solver's energy terms, each a dimensionless mean so that weights carry over between
tracks of any length, size and frame rate (all batched over frames, torch)."""

from __future__ import annotations

import torch

from .body import HINGES

#: hyperextension of a knee/elbow allowed before the hinge term bites (sine of ~5 degrees)
HYPEREXTENSION_SIN = 0.09


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    return (values * weights).sum() / total.clamp_min(1e-9)


def project(points: torch.Tensor, focal: float, centre: tuple[float, float]) -> torch.Tensor:
    """Pinhole projection (..., 3) camera-space metres -> (..., 2) pixels."""
    z = points[..., 2:3].clamp_min(1e-3)
    return points[..., :2] / z * focal + points.new_tensor(centre)


def geman_mcclure(residual: torch.Tensor, scale: float) -> torch.Tensor:
    """Robust penalty of residual vectors (..., 2): r^2 / (r^2 + c^2), ~ (r/c)^2 near zero, 1 far."""
    sq = (residual ** 2).sum(-1)
    return sq / (sq + scale ** 2)


def reprojection(pixels: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor,
                 height_px: torch.Tensor, scale: float) -> torch.Tensor:
    """Geman-McClure reprojection error in person heights.

    pixels, keypoints (N,L,2); weights (N,L) (confidence x frame weight); height_px (N,).
    """
    residual = (pixels - keypoints) / height_px[:, None, None]
    return _weighted_mean(geman_mcclure(residual, scale), weights)


def rotation_prior(local: torch.Tensor, local0: torch.Tensor, frame_weights: torch.Tensor) -> torch.Tensor:
    """Per-joint chordal distance ||R - R0||_F^2 (= 8 sin^2(theta/2), the geodesic angle's
    monotone proxy) to the backend's rotations, weighted per frame."""
    per_frame = ((local - local0) ** 2).sum((-1, -2)).mean(-1)
    return _weighted_mean(per_frame, frame_weights)


def second_difference(x: torch.Tensor, fps: float) -> torch.Tensor:
    """(N, ...) -> (N-2, ...) second differences in units per second squared."""
    return (x[2:] - 2.0 * x[1:-1] + x[:-2]) * (fps * fps)


def acceleration(joints: torch.Tensor, fps: float, scale: float) -> torch.Tensor:
    """Mean squared joint acceleration (N,J,3) in units of ``scale`` (m/s^2)."""
    if joints.shape[0] < 3:
        return joints.new_zeros(())
    return ((second_difference(joints, fps) / scale) ** 2).sum(-1).mean()


def rotation_acceleration(local: torch.Tensor, fps: float, scale: float) -> torch.Tensor:
    """Mean squared second difference of the rotation matrices (rad/s^2 units of ``scale``)."""
    if local.shape[0] < 3:
        return local.new_zeros(())
    return ((second_difference(local, fps) / scale) ** 2).sum((-1, -2)).mean()


def hinge_limits(local: torch.Tensor) -> torch.Tensor:
    """Knees and elbows bend about their hinge axis only, and not backwards.

    For a rotation R and hinge axis a: ``|R a - a|^2`` is zero for pure rotations about a
    (no sideways bend or twist at the joint); ``sin(theta_a) = vee(R - R^T) . a / 2`` is the
    flexion's sine, penalised below -HYPEREXTENSION_SIN.
    """
    r = local[:, list(HINGES)]  # (N,H,3,3)
    a = r.new_tensor(list(HINGES.values()))  # (H,3)
    off_axis = (((r @ a[:, :, None])[..., 0] - a) ** 2).sum(-1)
    vee = torch.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0],
                       r[..., 1, 0] - r[..., 0, 1]], -1)
    flex_sin = 0.5 * (vee * a).sum(-1)
    hyper = torch.relu(-flex_sin - HYPEREXTENSION_SIN) ** 2
    return (off_axis + hyper).mean()


def foot_still(feet: torch.Tensor, contact_pairs: torch.Tensor, scale: float) -> torch.Tensor:
    """Zero velocity of planted feet: feet (N,2,2,3) [side, ankle/toe] camera-space positions;
    contact_pairs (N-1,2) float, 1 where the foot is planted in both frames t and t+1."""
    if feet.shape[0] < 2 or contact_pairs.sum() == 0:
        return feet.new_zeros(())
    step = ((feet[1:] - feet[:-1]) / scale) ** 2  # (N-1,2,2,3)
    per = step.sum(-1).mean(-1)  # (N-1,2)
    return (per * contact_pairs).sum() / contact_pairs.sum()
