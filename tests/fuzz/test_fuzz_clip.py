"""Fuzz corpus, motion clips: hostile or damaged .npz files are refused by ``read_clip`` with a
one-line MotionClipError (nothing else), before big claims are allocated, and the file stays
byte-identical; ``clip_to_fbx`` turns them into one sentence and writes nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fuzz_support import REPO, snapshot

from glot_blender.core.motion_clip import (
    MotionClip,
    MotionClipError,
    TrackMotion,
    read_clip,
    write_clip,
)
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS

N = 6


def _arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    """The members of a valid two-person clip."""
    tracks = [TrackMotion(
        track_id=tid, frame_ids=np.arange(N), global_orient=np.zeros((N, 3)),
        body_pose=np.zeros((N, 69)), betas=np.zeros((N, 10)), cam_crop=np.ones((N, 3)),
        bbox=np.full((N, 4), 50.0), transl=np.ones((N, 3)), rest_joints=DEFAULT_REST_JOINTS,
        joints3d=np.zeros((N, 24, 3)), confidence=np.full(N, 0.9), filled=np.zeros(N, bool))
        for tid in (1, 2)]
    clip = MotionClip(fps=30.0, frame_count=N, width=64, height=48, tracks=tracks,
                      focal_px=60.0, software={"numpy": "1"})
    path = write_clip(tmp_path / "valid.npz", clip)
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _npy_claiming(shape: tuple[int, ...], descr: str = "<f4", payload: bytes = b"\0" * 64) -> bytes:
    """An npy member whose header claims ``shape`` but that stores only ``payload``."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return out.getvalue() + payload


def _write(path: Path, arrays: dict[str, np.ndarray], raw: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            if raw and key in raw:
                continue
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=True)
            zf.writestr(key + ".npy", buf.getvalue())
        for key, data in (raw or {}).items():
            zf.writestr(key + ".npy", data)
    return path


def _set(key: str, value) -> Callable[[dict], dict]:
    def change(arrays: dict) -> dict:
        arrays[key] = np.asarray(value)
        return arrays
    return change


def _claim(key: str, shape: tuple[int, ...], descr: str = "<f4") -> Callable[[dict], dict]:
    def change(arrays: dict) -> dict:
        arrays.setdefault("__raw__", {})[key] = _npy_claiming(shape, descr)
        return arrays
    return change


def _structured(key: str) -> Callable[[dict], dict]:
    def change(arrays: dict) -> dict:
        n = len(arrays[key])
        arrays[key] = np.zeros(n, dtype=[("a", "<f4"), ("b", "<i4")])
        return arrays
    return change


def _scaled(key: str, index: tuple, value: float) -> Callable[[dict], dict]:
    def change(arrays: dict) -> dict:
        arr = arrays[key].copy()
        arr[index] = value
        arrays[key] = arr
        return arrays
    return change


CORPUS: dict[str, Callable[[dict], dict]] = {
    # headers that claim far more than the file holds
    "joints3d claims 10^9 frames": _claim("track_1/joints3d", (10**9, 24, 3)),
    "body_pose claims 2 GB": _claim("track_2/body_pose", (7_800_000, 69)),
    "fps claims an array": _claim("fps", (10**12,), "<f8"),
    "tracks claims 10^10 ids": _claim("tracks", (10**10,), "<i8"),
    "software claims a 4 GB string": _claim("software", (), "<U1000000000"),
    "negative shape": _claim("track_1/betas", (-1, 10)),
    # wrong dtypes
    "structured confidence": _structured("track_1/confidence"),
    "structured frame ids": _structured("track_2/frame_ids"),
    "object array": _set("track_1/filled", np.array([None] * N, dtype=object)),
    "complex transl": _set("track_1/transl", np.ones((N, 3), complex)),
    "text tracks": _set("tracks", np.array(["1", "2"])),
    # damaged scalars
    **{f"width {v}": _set("width", v) for v in (np.inf, np.nan, -5, 10**12)},
    **{f"fps {v}": _set("fps", v) for v in (np.nan, 0.0, -30.0, np.inf, 1e9)},
    "negative frame_count": _set("frame_count", -1),
    "frame_step 0": _set("frame_step", 0),
    "focal NaN": _set("focal_px", np.nan),
    "focal -inf": _set("focal_px", -np.inf),
    "deep JSON software": _set("software", "[" * 100_000 + "]" * 100_000),
    "deep JSON options": _set("analysis_options", '{"a":' * 50_000 + "1" + "}" * 50_000),
    "software not an object": _set("software", "[1, 2]"),
    # damaged per-person values
    "confidence NaN": _scaled("track_1/confidence", (2,), np.nan),
    "confidence 2": _scaled("track_2/confidence", (0,), 2.0),
    "confidence negative": _scaled("track_2/confidence", (0,), -0.5),
    "bbox inf": _scaled("track_1/bbox", (1, 2), np.inf),
    "cam_crop NaN": _scaled("track_2/cam_crop", (3, 0), np.nan),
    "transl inf": _scaled("track_1/transl", (0, 0), np.inf),
    "frame gap 10^12": _set("track_1/frame_ids", np.array([0, 1, 2, 3, 4, 10**12])),
    "frame gap beyond the clip": _set("track_1/frame_ids", np.array([0, 1, 2, 3, 4, 5000])),
    "negative frame id": _set("track_2/frame_ids", np.arange(N) - 3),
    "frames not increasing": _set("track_1/frame_ids", np.array([0, 1, 1, 2, 3, 4])),
    "duplicate person ids": _set("tracks", np.array([1, 1])),
    "shape mismatch": _set("track_2/body_pose", np.zeros((N, 68), np.float32)),
    "more frames than the clip": _set("frame_count", 2),
    "missing member": lambda a: {k: v for k, v in a.items() if k != "track_2/betas"},
}


@pytest.mark.parametrize("change", list(CORPUS.values()), ids=list(CORPUS))
def test_read_clip_refuses_with_one_motion_clip_error(change, tmp_path: Path) -> None:
    arrays = change(_arrays(tmp_path))
    raw = arrays.pop("__raw__", None)
    path = _write(tmp_path / "hostile.npz", arrays, raw)
    before = snapshot(tmp_path)
    with pytest.raises(MotionClipError) as err:
        read_clip(path)
    assert type(err.value) is MotionClipError
    message = str(err.value)
    assert "\n" not in message and len(message) < 400 and "hostile.npz" in message, message
    assert snapshot(tmp_path) == before


def test_valid_corpus_base_reads(tmp_path: Path) -> None:
    clip = read_clip(_write(tmp_path / "ok.npz", _arrays(tmp_path)))
    assert clip.track_ids == [1, 2] and clip.frame_count == N


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all",
                                     b"\x93NUMPY plain npy"], ids=["empty", "truncated zip",
                                                                   "text", "plain npy"])
def test_files_that_are_no_archive(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(MotionClipError, match="bad.npz"):
        read_clip(path)
    assert path.read_bytes() == content


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev are POSIX")
def test_fifos_and_devices_are_named(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(MotionClipError, match="FIFO"):
        read_clip(tmp_path / "pipe.npz")
    with pytest.raises(MotionClipError, match="character device"):
        read_clip("/dev/zero")


@pytest.mark.skipif(sys.platform != "linux", reason="address-space limit (setrlimit) on Linux")
def test_a_big_claim_is_refused_within_a_small_memory_limit(tmp_path: Path) -> None:
    """A 2.9 GB claim in a small file, read with 1 GiB of address space: refused from the
    header, never allocated (np.load would die with MemoryError)."""
    arrays = _claim("track_1/joints3d", (10_000_000, 24, 3))(_arrays(tmp_path))
    path = _write(tmp_path / "claim.npz", arrays, arrays.pop("__raw__"))
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from glot_blender.core.motion_clip import MotionClipError, read_clip\n"
            "try:\n"
            f"    read_clip({str(path)!r})\n"
            "except MotionClipError as exc:\n"
            "    print('refused:', exc)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("refused:"), proc.stdout + proc.stderr
    assert "joints3d" in proc.stdout


def test_clip_to_fbx_says_one_sentence_and_writes_nothing(tmp_path: Path) -> None:
    for name, change in (("claim", CORPUS["joints3d claims 10^9 frames"]),
                         ("nan", CORPUS["fps nan"]), ("deep", CORPUS["deep JSON software"])):
        arrays = change(_arrays(tmp_path))
        raw = arrays.pop("__raw__", None)
        folder = tmp_path / name
        folder.mkdir()
        path = _write(folder / "clip.npz", arrays, raw)
        before = snapshot(folder)
        proc = subprocess.run(
            [sys.executable, "-m", "glot_blender.blender.clip_to_fbx", str(path),
             str(folder / "out.fbx")], capture_output=True, text=True, timeout=300, check=False,
            env=dict(os.environ, PYTHONPATH=str(REPO)))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("clip_to_fbx: error: ") and "clip.npz" in lines[0]
        assert snapshot(folder) == before  # no FBX, no temporary file
