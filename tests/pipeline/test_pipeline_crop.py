"""Crop parity against a reference written from the GLoT demo specification (section 3.3)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from inference_server.crop import crop_people, normalize_crops


def _reference_crop(frame_bgr: np.ndarray, box: np.ndarray, scale: float = 1.2) -> np.ndarray:
    """The demo: read BGR, convert to RGB, 3-point affine of the x1.2 box onto 224x224."""
    img = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    c_x, c_y, bb_w, bb_h = (float(v) for v in box)
    src_w, src_h = bb_w * scale, bb_h * scale
    src_center = np.array([c_x, c_y], dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = src_center
    src[1] = src_center + np.array([0, src_h * 0.5], dtype=np.float32)
    src[2] = src_center + np.array([src_w * 0.5, 0], dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [112, 112]
    dst[1] = [112, 112 + 112]
    dst[2] = [112 + 112, 112]
    trans = cv2.getAffineTransform(np.float32(src), np.float32(dst))
    return cv2.warpAffine(img, trans, (224, 224), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def _reference_tensor(crop_rgb: np.ndarray) -> torch.Tensor:
    """torchvision ToTensor + Normalize(ImageNet), written out."""
    t = torch.from_numpy(crop_rgb).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)[:, None, None]
    return t.sub(mean).div(std)


@pytest.fixture()
def frame() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(180, 320, 3), dtype=np.uint8)
    cv2.circle(img, (100, 90), 30, (10, 200, 40), -1)
    return img


BOXES = np.array(
    [
        [100.0, 90.0, 80.0, 80.0],  # inside the frame
        [10.5, 170.25, 120.0, 120.0],  # over the bottom-left corner: black border
        [300.0, 20.0, 33.3, 33.3],  # small, sub-pixel side, over the top-right corner
        [160.0, 90.0, 400.0, 400.0],  # bigger than the frame
    ]
)


def test_crops_match_the_demo_bit_for_bit(frame: np.ndarray) -> None:
    crops = crop_people(frame, BOXES)
    assert crops.shape == (4, 224, 224, 3) and crops.dtype == np.uint8
    for crop, box in zip(crops, BOXES):
        np.testing.assert_array_equal(crop, _reference_crop(frame, box))


def test_crop_centre_is_the_box_centre_and_rgb(frame: np.ndarray) -> None:
    crop = crop_people(frame, BOXES[:1])[0]
    # the green disc (BGR (10,200,40)) at the box centre comes out as RGB (40,200,10)
    np.testing.assert_array_equal(crop[112, 112], [40, 200, 10])
    corner = crop_people(frame, BOXES[1:2])[0]
    assert corner[-1, 0].tolist() == [0, 0, 0]  # outside the frame: black


def test_normalisation_matches_totensor_normalize(frame: np.ndarray) -> None:
    crops = crop_people(frame, BOXES)
    x = normalize_crops(crops)
    assert x.shape == (4, 3, 224, 224) and x.dtype == np.float32
    ref = torch.stack([_reference_tensor(c) for c in crops]).numpy()
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-6)


def test_no_boxes_gives_an_empty_batch(frame: np.ndarray) -> None:
    assert crop_people(frame, np.zeros((0, 4))).shape == (0, 224, 224, 3)
