"""Person crops exactly as the GLoT demo cuts them (reference spec section 3.3).

A tracked box ``[cx, cy, w, h]`` is enlarged by ``scale`` (1.2) and mapped by a 3-point affine
transform onto a ``size`` x ``size`` (224) patch: bilinear sampling, black outside the frame,
then BGR -> RGB. ImageNet normalisation (``ToTensor`` + ``Normalize``) is a separate step,
:func:`normalize_crops`, so that backends which do not want it (lite) can skip it.
"""

from __future__ import annotations

import cv2
import numpy as np

#: crop side = CROP_SCALE * box side (the demo's ``bbox_scale``)
CROP_SCALE = 1.2
#: side of the square crop in pixels
CROP_SIZE = 224
#: ImageNet statistics used by torchvision's ``Normalize`` in the demo (RGB order)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def crop_transform(box: np.ndarray, scale: float = CROP_SCALE, size: int = CROP_SIZE) -> np.ndarray:
    """The demo's affine transform (2, 3) float64 from frame pixels to crop pixels.

    box: (4,) ``[cx, cy, w, h]`` in pixels. Source points are the box centre, the centre plus
    half the scaled height downwards and plus half the scaled width rightwards; they map to
    the crop centre, bottom-centre and right-centre (``gen_trans_from_patch_cv``, rot = 0).
    """
    cx, cy, w, h = (float(v) for v in box[:4])
    src_w, src_h = w * scale, h * scale
    centre = np.array([cx, cy], dtype=np.float32)
    src = np.stack(
        [
            centre,
            centre + np.array([0.0, src_h * 0.5], dtype=np.float32),
            centre + np.array([src_w * 0.5, 0.0], dtype=np.float32),
        ]
    ).astype(np.float32)
    half = size * 0.5
    dst = np.array([[half, half], [half, size], [size, half]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def crop_people(
    frame_bgr: np.ndarray, boxes: np.ndarray, scale: float = CROP_SCALE, size: int = CROP_SIZE
) -> np.ndarray:
    """Cut one square crop per box out of one frame.

    frame_bgr: (H, W, 3) uint8, OpenCV's BGR order; boxes: (B, 4) ``[cx, cy, w, h]`` pixels.
    Returns (B, size, size, 3) uint8 RGB crops.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty((boxes.shape[0], size, size, 3), dtype=np.uint8)
    for i, box in enumerate(boxes):
        patch = cv2.warpAffine(
            frame_bgr,
            crop_transform(box, scale, size),
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        # the warp treats channels independently, so swapping them afterwards equals the
        # demo's BGR->RGB before the warp, on a 224x224 patch instead of the whole frame
        cv2.cvtColor(patch, cv2.COLOR_BGR2RGB, dst=out[i])
    return out


def normalize_crops(crops: np.ndarray) -> np.ndarray:
    """ToTensor + ImageNet Normalize: (B, S, S, 3) uint8 RGB -> (B, 3, S, S) float32."""
    x = np.asarray(crops, dtype=np.float32) / np.float32(255.0)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
