"""A tiny ONNX file written by hand (protobuf wire format), so the ONNX detector can be tested
without the ``onnx`` package: the graph outputs fixed detection rows whatever the image
(``rows + 0 * mean(image)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLOAT = 1  # onnx.TensorProto.FLOAT
ATTR_INT, ATTR_INTS = 2, 7  # onnx.AttributeProto types


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n)


def _bytes(field: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def _tensor(name: str, array: np.ndarray) -> bytes:
    array = np.asarray(array, np.float32)
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, FLOAT) + _bytes(8, name) + _bytes(9, array.tobytes())


def _value_info(name: str, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)
    tensor_type = _int(1, FLOAT) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def _node(op: str, inputs: list[str], outputs: list[str], attrs: tuple[bytes, ...] = ()) -> bytes:
    return (
        b"".join(_bytes(1, i) for i in inputs)
        + b"".join(_bytes(2, o) for o in outputs)
        + _bytes(4, op)
        + b"".join(_bytes(5, a) for a in attrs)
    )


def write_constant_detector(path: Path, rows: np.ndarray, input_size: int) -> Path:
    """An ONNX model with input ``x`` (1, 3, S, S) whose output is ``rows`` (1, N, 6) (as a
    (1, 1, N, 6) tensor)."""
    rows = np.asarray(rows, np.float32).reshape(1, -1, 6)
    axes = _bytes(1, "axes") + b"".join(_int(8, a) for a in (1, 2, 3)) + _int(20, ATTR_INTS)
    keep = _bytes(1, "keepdims") + _int(3, 1) + _int(20, ATTR_INT)
    graph = (
        _bytes(1, _node("ReduceMean", ["x"], ["m"], (axes, keep)))
        + _bytes(1, _node("Mul", ["m", "zero"], ["m0"]))
        + _bytes(1, _node("Add", ["m0", "rows"], ["y"]))
        + _bytes(2, "constant_detector")
        + _bytes(5, _tensor("zero", np.zeros(1)))
        + _bytes(5, _tensor("rows", rows))
        + _bytes(11, _value_info("x", (1, 3, input_size, input_size)))
        + _bytes(12, _value_info("y", (1, 1, rows.shape[1], 6)))
    )
    opset = _bytes(1, "") + _int(2, 13)
    path.write_bytes(_int(1, 7) + _bytes(8, opset) + _bytes(7, graph))
    return path
