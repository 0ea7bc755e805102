"""IK correctness without images: SMPL FK -> landmarks -> our IK -> FK again."""

from __future__ import annotations

import numpy as np
import pytest

from glot_blender.core.kinematics import forward_kinematics
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_angle
from inference_server.lite import landmarks as lm
from inference_server.lite.ik import (
    SegmentScales,
    fit_crop_camera,
    fit_segment_scales,
    scale_rest_joints,
    solve_ik,
)

#: joints whose positions the landmarks determine directly
DETERMINED = [lm.L_HIP, lm.R_HIP, lm.L_KNEE, lm.R_KNEE, lm.L_ANKLE, lm.R_ANKLE,
              lm.L_SHOULDER, lm.R_SHOULDER, lm.L_ELBOW, lm.R_ELBOW, lm.L_WRIST, lm.R_WRIST]


def _rot(axis, deg):
    return axis_angle_to_matrix(np.asarray(axis, float) * np.radians(deg)[..., None])


def random_plausible_poses(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,24,3,3) local rotations of a person roughly facing the camera, limbs bent."""
    u = lambda lo, hi: rng.uniform(lo, hi, size=n)
    x, y, z = np.eye(3)
    local = np.tile(np.eye(3), (n, 24, 1, 1))
    local[:, 0] = _rot(x, np.full(n, 180.0)) @ _rot(y, u(-60, 60)) @ _rot(x, u(-10, 10))
    for j in (lm.SPINE1, lm.SPINE2, lm.SPINE3):
        local[:, j] = _rot(x, u(-6, 6)) @ _rot(y, u(-6, 6)) @ _rot(z, u(-4, 4))
    for j in (lm.L_COLLAR, lm.R_COLLAR):
        local[:, j] = _rot(z, u(-4, 4)) @ _rot(y, u(-4, 4))
    for j in (lm.NECK, lm.HEAD):
        local[:, j] = _rot(x, u(-15, 15)) @ _rot(y, u(-20, 20))
    for hip, knee in ((lm.L_HIP, lm.L_KNEE), (lm.R_HIP, lm.R_KNEE)):
        local[:, hip] = _rot(x, u(-80, 15)) @ _rot(z, u(-25, 25)) @ _rot(y, u(-30, 30))
        local[:, knee] = _rot(x, u(35, 110))
    for shoulder, elbow, sign in ((lm.L_SHOULDER, lm.L_ELBOW, -1), (lm.R_SHOULDER, lm.R_ELBOW, 1)):
        local[:, shoulder] = _rot(z, u(-70, 30)) @ _rot(y, u(-40, 40)) @ _rot(x, u(-40, 40))
        local[:, elbow] = _rot(y, sign * u(35, 120))
    for j in (lm.L_ANKLE, lm.R_ANKLE, lm.L_WRIST, lm.R_WRIST):
        local[:, j] = _rot(x, u(-20, 20)) @ _rot(z, u(-15, 15))
    return local


def make_landmarks(rest, local, offset_scale):
    fk = forward_kinematics(rest, local)
    pts = lm.landmarks_from_pose(fk.joints, fk.rotations, offset_scale)
    mid_hip = 0.5 * (pts[:, lm.LEFT_HIP] + pts[:, lm.RIGHT_HIP])
    return fk, pts - mid_hip[:, None]


@pytest.fixture(scope="module")
def person():
    rng = np.random.default_rng(7)
    scales = SegmentScales(overall=1.06, hip_width=1.1, shoulder_width=0.95, thigh=1.08,
                           shin=1.02, upper_arm=0.97, forearm=1.04)
    rest = scale_rest_joints(scales)
    local = random_plausible_poses(300, rng)
    fk, pts = make_landmarks(rest, local, scales.overall)
    return scales, rest, local, fk, pts


def test_segment_scales_recovered_from_landmarks(person):
    scales, rest, _, _, pts = person
    fitted = fit_segment_scales(pts, np.ones(pts.shape[:2]))
    for name in ("hip_width", "thigh", "shin", "upper_arm", "forearm"):
        assert getattr(fitted, name) == pytest.approx(getattr(scales, name), abs=1e-4), name
    # the collars move the shoulders a little, so their distance is measured less exactly
    assert fitted.shoulder_width == pytest.approx(scales.shoulder_width, abs=0.01)
    fitted_rest = scale_rest_joints(fitted)
    leg = [lm.L_KNEE, lm.R_KNEE, lm.L_ANKLE, lm.R_ANKLE]
    np.testing.assert_allclose(
        np.linalg.norm(fitted_rest[leg] - fitted_rest[[1, 2, 4, 5]], axis=1),
        np.linalg.norm(rest[leg] - rest[[1, 2, 4, 5]], axis=1), atol=1e-4)


def test_ik_then_fk_reproduces_determined_joints_within_1cm(person):
    scales, rest, _, fk, pts = person
    out = solve_ik(pts, np.ones(pts.shape[:2]), rest, offset_scale=scales.overall)
    again = forward_kinematics(rest, out.local_rotmats)
    np.testing.assert_allclose(again.joints, out.joints, atol=1e-9)

    def centred(j):
        return j[:, DETERMINED] - 0.5 * (j[:, [lm.L_HIP]] + j[:, [lm.R_HIP]])

    err = np.linalg.norm(centred(again.joints) - centred(fk.joints), axis=-1)
    assert err.max() < 0.01, f"max joint error {err.max() * 100:.2f} cm"


def test_limb_twist_within_10_degrees(person):
    scales, rest, _, fk, pts = person
    out = solve_ik(pts, np.ones(pts.shape[:2]), rest, offset_scale=scales.overall)
    for joint in (lm.L_HIP, lm.R_HIP, lm.L_SHOULDER, lm.R_SHOULDER, lm.L_KNEE, lm.R_KNEE,
                  lm.L_ELBOW, lm.R_ELBOW):
        angle = np.degrees(matrix_angle(out.world_rotmats[:, joint], fk.rotations[:, joint]))
        assert angle.max() < 10.0, f"joint {joint}: twist off by {angle.max():.1f} deg"


def test_straight_limbs_fall_back_to_swing_without_flipping():
    """A straight limb's twist is not observable: the swing keeps it near the truth."""
    rest = scale_rest_joints(SegmentScales())
    local = np.tile(np.eye(3), (4, 24, 1, 1))
    local[:, 0] = _rot([1, 0, 0], np.full(4, 180.0))
    local[:, lm.L_SHOULDER] = _rot([0, 0, 1], np.array([-80.0, -60, -30, 0]))
    fk, pts = make_landmarks(rest, local, 1.0)
    out = solve_ik(pts, np.ones(pts.shape[:2]), rest)
    angle = np.degrees(matrix_angle(out.world_rotmats[:, lm.L_ELBOW], fk.rotations[:, lm.L_ELBOW]))
    assert angle.max() < 15.0
    np.testing.assert_allclose(out.joints[:, lm.L_WRIST], fk.joints[:, lm.L_WRIST], atol=1e-6)


def test_crop_camera_fit_recovers_weak_perspective():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(5, 33, 3)) * 0.4
    cam = np.array([[0.9, 0.05, 0.2], [1.1, -0.1, 0.0], [0.7, 0.0, 0.3], [1.0, 0.2, -0.2], [0.8, 0, 0]])
    uv = cam[:, None, :1] * (pts[..., :2] + cam[:, None, 1:])
    np.testing.assert_allclose(fit_crop_camera(pts, uv, np.ones((5, 33))), cam, atol=1e-9)
