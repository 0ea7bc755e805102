"""Camera-space translation from the crop camera, the box and a focal length."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS
from inference_server.camera import (
    DEFAULT_FOV_DEG,
    convert_crop_cam_to_orig_img,
    crop_cam_to_transl,
    focal_from_fov,
    resolve_focal,
)
from inference_server.errors import InvalidRequestError

W, H = 1280, 720


def _project(points: np.ndarray, transl: np.ndarray, focal: float) -> np.ndarray:
    """Pinhole projection (principal point at the image centre): (P,3) -> (P,2) pixels."""
    p = points + transl
    return np.stack([focal * p[:, 0] / p[:, 2] + W / 2, focal * p[:, 1] / p[:, 2] + H / 2], 1)


def _fit_crop_cam(points: np.ndarray, uv: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Least-squares weak-perspective crop camera [s, tx, ty]: uv_n = s * (X_xy + t)."""
    side = 1.2 * box[2]
    uv_n = (uv - box[:2]) / (side / 2)
    n = len(points)
    a = np.zeros((2 * n, 3))
    a[:n, 0], a[:n, 1] = points[:, 0], 1.0
    a[n:, 0], a[n:, 2] = points[:, 1], 1.0
    sol = np.linalg.lstsq(a, np.concatenate([uv_n[:, 0], uv_n[:, 1]]), rcond=None)[0]
    s = sol[0]
    return np.array([s, sol[1] / s, sol[2] / s])


def _square_box(uv: np.ndarray) -> np.ndarray:
    lo, hi = uv.min(0), uv.max(0)
    side = (hi - lo).max() * 1.1
    return np.array([*(lo + hi) / 2, side, side])


@pytest.mark.parametrize("transl", [[0.0, 0.0, 4.0], [1.3, -0.4, 6.5], [-2.0, 0.7, 9.0]])
def test_flat_body_gives_back_the_exact_translation(transl: list[float]) -> None:
    # a body flattened to z = 0 projects exactly as a weak-perspective camera predicts
    pts = DEFAULT_REST_JOINTS.astype(np.float64) * [1, -1, 0]  # y down, flat
    focal = focal_from_fov(W, H)
    uv = _project(pts, np.array(transl), focal)
    box = _square_box(uv)
    cam = _fit_crop_cam(pts, uv, box)
    got = crop_cam_to_transl(cam[None], box[None], W, H, focal)[0]
    np.testing.assert_allclose(got, transl, rtol=1e-5, atol=1e-5)


def test_real_depth_body_gives_translation_within_weak_perspective_error() -> None:
    pts = DEFAULT_REST_JOINTS.astype(np.float64) * [1, -1, 1]
    transl = np.array([0.8, 0.3, 5.0])
    focal = 1000.0
    uv = _project(pts, transl, focal)
    box = _square_box(uv)
    got = crop_cam_to_transl(_fit_crop_cam(pts, uv, box)[None], box[None], W, H, focal)[0]
    np.testing.assert_allclose(got, transl, rtol=0.03, atol=0.03)


def test_uses_the_box_side_times_crop_scale_and_larger_side() -> None:
    cam = np.array([[0.5, 0.0, 0.0]])
    box = np.array([[W / 2, H / 2, 200.0, 100.0]])  # w > h: the side is max(w, h)
    tz = crop_cam_to_transl(cam, box, W, H, 1000.0)[0, 2]
    assert tz == pytest.approx(2 * 1000.0 / (0.5 * 1.2 * 200.0))


def test_matches_the_demo_orig_cam_offsets() -> None:
    rng = np.random.default_rng(0)
    cam = np.column_stack([rng.uniform(0.5, 1.2, 6), rng.normal(0, 0.1, (6, 2))])
    box = np.column_stack([rng.uniform(0, W, 6), rng.uniform(0, H, 6), np.full((6, 2), 150.0)])
    demo_box = box.copy()
    demo_box[:, 2:] *= 1.2
    orig = convert_crop_cam_to_orig_img(cam, demo_box, W, H)
    ours = crop_cam_to_transl(cam, box, W, H, 1500.0)
    np.testing.assert_allclose(ours[:, :2], orig[:, 2:], rtol=1e-5, atol=1e-5)
    # orig_cam's scale is the image-normalised one: sx = s * side / W
    np.testing.assert_allclose(orig[:, 0], cam[:, 0] * 180.0 / W)


def test_focal_length_choices() -> None:
    assert resolve_focal(W, H, focal_px=1234.0) == 1234.0
    f = resolve_focal(W, H)
    assert math.degrees(2 * math.atan(W / 2 / f)) == pytest.approx(DEFAULT_FOV_DEG)
    # portrait video: the FOV is across the longer (vertical) side
    assert resolve_focal(H, W, fov_deg=70) == pytest.approx(resolve_focal(W, H, fov_deg=70))
    with pytest.raises(InvalidRequestError, match="either"):
        resolve_focal(W, H, fov_deg=50, focal_px=1000)
    with pytest.raises(InvalidRequestError, match="fov_deg"):
        resolve_focal(W, H, fov_deg=0)
    with pytest.raises(InvalidRequestError, match="focal_px"):
        resolve_focal(W, H, focal_px=-3)


def test_transl_to_crop_cam_inverts_crop_cam_to_transl():
    from inference_server.camera import crop_cam_to_transl, transl_to_crop_cam

    rng = np.random.default_rng(5)
    cam = np.column_stack([rng.uniform(0.5, 1.5, 20), rng.normal(0, 0.1, (20, 2))])
    boxes = np.column_stack([rng.uniform(100, 1100, 20), rng.uniform(100, 600, 20),
                             np.full((20, 2), 300.0)])
    transl = crop_cam_to_transl(cam, boxes, 1280, 720, 1100.0, 1.5)
    back = transl_to_crop_cam(transl, boxes, 1280, 720, 1100.0, 1.5)
    np.testing.assert_allclose(back, cam, rtol=1e-4, atol=1e-5)
