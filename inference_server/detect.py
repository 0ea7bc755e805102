"""Person detectors: the official demo's YOLOv3-416 (Darknet files through OpenCV DNN), OpenCV's
HOG people detector (needs no file at all), and any ONNX person detector with the layout below.

Every detector maps a batch of BGR frames to one ``Detections`` array per frame:
(K, 5) float32 rows ``[x1, y1, x2, y2, score]`` in frame pixels, persons only, score in 0..1.

``make_detector(name, models)`` picks one: ``"yolo"``, ``"blazepose"`` (BlazePose's person
detector from the mediapipe wheel, :mod:`inference_server.blazepose`), ``"hog"``, ``"onnx"`` or
``"auto"`` (YOLO when ``yolov3.cfg`` and ``yolov3.weights`` are found, else BlazePose and HOG
together, else HOG: :func:`auto_choice` says which and why).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from glot_blender.core.locations import ONNX_DETECTOR, YOLO_CFG, YOLO_WEIGHTS
from glot_blender.core.protocol import DETECTOR_NAMES
from glot_blender.core.safe_files import display, file_kind

from .cv_names import opencv_name
from .darknet_cfg import check_weights_size
from .errors import InvalidRequestError, ModelFileError

if TYPE_CHECKING:  # the registry belongs to the pipeline; only its .find(name) is used here
    from .registry import ModelRegistry

log = logging.getLogger(__name__)

# --- the official demo's YOLOv3 settings (multi-person-tracker + yolov3-pytorch)
YOLO_INPUT_SIZE = 416
YOLO_OBJECTNESS_THRESHOLD = 0.8  # non_max_suppression(conf_thres=0.8): objectness >= 0.8
YOLO_NMS_IOU = 0.4  # merging NMS: same-class boxes with IoU > 0.4 are averaged
YOLO_PERSON_SCORE = 0.7  # MPT detection_threshold: keep objectness * class score > 0.7
PERSON_CLASS = 0  # COCO class 0 is "person"
YOLO_BATCH = 12  # the demo's tracker_batch_size

# --- OpenCV HOG people detector (Dalal-Triggs, 64x128 window)
HOG_WIN_STRIDE = (8, 8)
HOG_PADDING = (8, 8)
HOG_SCALE_STEP = 1.05
HOG_MIN_FRAME_HEIGHT = 360  # smaller frames are upscaled so ~100 px people are found
HOG_MAX_FRAME_HEIGHT = 540  # larger frames are downscaled (speed): people under ~18% of the
# frame height (96 px of 540) are then missed
HOG_MIN_MARGIN = 0.3  # SVM margin below this is not a person
HOG_SCORE_SLOPE = 2.0  # score = sigmoid(HOG_SCORE_SLOPE * margin): margin 0.3 -> 0.65, 1 -> 0.88
HOG_BOX_SCALE = 0.72  # the 64x128 window holds a ~96 px tall person: shrink to the body
HOG_NMS_IOU = 0.5

# --- generic ONNX detector
ONNX_INPUT_SIZE = 640
ONNX_SCORE_THRESHOLD = 0.5
ONNX_NMS_IOU = 0.45


def empty_detections() -> np.ndarray:
    """(0, 5) float32: no person in a frame."""
    return np.zeros((0, 5), np.float32)


class Detector(Protocol):
    """Anything that finds people: ``detect(frames)`` -> one (K, 5) array per frame."""

    name: str

    def detect(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """frames: BGR uint8 (H, W, 3); returns per frame (K, 5) float32 [x1, y1, x2, y2, score]."""
        ...


# --------------------------------------------------------------------------- box utilities


def box_iou_plus_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [x1,y1,x2,y2] box with (K, 4) boxes, areas counted with +1 px as the demo's
    ``bbox_iou`` does (inclusive pixel coordinates)."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1 + 1, 0, None) * np.clip(iy2 - iy1 + 1, 0, None)
    a1 = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    a2 = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    return inter / (a1 + a2 - inter + 1e-16)


def merging_nms(
    boxes: np.ndarray,
    objectness: np.ndarray,
    class_conf: np.ndarray,
    class_pred: np.ndarray,
    iou_threshold: float = YOLO_NMS_IOU,
) -> np.ndarray:
    """The demo's ``non_max_suppression`` after its objectness filter, as a pure function.

    boxes (K, 4) [x1,y1,x2,y2]; objectness, class_conf, class_pred (K,). Candidates are visited
    by decreasing objectness * class_conf; each kept box absorbs every remaining box of the same
    class with IoU > ``iou_threshold`` (itself included), its coordinates becoming their
    objectness-weighted mean. Returns (M, 7) float64 rows
    [x1, y1, x2, y2, objectness, class_conf, class_pred] in visiting order.
    """
    if len(boxes) == 0:
        return np.zeros((0, 7))
    order = np.argsort(-(objectness * class_conf), kind="stable")
    det = np.column_stack([boxes, objectness, class_conf, class_pred]).astype(np.float64)[order]
    kept = []
    while len(det):
        invalid = (box_iou_plus_one(det[0, :4], det[:, :4]) > iou_threshold) & (
            det[:, 6] == det[0, 6]
        )
        weights = det[invalid, 4:5]
        det[0, :4] = (weights * det[invalid, :4]).sum(0) / weights.sum()
        kept.append(det[0].copy())
        det = det[~invalid]
    return np.stack(kept)


def greedy_nms(dets: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Plain NMS on (K, 5) [x1,y1,x2,y2,score] (highest score wins); returns the kept rows."""
    if len(dets) == 0:
        return dets
    boxes = dets[:, :4].astype(np.float64)
    keep = cv2.dnn.NMSBoxes(
        [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes],
        dets[:, 4].astype(float).tolist(),
        0.0,
        iou_threshold,
    )
    keep = np.asarray(keep, np.int64).reshape(-1)
    return dets[np.sort(keep)]


# --------------------------------------------------------------------------- YOLOv3


def pad_resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The demo's input: zero-pad to a square (split evenly, extra pixel at the end), then
    nearest-neighbour resize to ``size`` exactly like ``F.interpolate(mode='nearest')``
    (source index = floor(dst * in / out)). rgb (H, W, 3) -> (size, size, 3), same dtype."""
    h, w = rgb.shape[:2]
    diff = abs(h - w)
    p1, p2 = diff // 2, diff - diff // 2
    pad = ((p1, p2), (0, 0), (0, 0)) if h <= w else ((0, 0), (p1, p2), (0, 0))
    square = np.pad(rgb, pad)
    side = square.shape[0]
    idx = np.minimum(np.floor(np.arange(size) * (side / size)).astype(np.int64), side - 1)
    return square[idx][:, idx]


def rescale_boxes(boxes: np.ndarray, input_size: int, height: int, width: int) -> np.ndarray:
    """The demo's ``rescale_boxes``: (K, 4) boxes in the padded ``input_size`` square back to
    frame pixels (the padding is removed with ``pad // 2`` as the demo does)."""
    scale = input_size / max(height, width)
    pad_x = max(height - width, 0) * scale
    pad_y = max(width - height, 0) * scale
    unpad_w, unpad_h = input_size - pad_x, input_size - pad_y
    out = boxes.astype(np.float64).copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - pad_x // 2) / unpad_w * width
    out[:, [1, 3]] = (out[:, [1, 3]] - pad_y // 2) / unpad_h * height
    return out


def _check_model_file(path: Path) -> None:
    """ModelFileError naming what ``path`` is when it exists but is no regular file (a FIFO
    would block OpenCV forever, a device would feed it endless bytes)."""
    kind = file_kind(path)
    if kind is not None:
        raise ModelFileError(f"the model file {display(path)} is {kind}, not a file: put the "
                             "real file there.")


def _last_line(exc: BaseException) -> str:
    """The gist of an (OpenCV) error: its last line without the source-file prefix."""
    lines = str(exc).strip().splitlines()
    line = lines[-1] if lines else type(exc).__name__
    return line.split("error: ", 1)[-1][:200]


@dataclass(frozen=True)
class YoloConfig:
    """Thresholds of the YOLOv3 detector (defaults = the official demo)."""

    input_size: int = YOLO_INPUT_SIZE
    objectness: float = YOLO_OBJECTNESS_THRESHOLD
    nms_iou: float = YOLO_NMS_IOU
    person_score: float = YOLO_PERSON_SCORE
    batch_size: int = YOLO_BATCH


class YoloV3Detector:
    """YOLOv3 in Darknet format (``yolov3.cfg`` + ``yolov3.weights``) run by OpenCV DNN, with the
    official demo's pre- and post-processing (see ``docs/detection-tracking.md``)."""

    name = "yolo"

    def __init__(
        self, cfg_path: Path | str, weights_path: Path | str, config: YoloConfig = YoloConfig()
    ) -> None:
        cfg_path, weights_path = Path(cfg_path), Path(weights_path)
        for path in (cfg_path, weights_path):
            _check_model_file(path)
        missing = [p for p in (cfg_path, weights_path) if not p.is_file()]
        if missing:
            raise ModelFileError(
                "YOLOv3 detector files missing: "
                + ", ".join(display(p) for p in missing)
                + f". Put {YOLO_CFG} and {YOLO_WEIGHTS} (Darknet YOLOv3, COCO) in the "
                "models folder, or use the HOG detector (--detector hog)."
            )
        check_weights_size(cfg_path, weights_path)
        self.files = f"{display(cfg_path.name)} + {display(weights_path.name)}"
        try:
            with opencv_name(cfg_path, ModelFileError) as cfg, \
                    opencv_name(weights_path, ModelFileError) as weights:
                self.net = cv2.dnn.readNetFromDarknet(cfg, weights)
        except cv2.error as exc:
            raise ModelFileError(
                f"OpenCV cannot load the YOLOv3 files {cfg_path.name} + {weights_path.name} "
                f"(wrong or damaged Darknet files: {str(exc).strip().splitlines()[-1]})."
            ) from exc
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.outputs = self.net.getUnconnectedOutLayersNames()
        self.config = config

    def raw_outputs(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Network rows per frame (B, R, 5 + C): [cx, cy, w, h] in input pixels, objectness,
        objectness * class probability (OpenCV's YOLO layer zeroes small products)."""
        size = self.config.input_size
        batch = (
            np.stack(
                [pad_resize_square(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), size) for f in frames]
            ).astype(np.float32)
            / 255.0
        )
        try:
            self.net.setInput(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
            outs = self.net.forward(self.outputs)
            rows = np.concatenate(
                [o.reshape(len(frames), -1, o.shape[-1]) for o in outs], axis=1
            ).astype(np.float64)
        except (cv2.error, ValueError, MemoryError) as exc:
            raise ModelFileError(
                f"the YOLOv3 network from {self.files} fails to run ({_last_line(exc)}): the "
                f"files are damaged or not the official {YOLO_CFG}; use the official ones "
                "or --detector hog."
            ) from exc
        if rows.shape[-1] < 6:
            raise ModelFileError(
                f"the YOLOv3 network from {self.files} gives {rows.shape[-1]} values per box, "
                f"not 5 + classes: use the official {YOLO_CFG}.")
        rows[..., :4] *= size
        return rows

    def detect(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        result: list[np.ndarray] = []
        for start in range(0, len(frames), self.config.batch_size):
            chunk = frames[start : start + self.config.batch_size]
            rows = self.raw_outputs(chunk)
            for frame, r in zip(chunk, rows):
                result.append(self.postprocess(r, frame.shape[0], frame.shape[1]))
        return result

    def postprocess(self, rows: np.ndarray, height: int, width: int) -> np.ndarray:
        """(R, 5 + C) network rows of one frame -> (K, 5) person detections in frame pixels."""
        cfg = self.config
        rows = rows[rows[:, 4] >= cfg.objectness]
        if len(rows) == 0:
            return empty_detections()
        obj = rows[:, 4]
        scores = rows[:, 5:]  # objectness * class probability
        class_pred = np.where(scores.max(1) > 0, scores.argmax(1), -1)
        class_conf = scores.max(1) / obj
        boxes = np.column_stack(
            [
                rows[:, 0] - rows[:, 2] / 2,
                rows[:, 1] - rows[:, 3] / 2,
                rows[:, 0] + rows[:, 2] / 2,
                rows[:, 1] + rows[:, 3] / 2,
            ]
        )
        kept = merging_nms(boxes, obj, class_conf, class_pred, cfg.nms_iou)
        kept = kept[kept[:, 6] == PERSON_CLASS]
        score = kept[:, 4] * kept[:, 5]
        kept, score = kept[score > cfg.person_score], score[score > cfg.person_score]
        if len(kept) == 0:
            return empty_detections()
        boxes = rescale_boxes(kept[:, :4], cfg.input_size, height, width)
        return np.column_stack([boxes, score]).astype(np.float32)


# --------------------------------------------------------------------------- HOG


@dataclass(frozen=True)
class HogConfig:
    """Settings of the HOG people detector (see the module constants for their meaning)."""

    min_frame_height: int = HOG_MIN_FRAME_HEIGHT
    max_frame_height: int = HOG_MAX_FRAME_HEIGHT
    min_margin: float = HOG_MIN_MARGIN
    box_scale: float = HOG_BOX_SCALE
    nms_iou: float = HOG_NMS_IOU


def hog_score(margin: np.ndarray) -> np.ndarray:
    """SVM margin -> score in (0, 1): sigmoid(HOG_SCORE_SLOPE * margin)."""
    return 1.0 / (1.0 + np.exp(-HOG_SCORE_SLOPE * np.asarray(margin, np.float64)))


class HogDetector:
    """OpenCV's default HOG + linear SVM people detector, multi-scale; needs no model file.

    Frames are rescaled to a working height within [min_frame_height, max_frame_height];
    overlapping windows are grouped by OpenCV, then NMS; boxes are shrunk by ``box_scale``
    around their centre so they hug the body rather than the 64x128 window.
    """

    name = "hog"

    def __init__(self, config: HogConfig = HogConfig()) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.config = config

    def detect(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.detect_one(f) for f in frames]

    def detect_one(self, frame: np.ndarray) -> np.ndarray:
        cfg = self.config
        h = frame.shape[0]
        factor = 1.0
        if h < cfg.min_frame_height:
            factor = cfg.min_frame_height / h
        elif h > cfg.max_frame_height:
            factor = cfg.max_frame_height / h
        work = frame
        if factor != 1.0:
            interp = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
            work = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=interp)
        rects, margins = self.hog.detectMultiScale(
            work, winStride=HOG_WIN_STRIDE, padding=HOG_PADDING, scale=HOG_SCALE_STEP
        )
        if len(rects) == 0:
            return empty_detections()
        rects = np.asarray(rects, np.float64) / factor
        margins = np.asarray(margins, np.float64).reshape(-1)
        keep = margins >= cfg.min_margin
        rects, margins = rects[keep], margins[keep]
        cx, cy = rects[:, 0] + rects[:, 2] / 2, rects[:, 1] + rects[:, 3] / 2
        hw, hh = rects[:, 2] * cfg.box_scale / 2, rects[:, 3] * cfg.box_scale / 2
        dets = np.column_stack([cx - hw, cy - hh, cx + hw, cy + hh, hog_score(margins)])
        return greedy_nms(dets, cfg.nms_iou).astype(np.float32).reshape(-1, 5)


# --------------------------------------------------------------------------- ONNX


class OnnxDetector:
    """Any ONNX person detector with this layout, run by OpenCV DNN.

    Input: one image (1, 3, S, S) float32 RGB in 0..1, letterboxed like YOLO (zero padding to a
    square, then resized to S = ``input_size``). Output: (1, N, 6) or (N, 6) rows
    ``[x1, y1, x2, y2, score, class_id]`` in input pixels (the "end-to-end" layout of detectors
    exported with NMS included); rows of ``person_class`` with score >= ``score_threshold``
    are kept, then NMS at ``nms_iou``.
    """

    name = "onnx"

    def __init__(
        self,
        model_path: Path | str,
        *,
        input_size: int = ONNX_INPUT_SIZE,
        person_class: int = PERSON_CLASS,
        score_threshold: float = ONNX_SCORE_THRESHOLD,
        nms_iou: float = ONNX_NMS_IOU,
    ) -> None:
        model_path = Path(model_path)
        _check_model_file(model_path)
        if not model_path.is_file():
            raise ModelFileError(
                f"ONNX detector file {display(model_path)} is missing: pass the path of an ONNX "
                "person detector, or use --detector hog."
            )
        try:
            with opencv_name(model_path, ModelFileError) as name:
                self.net = cv2.dnn.readNetFromONNX(name)
        except cv2.error as exc:
            raise ModelFileError(
                f"OpenCV cannot load the ONNX detector {model_path.name}: "
                f"{str(exc).strip().splitlines()[-1]}"
            ) from exc
        self.input_size = input_size
        self.person_class = person_class
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou

    def detect(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.detect_one(f) for f in frames]

    def detect_one(self, frame: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        x = pad_resize_square(rgb, self.input_size).astype(np.float32) / 255.0
        self.net.setInput(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
        rows = np.asarray(self.net.forward(), np.float64).reshape(-1, 6)
        rows = rows[(rows[:, 5] == self.person_class) & (rows[:, 4] >= self.score_threshold)]
        if len(rows) == 0:
            return empty_detections()
        boxes = rescale_boxes(rows[:, :4], self.input_size, frame.shape[0], frame.shape[1])
        dets = np.column_stack([boxes, rows[:, 4]])
        return greedy_nms(dets, self.nms_iou).astype(np.float32).reshape(-1, 5)


# --------------------------------------------------------------------------- factory

# the names the factory builds: glot_blender.core.protocol.DETECTOR_NAMES (imported above)


def _find(models: ModelRegistry | None, name: str) -> Path | None:
    return models.find(name) if models is not None else None


@dataclass(frozen=True)
class AutoChoice:
    """What ``--detector auto`` runs here: ``detector`` ("yolo", "blazepose+hog" or "hog"),
    ``reason`` (one sentence), ``notice`` (a sentence for the user when it had to fall back)."""

    detector: str
    reason: str
    notice: str = ""


def auto_choice(
    models: ModelRegistry | None = None,
    yolo_cfg: Path | str | None = None,
    yolo_weights: Path | str | None = None,
) -> AutoChoice:
    """Which detector "auto" uses: YOLOv3 when both Darknet files are found (explicit paths
    first, then ``models.find``), else BlazePose + HOG when mediapipe's pose model and the
    TensorFlow Lite runtime are installed, else HOG (with a notice saying what to install)."""
    from .blazepose.model import availability

    cfg = Path(yolo_cfg) if yolo_cfg else _find(models, YOLO_CFG)
    weights = Path(yolo_weights) if yolo_weights else _find(models, YOLO_WEIGHTS)
    if cfg is not None and weights is not None:
        return AutoChoice("yolo", f"the YOLOv3 files are present ({cfg.parent})")
    ready, why = availability()
    if ready:
        return AutoChoice(
            "blazepose+hog",
            f"no YOLOv3 files; BlazePose's person detector ({why}) together with OpenCV's HOG",
        )
    return AutoChoice(
        "hog",
        f"no YOLOv3 files and BlazePose cannot run ({why})",
        notice=f"OpenCV's HOG detector was used, which finds upright pedestrians only: {why}",
    )


def make_detector(
    name: str = "auto",
    models: ModelRegistry | None = None,
    *,
    yolo_cfg: Path | str | None = None,
    yolo_weights: Path | str | None = None,
    onnx_model: Path | str | None = None,
) -> Detector:
    """Build a detector by name.

    "auto": see :func:`auto_choice`. "yolo": YOLOv3 or ModelFileError naming both files.
    "blazepose": BlazePose's person detector (BackendUnavailableError / ModelFileError when
    mediapipe, the runtime or the file is missing or damaged). "hog": OpenCV's HOG people
    detector. "onnx": ``onnx_model`` (or ``person_detector.onnx`` in the models folder).
    Anything else: InvalidRequestError.
    """
    if name not in DETECTOR_NAMES:
        raise InvalidRequestError(
            f"Unknown detector {name!r}: choose one of {', '.join(DETECTOR_NAMES)}."
        )
    if name == "hog":
        return HogDetector()
    if name == "blazepose":
        from .blazepose.detector import BlazePoseDetector

        return BlazePoseDetector()
    if name == "onnx":
        path = onnx_model or _find(models, ONNX_DETECTOR)
        if path is None:
            raise ModelFileError(
                f"No ONNX detector given: pass its path or put {ONNX_DETECTOR} in the models "
                "folder."
            )
        return OnnxDetector(path)
    if name == "auto":
        choice = auto_choice(models, yolo_cfg, yolo_weights)
        log.info("detector auto: %s (%s)", choice.detector, choice.reason)
        if choice.detector == "hog":
            return HogDetector()
        if choice.detector == "blazepose+hog":
            from .blazepose.detector import BlazePoseDetector
            from .blazepose.union import UnionDetector

            return UnionDetector(BlazePoseDetector(), HogDetector())
    cfg = Path(yolo_cfg) if yolo_cfg else _find(models, YOLO_CFG)
    weights = Path(yolo_weights) if yolo_weights else _find(models, YOLO_WEIGHTS)
    if cfg is None or weights is None:
        if models is not None:
            models.require("yolo")  # raises: each missing file, where to get and put it
        raise ModelFileError(
            f"The YOLOv3 detector needs {YOLO_CFG} and {YOLO_WEIGHTS} (Darknet "
            "YOLOv3, COCO): put both in the models folder (--models DIR or GLOT_MODELS_DIR; "
            "`glot-mocap models` shows where it looks) or use --detector blazepose or hog."
        )
    return YoloV3Detector(cfg, weights)
