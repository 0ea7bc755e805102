"""detect.py: the demo's YOLOv3 pipeline on tiny Darknet files written here, its merging NMS as
a pure function, OpenCV's HOG people detector on synthetic figures, and the factory."""

from __future__ import annotations

from pathlib import Path

import darknet_files
import numpy as np
import onnx_files
import pytest
import synthetic_video as sv
import torch

from inference_server import darknet_cfg, detect
from inference_server.errors import InvalidRequestError, ModelFileError
from inference_server.registry import ModelRegistry


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# --------------------------------------------------------------------------- merging NMS


def test_box_iou_counts_inclusive_pixels():
    box = np.array([0.0, 0.0, 9.0, 9.0])
    others = np.array([[0.0, 0.0, 9.0, 9.0], [5.0, 0.0, 14.0, 9.0], [20.0, 20.0, 30.0, 30.0]])
    np.testing.assert_allclose(detect.box_iou_plus_one(box, others), [1.0, 50 / 150, 0.0])


def test_merging_nms_averages_same_class_overlaps_weighted_by_objectness():
    boxes = np.array(
        [
            [10, 10, 50, 90],  # A: score .9*.9 = .81 (first)
            [14, 12, 54, 94],  # B: overlaps A, same class, score .85*.95 = .8075 -> merged into A
            [12, 10, 52, 90],  # C: overlaps A but another class -> kept separately
            [200, 10, 240, 90],  # D: far away -> kept
            [16, 10, 56, 90],  # E: IoU with A above 0.4, lowest score -> merged into A
        ],
        float,
    )
    obj = np.array([0.9, 0.85, 0.95, 0.8, 0.81])
    cls_conf = np.array([0.9, 0.95, 0.7, 0.9, 0.85])
    cls_pred = np.array([0, 0, 1, 0, 0])
    out = detect.merging_nms(boxes, obj, cls_conf, cls_pred, 0.4)
    assert out.shape == (3, 7)
    merged = (0.9 * boxes[0] + 0.85 * boxes[1] + 0.81 * boxes[4]) / (0.9 + 0.85 + 0.81)
    np.testing.assert_allclose(out[0, :4], merged)
    np.testing.assert_allclose(out[0, 4:], [0.9, 0.9, 0])  # scores of the leading box
    np.testing.assert_allclose(out[1], [*boxes[3], 0.8, 0.9, 0])  # D: score .72 > C's .665
    np.testing.assert_allclose(out[2], [*boxes[2], 0.95, 0.7, 1])


def test_merging_nms_leaves_boxes_at_low_overlap_alone():
    boxes = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], float)  # IoU 1/3 with inclusive pixels
    out = detect.merging_nms(boxes, np.array([0.9, 0.9]), np.array([1.0, 0.9]), np.zeros(2))
    np.testing.assert_allclose(out[:, :4], boxes)
    assert len(detect.merging_nms(np.zeros((0, 4)), *(np.zeros(0),) * 3)) == 0


# --------------------------------------------------------------------------- YOLO input


@pytest.mark.parametrize("shape", [(48, 80), (80, 48), (64, 64), (37, 91)])
def test_pad_resize_matches_the_demo_torch_nearest(shape):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    got = detect.pad_resize_square(rgb, 64)
    # the demo: to_tensor, pad_to_square with zeros, F.interpolate(mode="nearest")
    t = torch.from_numpy(rgb).permute(2, 0, 1).float()
    h, w = shape
    d = abs(h - w)
    pad = (0, 0, d // 2, d - d // 2) if h <= w else (d // 2, d - d // 2, 0, 0)
    t = torch.nn.functional.pad(t, pad, value=0.0)
    want = torch.nn.functional.interpolate(t[None], size=64, mode="nearest")[0]
    np.testing.assert_array_equal(got, want.permute(1, 2, 0).numpy().astype(np.uint8))


# --------------------------------------------------------------------------- YOLO network


def _probe_detector(folder: Path) -> detect.YoloV3Detector:
    """4x4 grid of 16 px cells; anchor 0 sees white pixels (person), anchor 1 is never confident
    enough, anchor 2 sees white pixels but says class 1."""
    bias = np.zeros(21, np.float32)
    kernel = np.zeros((21, 3, 1, 1), np.float32)
    bias[0:7] = [0, 0, 0, 0, -3.0, 3.0, -3.0]
    kernel[4, :, 0, 0] = 2.0  # objectness of anchor 0: white cell -> sigmoid(3)
    bias[7:14] = [0, 0, 0, 0, 1.0, 3.0, -3.0]  # objectness sigmoid(1) = 0.73 < 0.8
    bias[14:21] = [0, 0, 0, 0, -3.0, -3.0, 3.0]
    kernel[18, :, 0, 0] = 2.0
    cfg, weights = darknet_files.write_probe_files(
        folder, size=64, pool=16, bias=bias, kernel=kernel, anchors="12,24, 16,32, 30,40"
    )
    return detect.YoloV3Detector(cfg, weights, detect.YoloConfig(input_size=64))


def test_yolo_probe_network_parsing_thresholds_and_box_geometry(tmp_path):
    det = _probe_detector(tmp_path)
    frame = np.zeros((96, 128, 3), np.uint8)  # padded to 128x128 (16 rows top and bottom)
    frame[40:60, 70:90] = 255  # -> input x 35..45, y 28..38: grid column 2, rows 1 and 2
    rows = det.raw_outputs([frame])[0]
    assert rows.shape == (48, 7)
    (out,) = det.detect([frame])
    s = 1.0 / (1.0 + np.exp(-3.0))
    order = np.argsort(out[:, 1])
    # input boxes [34, 12, 46, 36] and [34, 28, 46, 52]; back to the frame: x * 2, (y - 8) * 2
    np.testing.assert_allclose(out[order, :4], [[68, 8, 92, 56], [68, 40, 92, 88]], atol=1e-3)
    np.testing.assert_allclose(out[:, 4], s * s, rtol=1e-5)
    assert det.detect([np.zeros((96, 128, 3), np.uint8)])[0].shape == (0, 5)


def test_yolo_person_score_threshold_is_strict(tmp_path):
    det = _probe_detector(tmp_path)
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[20:28, 20:28] = 255
    s = 1.0 / (1.0 + np.exp(-3.0))
    for threshold, expected in ((s * s - 1e-4, 1), (s * s + 1e-4, 0)):
        det.config = detect.YoloConfig(input_size=64, person_score=threshold)
        assert len(det.detect([frame])[0]) == expected


def test_yolo_small_random_network_batches_like_single_frames(tmp_path):
    cfg, weights = darknet_files.write_small_random_files(tmp_path)
    det = detect.YoloV3Detector(
        cfg,
        weights,
        detect.YoloConfig(input_size=64, objectness=0.45, person_score=0.3, batch_size=2),
    )
    rng = np.random.default_rng(1)
    frames = [
        rng.integers(0, 256, s, dtype=np.uint8) for s in ((60, 90, 3), (90, 60, 3), (64, 64, 3))
    ]
    batched = det.detect(frames)
    assert len(batched) == 3 and sum(len(b) for b in batched) > 0
    for frame, b in zip(frames, batched):
        single = det.detect([frame])[0]
        assert b.dtype == np.float32 and b.shape[1] == 5
        np.testing.assert_allclose(b, single, rtol=1e-4, atol=1e-3)
        assert np.all(b[:, 4] > 0.3) and np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])


def test_yolo_missing_or_broken_files(tmp_path):
    with pytest.raises(ModelFileError, match=r"yolov3\.cfg.*yolov3\.weights"):
        detect.YoloV3Detector(tmp_path / "yolov3.cfg", tmp_path / "yolov3.weights")
    cfg, weights = darknet_files.write_small_random_files(tmp_path)
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="yolov3.weights"):
        detect.YoloV3Detector(cfg, weights)


# --------------------------------------------------------------------------- HOG


def test_hog_finds_the_synthetic_person_and_nothing_on_background():
    img, box = sv.person_image((640, 480), 240)
    dets = detect.HogDetector().detect([img, sv.make_background(640, 480, seed=3)])
    assert len(dets[0]) == 1 and len(dets[1]) == 0
    assert _iou(dets[0][0, :4], box) > 0.6
    assert 0.5 < dets[0][0, 4] < 1.0


def test_hog_upscales_small_frames():
    img, box = sv.person_image((200, 150), 110)  # under the 128 px HOG window without upscale
    (dets,) = detect.HogDetector().detect([img])
    assert len(dets) == 1 and _iou(dets[0, :4], box) > 0.5


def test_hog_score_mapping():
    np.testing.assert_allclose(detect.hog_score([0.0, 1.0]), [0.5, 1 / (1 + np.exp(-2.0))])


# --------------------------------------------------------------------------- factory


def test_make_detector_choices(tmp_path):
    empty = ModelRegistry(tmp_path / "none", env={})
    # no YOLOv3 files: BlazePose (mediapipe's bundled model) together with HOG
    from inference_server.blazepose.union import UnionDetector

    assert isinstance(detect.make_detector("auto", empty), UnionDetector)
    assert detect.auto_choice(empty).detector == "blazepose+hog"
    assert detect.make_detector("blazepose", empty).name == "blazepose"
    assert isinstance(detect.make_detector("hog", empty), detect.HogDetector)
    with pytest.raises(ModelFileError, match=r"yolov3\.cfg.*yolov3\.weights"):
        detect.make_detector("yolo", empty)
    with pytest.raises(ModelFileError, match=r"yolov3\.cfg.*yolov3\.weights"):
        detect.make_detector("yolo")
    with pytest.raises(InvalidRequestError, match="maskrcnn"):
        detect.make_detector("maskrcnn")
    models = tmp_path / "models"
    models.mkdir()
    darknet_files.write_small_random_files(models)
    registry = ModelRegistry(models, env={})
    assert isinstance(detect.make_detector("auto", registry), detect.YoloV3Detector)
    assert detect.auto_choice(registry).detector == "yolo"
    assert isinstance(detect.make_detector("yolo", registry), detect.YoloV3Detector)
    with pytest.raises(ModelFileError, match="person_detector.onnx"):
        detect.make_detector("onnx", registry)


def test_detector_frames_are_bgr(tmp_path):
    """YOLO converts BGR to RGB as the demo feeds RGB: a blue-only patch is seen as blue."""
    bias = np.zeros(21, np.float32)
    kernel = np.zeros((21, 3, 1, 1), np.float32)
    bias[0:7] = [0, 0, 0, 0, -3.0, 3.0, -3.0]
    kernel[4, 2, 0, 0] = 6.0  # objectness from the network's third (blue, in RGB) channel only
    bias[7:14] = bias[14:21] = [0, 0, 0, 0, -9.0, 0, 0]
    cfg, weights = darknet_files.write_probe_files(
        tmp_path, size=64, pool=16, bias=bias, kernel=kernel, anchors="12,24, 16,32, 30,40"
    )
    det = detect.YoloV3Detector(cfg, weights, detect.YoloConfig(input_size=64))
    blue, red = np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
    blue[20:28, 20:28, 0] = 255  # BGR blue
    red[20:28, 20:28, 2] = 255
    assert len(det.detect([blue])[0]) == 1 and len(det.detect([red])[0]) == 0


def test_darknet_weight_count_matches_the_official_yolov3_file():
    # yolov3.weights is 248,007,048 bytes: a 20-byte header and 62,001,757 float32 values
    assert darknet_cfg.darknet_weight_count(darknet_files.yolov3_cfg_text()) == (248_007_048 - 20) // 4


def test_yolo_runs_at_the_demo_input_size_whatever_the_cfg_says(tmp_path):
    """yolov3.cfg says width=608; the demo runs at 416. Anchors must stay in input pixels."""
    bias = np.zeros(21, np.float32)
    bias[0:7] = [0, 0, 0, 0, 3.0, 3.0, -3.0]
    rows = []
    for cfg_size in (64, 128):
        folder = tmp_path / str(cfg_size)
        folder.mkdir()
        cfg, weights = darknet_files.write_probe_files(
            folder,
            size=cfg_size,
            pool=16,
            bias=bias,
            kernel=np.zeros((21, 3, 1, 1), np.float32),
            anchors="12,24, 16,32, 30,40",
        )
        det = detect.YoloV3Detector(cfg, weights, detect.YoloConfig(input_size=64))
        rows.append(det.raw_outputs([np.zeros((64, 64, 3), np.uint8)])[0])
    np.testing.assert_allclose(rows[0], rows[1])
    np.testing.assert_allclose(rows[0][0, :4], [8, 8, 12, 24], atol=1e-4)


def test_onnx_detector_layout_threshold_class_nms_and_rescale(tmp_path):
    rows = np.array(
        [
            [10, 20, 30, 60, 0.9, 0],  # person -> kept
            [11, 21, 31, 61, 0.8, 0],  # the same person again -> removed by NMS
            [40, 10, 60, 50, 0.3, 0],  # below the score threshold
            [5, 5, 20, 20, 0.95, 2],  # not a person
        ]
    )
    model = onnx_files.write_constant_detector(tmp_path / "person_detector.onnx", rows, 64)
    det = detect.OnnxDetector(model, input_size=64)
    (out,) = det.detect([np.zeros((96, 128, 3), np.uint8)])
    # 128x96 frame padded to 128x128 (16 rows each side), input 64: x * 2, (y - 8) * 2
    np.testing.assert_allclose(out, [[20, 24, 60, 104, 0.9]], rtol=1e-6)
    registry = ModelRegistry(tmp_path, env={})
    assert isinstance(detect.make_detector("onnx", registry), detect.OnnxDetector)
    with pytest.raises(ModelFileError, match="nope.onnx"):
        detect.OnnxDetector(tmp_path / "nope.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="bad.onnx"):
        detect.OnnxDetector(tmp_path / "bad.onnx")


def test_yolo_rows_without_any_class_neither_count_nor_merge(tmp_path):
    det = _probe_detector(tmp_path)
    person = [40, 40, 20, 40, 0.95, 0.95 * 0.95, 0.0]  # cx, cy, w, h, obj, obj*cls0, obj*cls1
    classless = [44, 40, 20, 40, 0.99, 0.0, 0.0]  # OpenCV zeroed both class products
    out = det.postprocess(np.array([person, classless]), 64, 64)
    np.testing.assert_allclose(out, [[30, 20, 50, 60, 0.95 * 0.95]], rtol=1e-6)
