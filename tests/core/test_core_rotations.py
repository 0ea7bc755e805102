"""Round trips and identities of the batched rotation utilities."""

from __future__ import annotations

import numpy as np
import pytest

from glot_blender.core import rotations as R


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _random_aa(rng: np.random.Generator, shape: tuple[int, ...], max_angle: float = np.pi) -> np.ndarray:
    axis = rng.normal(size=(*shape, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis * rng.uniform(0, max_angle, size=(*shape, 1))


def test_axis_angle_matrix_round_trip(rng):
    aa = _random_aa(rng, (50, 7), max_angle=3.1)
    m = R.axis_angle_to_matrix(aa)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)
    assert np.allclose(R.matrix_to_axis_angle(m), aa, atol=1e-9)


def test_small_and_half_turn_angles():
    aa = np.array([[0.0, 0.0, 0.0], [1e-9, 0.0, 0.0], [np.pi, 0.0, 0.0], [0.0, 0.0, -np.pi]])
    m = R.axis_angle_to_matrix(aa)
    back = R.axis_angle_to_matrix(R.matrix_to_axis_angle(m))
    assert np.allclose(back, m, atol=1e-9)
    assert np.allclose(m[2], np.diag([1.0, -1.0, -1.0]), atol=1e-12)


def test_quaternion_matches_matrix_and_blender_order(rng):
    aa = _random_aa(rng, (200,))
    q = R.axis_angle_to_quaternion(aa)
    assert np.allclose(R.quaternion_to_matrix(q), R.axis_angle_to_matrix(aa), atol=1e-12)
    q2 = R.matrix_to_quaternion(R.axis_angle_to_matrix(aa))
    assert np.allclose(np.abs(np.sum(q * q2, -1)), 1.0, atol=1e-12)
    # 90 degrees about z is (cos45, 0, 0, sin45) in (w, x, y, z)
    qz = R.axis_angle_to_quaternion(np.array([0.0, 0.0, np.pi / 2]))
    assert np.allclose(qz, [np.sqrt(0.5), 0, 0, np.sqrt(0.5)])
    assert np.allclose(R.quaternion_to_axis_angle(q), aa, atol=1e-9)


def test_quaternion_product_composes_like_matrices(rng):
    a, b = _random_aa(rng, (30,)), _random_aa(rng, (30,))
    qa, qb = R.axis_angle_to_quaternion(a), R.axis_angle_to_quaternion(b)
    prod = R.quaternion_to_matrix(R.quaternion_multiply(qa, qb))
    assert np.allclose(prod, R.axis_angle_to_matrix(a) @ R.axis_angle_to_matrix(b), atol=1e-12)
    ident = R.quaternion_multiply(qa, R.quaternion_conjugate(qa))
    assert np.allclose(ident, [1, 0, 0, 0], atol=1e-12)


def test_continuity_removes_sign_flips(rng):
    t = np.linspace(0, 4 * np.pi, 300)
    aa = np.stack([t, 0.3 * np.sin(t), np.zeros_like(t)], -1)[:, None, :].repeat(3, 1)
    q = R.axis_angle_to_quaternion(aa)
    q *= np.where(rng.random((300, 3, 1)) < 0.5, -1.0, 1.0)
    fixed = R.quaternion_continuity(q, axis=0)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], -1) > 0)
    assert np.allclose(R.quaternion_to_matrix(fixed), R.quaternion_to_matrix(q), atol=1e-12)


def test_slerp_endpoints_and_midpoint(rng):
    q0 = R.axis_angle_to_quaternion(np.zeros(3))
    q1 = R.axis_angle_to_quaternion(np.array([0.0, 1.2, 0.0]))
    mid = R.quaternion_slerp(q0, q1, 0.5)
    assert np.allclose(R.quaternion_to_axis_angle(mid), [0, 0.6, 0], atol=1e-12)
    assert np.allclose(R.quaternion_slerp(q0, -q1, 1.0) * np.sign(q1[0]), q1, atol=1e-12)
    ts = np.linspace(0, 1, 5)
    path = R.quaternion_slerp(q0[None], q1[None], ts[:, None])
    assert np.allclose(R.quaternion_angle(path, q0[None]), 1.2 * ts, atol=1e-12)


def test_log_exp_and_6d_and_orthonormalize(rng):
    aa = _random_aa(rng, (40,), max_angle=3.0)
    m = R.exp_map(aa)
    assert np.allclose(R.log_map(m), aa, atol=1e-9)
    assert np.allclose(R.rot6d_to_matrix(R.matrix_to_rot6d(m)), m, atol=1e-12)
    noisy = m + rng.normal(scale=1e-3, size=m.shape)
    fixed = R.orthonormalize(noisy)
    assert np.allclose(fixed @ np.swapaxes(fixed, -1, -2), np.eye(3), atol=1e-12)
    assert np.all(R.matrix_angle(fixed, m) < 5e-3)


def test_rotation_between_and_euler(rng):
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    rot = R.rotation_between(a, b)
    out = np.einsum("nij,nj->ni", rot, a)
    assert np.allclose(out / np.linalg.norm(out, axis=-1, keepdims=True),
                       b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-12)
    assert np.allclose(R.rotation_between(a, a), np.eye(3), atol=1e-12)
    flip = R.rotation_between(a, -a)
    assert np.allclose(np.einsum("nij,nj->ni", flip, a), -a, atol=1e-9)
    m = R.axis_angle_to_matrix(_random_aa(rng, (100,), 3.0))
    zxy = R.euler_zxy_from_matrix(m)
    assert np.allclose(R.matrix_from_euler(zxy, "ZXY"), m, atol=1e-9)


def test_degenerate_input_never_gives_nan():
    """Zero-length and parallel directions, zero quaternions and singular matrices fall back
    to a well-defined rotation instead of NaN (documented in the module docstring)."""
    zero, x = np.zeros(3), np.array([1.0, 0.0, 0.0])
    for a, b in ((zero, x), (x, zero), (zero, zero), (1e-15 * x, x)):
        rot = R.rotation_between(a, b)
        assert np.all(np.isfinite(rot)) and np.allclose(rot, np.eye(3))
    assert np.allclose(R.rotation_between(x, 3.0 * x), np.eye(3))
    flip = R.rotation_between(x, -2.0 * x)
    assert np.all(np.isfinite(flip)) and np.allclose(flip @ x, -x)
    assert R.is_degenerate(np.array([zero, x])).tolist() == [True, False]
    assert np.allclose(R.quaternion_normalize(np.zeros(4)), [1.0, 0.0, 0.0, 0.0])
    assert np.allclose(R.quaternion_to_matrix(np.zeros((2, 4))), np.eye(3))
    assert np.allclose(R.quaternion_to_axis_angle(np.zeros(4)), 0.0)
    assert np.allclose(R.quaternion_slerp(np.zeros(4), np.zeros(4), 0.5), [1.0, 0, 0, 0])
    for six in (np.zeros(6), np.array([1.0, 2.0, 0.0, 0.0, 0.0, 0.0])):  # zero / parallel
        m = R.rot6d_to_matrix(six)
        assert np.all(np.isfinite(m)) and np.allclose(m @ m.T, np.eye(3))
        assert np.linalg.det(m) == pytest.approx(1.0)
    for m in (np.zeros((3, 3)), np.diag([1.0, 1.0, 0.0])):
        for out in (R.orthonormalize(m), R.quaternion_to_matrix(R.matrix_to_quaternion(m))):
            assert np.all(np.isfinite(out)) and np.allclose(out @ out.T, np.eye(3))
    assert np.all(np.isfinite(R.matrix_to_axis_angle(np.zeros((3, 3)))))
