"""The two BlazePose networks that ship inside the mediapipe 0.10.21 wheel, run by the official
TensorFlow Lite runtime (``ai-edge-litert``).

Why this runtime: OpenCV's DNN rejects the detector's DENSIFY operator, and a hand port to torch
would be a second implementation to keep in step; LiteRT is the runtime the files are made for
(outputs identical to MediaPipe's own), it is a 22 MB wheel that needs only numpy, flatbuffers
and protobuf (all already installed, no version changed), and it runs batches through XNNPACK
on the CPU. A .tflite file is a flatbuffer of weights and operators: loading it executes no code.

Nothing downloads: the files are found inside the installed ``mediapipe`` package; a missing
package, runtime or file, or a damaged file, raises ``BackendUnavailableError`` /
``ModelFileError`` with one sentence saying what to do.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, ModelFileError

MEDIAPIPE_VERSION = "0.10.21"
LITERT_PACKAGE = "ai-edge-litert"
DETECTOR_FILE = "modules/pose_detection/pose_detection.tflite"
LANDMARK_FILE = "modules/pose_landmark/pose_landmark_full.tflite"
#: CPU threads per network (the server runs one job at a time; tests keep torch at 1-2 too)
NUM_THREADS = 2


def mediapipe_dir() -> Path | None:
    """The installed mediapipe package folder, found without importing it (None if absent)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def litert_available() -> bool:
    return importlib.util.find_spec("ai_edge_litert") is not None


def model_path(relative: str) -> Path:
    """Path of a .tflite file inside the mediapipe wheel, or BackendUnavailableError."""
    root = mediapipe_dir()
    if root is None:
        raise BackendUnavailableError(
            f"the BlazePose models ship inside the 'mediapipe' package, which is not installed: "
            f"run 'python -m pip install mediapipe=={MEDIAPIPE_VERSION}' in the server's Python "
            "(or use --detector hog)"
        )
    path = root / relative
    if not path.is_file():
        raise ModelFileError(
            f"{path.name} is missing from the installed mediapipe ({root}): reinstall "
            f"mediapipe=={MEDIAPIPE_VERSION} (newer releases no longer ship it)"
        )
    return path


def detector_path() -> Path:
    return model_path(DETECTOR_FILE)


def landmark_path() -> Path:
    return model_path(LANDMARK_FILE)


def availability() -> tuple[bool, str]:
    """(ready, reason): whether the BlazePose networks can run in this Python, and why not."""
    try:
        detector_path()
        landmark_path()
    except (BackendUnavailableError, ModelFileError) as exc:
        return False, str(exc)
    if not litert_available():
        return False, (
            f"the TensorFlow Lite runtime is not installed: run 'python -m pip install "
            f"{LITERT_PACKAGE}' in the server's Python"
        )
    return True, "mediapipe's bundled pose_detection.tflite, run by LiteRT"


class TfliteModel:
    """One .tflite network with a float32 NHWC input, run in batches.

    ``run(batch)`` -> the output tensors in the order of the model's outputs, shaped as the
    network leaves them (the detector folds the batch into its anchor axis: see
    :func:`.decode.unfold_batch`).
    The interpreter is resized when the batch size changes; calls are serialised by a lock.
    """

    def __init__(self, path: Path | str, num_threads: int = NUM_THREADS) -> None:
        path = Path(path)
        if not litert_available():
            raise BackendUnavailableError(
                f"running {path.name} needs the TensorFlow Lite runtime: run 'python -m pip "
                f"install {LITERT_PACKAGE}' in the server's Python (or use --detector hog)"
            )
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interp = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(
                f"{path.name} ({path}) is damaged or not a TensorFlow Lite model: reinstall "
                f"mediapipe=={MEDIAPIPE_VERSION} to restore it"
            ) from exc
        self.path = path
        detail = self._interp.get_input_details()[0]
        self._input_index = detail["index"]
        self.input_shape = tuple(int(v) for v in detail["shape"][1:])
        self._outputs = [o["index"] for o in self._interp.get_output_details()]
        self._batch = 1
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape[1:] != self.input_shape:
            raise ValueError(f"{self.path.name} takes {self.input_shape}, got {batch.shape[1:]}")
        n = len(batch)
        with self._lock:
            if n != self._batch:
                self._interp.resize_tensor_input(self._input_index, [n, *self.input_shape])
                self._interp.allocate_tensors()
                self._batch = n
            self._interp.set_tensor(self._input_index, batch)
            self._interp.invoke()
            # as the runtime gives them: a network may fold the batch into another axis
            return [self._interp.get_tensor(i).copy() for i in self._outputs]
