"""Batched rotation conversions in numpy (no bpy, no scipy).

Conventions
- Axis-angle / rotation vector ``(..., 3)``: direction = axis, norm = angle in radians (SMPL).
- Rotation matrices ``(..., 3, 3)`` act on column vectors: ``v' = R @ v``.
- Quaternions ``(..., 4)`` are ``(w, x, y, z)``, Blender's order, Hamilton product.
- 6D ``(..., 6)`` is the first two columns of the matrix, row-interleaved as in SPIN/GLoT
  (``R[..., :, :2].reshape(..., 6)``).
- The log map of a rotation is its rotation vector; the exp map is its inverse.

Every function accepts any leading batch shape and returns float64 unless noted.

Degenerate input never yields NaN or inf: a zero-length direction, a zero quaternion or a
rank-deficient 6D/3x3 input falls back to the identity rotation (or the nearest well-defined
rotation, as each function documents). Callers that need to know whether a direction was
usable test its length with :func:`is_degenerate` first (the retargeter then falls back to the
parent joint's correction). Non-finite *input* is the caller's problem and is not cleaned.
"""

from __future__ import annotations

import numpy as np

#: below this angle (radians) series expansions replace sin(x)/x and friends
SMALL_ANGLE = 1e-6
#: directions shorter than this have no usable direction (any length unit)
MIN_DIRECTION = 1e-9


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def is_degenerate(v: np.ndarray, eps: float = MIN_DIRECTION) -> np.ndarray:
    """(...,) True where the (..., 3) vector is too short to define a direction."""
    return np.linalg.norm(_f64(v), axis=-1) < eps


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """v / |v|, or ``fallback`` (broadcast) where |v| is below MIN_DIRECTION."""
    v = _f64(v)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    short = norm < MIN_DIRECTION  # False for NaN: non-finite input stays non-finite
    return np.where(short, np.broadcast_to(fallback, v.shape), v / np.where(short, 1.0, norm))


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Rodrigues: (..., 3) rotation vectors -> (..., 3, 3) rotation matrices.

    R = I + A [v]x + B (v v^T - |v|^2 I) with A = sin t / t, B = (1 - cos t) / t^2, t = |v|
    (the closed form of (B [v]x^2), with series expansions near zero)."""
    aa = _f64(aa)
    theta2 = np.sum(aa * aa, axis=-1)
    theta = np.sqrt(theta2)
    small = theta < SMALL_ANGLE
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)[..., None, None]
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / safe**2)[..., None, None]
    out = b * (aa[..., :, None] * aa[..., None, :])
    diag = 1.0 - b[..., 0, 0] * theta2
    out[..., 0, 0] += diag
    out[..., 1, 1] += diag
    out[..., 2, 2] += diag
    ax = a[..., 0] * aa
    out[..., 0, 1] -= ax[..., 2]
    out[..., 0, 2] += ax[..., 1]
    out[..., 1, 0] += ax[..., 2]
    out[..., 1, 2] -= ax[..., 0]
    out[..., 2, 0] -= ax[..., 1]
    out[..., 2, 1] += ax[..., 0]
    return out


def axis_angle_to_quaternion(aa: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors -> (..., 4) unit quaternions (w, x, y, z), w >= 0."""
    aa = _f64(aa)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    small = theta < SMALL_ANGLE
    safe = np.where(small, 1.0, theta)
    half_sinc = np.where(small, 0.5 - theta**2 / 48.0, np.sin(safe / 2.0) / safe)
    return np.concatenate([np.cos(theta / 2.0), aa * half_sinc], axis=-1)


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (any norm, either sign) -> (..., 3) rotation vectors, angle <= pi."""
    q = quaternion_normalize(q)
    q = np.where(q[..., :1] < 0.0, -q, q)
    vec = q[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    small = sin_half < SMALL_ANGLE
    scale = np.where(small, 2.0 / np.maximum(q[..., :1], SMALL_ANGLE),
                     angle / np.where(small, 1.0, sin_half))
    return vec * scale


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3, 3); the quaternion is normalised first."""
    q = quaternion_normalize(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0.

    Shepperd's method: each row picks the largest of w, x, y, z as the pivot, so it is
    accurate for every angle including 180 degrees.
    """
    m = _f64(m)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    cands = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2],
                      m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22,
                      m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1],
                      1 - m00 + m11 - m22, m[..., 2, 1] + m[..., 1, 2]], -1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                      m[..., 2, 1] + m[..., 1, 2], 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )  # (..., 4 pivots, 4): each row is 4*q_pivot * q
    pivot = np.argmax(np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                                1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1), axis=-1)
    q = np.take_along_axis(cands, pivot[..., None, None], axis=-2)[..., 0, :]
    q = quaternion_normalize(q)
    return np.where(q[..., :1] < 0.0, -q, q)


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) rotation vectors (the log map), angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


log_map = matrix_to_axis_angle
exp_map = axis_angle_to_matrix


def quaternion_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternions; a zero quaternion becomes the identity (1, 0, 0, 0)."""
    return _unit(q, np.array([1.0, 0.0, 0.0, 0.0]))


def quaternion_conjugate(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion."""
    q = _f64(q)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (rotate by b, then by a), broadcasting over leading axes."""
    a, b = _f64(a), _f64(b)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quaternion_log(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> rotation vector (angle * axis); same as quaternion_to_axis_angle."""
    return quaternion_to_axis_angle(q)


def quaternion_exp(v: np.ndarray) -> np.ndarray:
    """Rotation vector -> unit quaternion; same as axis_angle_to_quaternion."""
    return axis_angle_to_quaternion(v)


def quaternion_continuity(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs along ``axis`` (time) so consecutive samples have dot >= 0.

    Vectorised: the flip of sample t is the product of the signs of all earlier
    consecutive dot products. The first sample keeps its sign.
    """
    q = np.moveaxis(_f64(q), axis, 0)
    if q.shape[0] < 2:
        return np.moveaxis(q.copy(), 0, axis)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    step = np.where(dots < 0.0, -1.0, 1.0)
    sign = np.concatenate([np.ones_like(step[:1]), np.cumprod(step, axis=0)], axis=0)
    return np.moveaxis(q * sign[..., None], 0, axis)


def quaternion_slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation along the shorter arc; t broadcasts against (...)."""
    q0, q1 = quaternion_normalize(q0), quaternion_normalize(q1)
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    dot = np.abs(dot)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim and t.shape[-1:] != (1,):
        t = t[..., None]
    omega = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_o = np.sin(omega)
    near = sin_o < 1e-6
    safe = np.where(near, 1.0, sin_o)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    w1 = np.where(near, t, np.sin(t * omega) / safe)
    return quaternion_normalize(w0 * q0 + w1 * q1)


def quaternion_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between two rotations given as quaternions."""
    dot = np.abs(np.sum(quaternion_normalize(a) * quaternion_normalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))


def matrix_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians of a^T b (geodesic distance between rotation matrices)."""
    rel = np.swapaxes(_f64(a), -1, -2) @ _f64(b)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def rot6d_to_matrix(x: np.ndarray) -> np.ndarray:
    """(..., 6) SPIN-style 6D -> (..., 3, 3) by Gram-Schmidt on the two columns.

    Degenerate input stays a rotation: a zero first column becomes x, a second column
    parallel to the first (or zero) becomes any unit vector perpendicular to it."""
    x = _f64(x).reshape(*np.shape(x)[:-1], 3, 2)
    a1, a2 = x[..., 0], x[..., 1]
    b1 = _unit(a1, np.array([1.0, 0.0, 0.0]))
    a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = _unit(a2, _perpendicular(b1))
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def matrix_to_rot6d(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6) SPIN-style 6D (first two columns, row-interleaved)."""
    m = _f64(m)
    return m[..., :, :2].reshape(*m.shape[:-2], 6)


def orthonormalize(m: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix (polar decomposition via SVD), batched; always a rotation
    (det +1), also for singular input (a zero matrix gives the identity)."""
    u, _s, vt = np.linalg.svd(_f64(m))
    det = np.linalg.det(u @ vt)
    fix = np.ones(u.shape[:-1])
    fix[..., -1] = det
    return (u * fix[..., None, :]) @ vt


def _perpendicular(a: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to each unit (..., 3) vector ``a``."""
    helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    return _unit(np.cross(a, helper), np.array([0.0, 0.0, 1.0]))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) minimal rotation turning direction a onto direction b (any lengths).

    Opposite directions turn by 180 degrees about an axis perpendicular to ``a``; a zero-length
    ``a`` or ``b`` (no direction) gives the identity, never NaN (see :func:`is_degenerate`)."""
    unusable = (is_degenerate(a) | is_degenerate(b))[..., None]
    a = _unit(a, np.array([0.0, 1.0, 0.0]))
    b = _unit(b, np.array([0.0, 1.0, 0.0]))
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.where(unusable, 0.0, np.arctan2(sin, cos))
    unit = np.where(sin > SMALL_ANGLE, axis / np.maximum(sin, 1e-12), _perpendicular(a))
    unit = np.where((sin <= SMALL_ANGLE) & (cos > 0), 0.0, unit)
    return axis_angle_to_matrix(unit * angle)


def euler_zxy_from_matrix(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) angles (z, x, y) in radians with R = Rz(z) @ Rx(x) @ Ry(y).

    This is BVH's ``Zrotation Xrotation Yrotation`` channel order.
    """
    m = _f64(m)
    x = np.arcsin(np.clip(m[..., 2, 1], -1.0, 1.0))
    gimbal = np.abs(m[..., 2, 1]) > 1.0 - 1e-9
    z = np.where(gimbal, np.arctan2(m[..., 1, 0], m[..., 0, 0]), np.arctan2(-m[..., 0, 1], m[..., 1, 1]))
    y = np.where(gimbal, 0.0, np.arctan2(-m[..., 2, 0], m[..., 2, 2]))
    return np.stack([z, x, y], axis=-1)


def matrix_from_euler(angles: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) angles in radians applied as R = R_order[0] @ R_order[1] @ R_order[2].

    ``order`` is a string such as "ZXY" (BVH channel order, intrinsic rotations).
    """
    angles = _f64(angles)
    axes = {"X": np.array([1.0, 0.0, 0.0]), "Y": np.array([0.0, 1.0, 0.0]),
            "Z": np.array([0.0, 0.0, 1.0])}
    out = None
    for i, name in enumerate(order.upper()):
        r = axis_angle_to_matrix(angles[..., i : i + 1] * axes[name])
        out = r if out is None else out @ r
    return out
