"""GLoT over one track: the official per-window loop vs ``GLoTModel.infer_track``, one run.

Both run on the same random weights (a synthetic checkpoint in the released layout) and the
same random features. The official-style loop (tests/glot/reference_glot.py) builds the demo's
windows and runs the whole network once per window, 64 windows per batch, including the global
branch's SMPL mesh; ``infer_track`` is timed with and without the output mesh. Timings are the
best of interleaved rounds (the three take turns, so they see the same machine load). Peak
memory is measured per method in a fresh subprocess (CPU: growth of the peak resident set
while it runs; CUDA: peak allocated). Prints frames/s, ratios, peak memory, max abs
differences and, if benchmarks/spin_features.py is present, the feature extractor's figures.
The last line is one JSON object.

    python benchmarks/glot_track.py [--frames 1000] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "glot"))

from reference_glot import ReferenceGLoT

from inference_server.glot import GLoTModel, load_glot
from inference_server.synthetic.glot_files import write_glot_checkpoint

#: windows per batch of the official demo loop
OFFICIAL_BATCH = 64
#: frames of the warm-up pass
WARMUP_FRAMES = 80
METHODS = ("official", "fast_verts", "fast")
#: resident-set sampling interval, seconds
SAMPLE_S = 0.002
#: glibc mallopt parameter number and the fixed threshold used while measuring memory
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def _setup(frames: int, device: torch.device) -> tuple[GLoTModel, ReferenceGLoT, torch.Tensor]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load_glot(write_glot_checkpoint(Path(tmp) / "table1_3dpw_weights.pth.tar"), device)
    ref = ReferenceGLoT(dict(model.state_dict()))
    feats = torch.rand(frames, 2048, generator=torch.Generator().manual_seed(0)).to(device)
    return model, ref, feats


def _methods(model: GLoTModel, ref: ReferenceGLoT, feats: torch.Tensor
             ) -> dict[str, Callable[[torch.Tensor], object]]:
    def official(x: torch.Tensor) -> dict:
        with torch.inference_mode():
            return ref.run_track(x, batch=OFFICIAL_BATCH)

    return {"official": official,
            "fast_verts": lambda x: model.infer_track(x, with_verts=True),
            "fast": lambda x: model.infer_track(x)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed_interleaved(fns: dict, feats: torch.Tensor, device: torch.device, repeats: int
                       ) -> dict[str, tuple[float, object]]:
    """Per method: best wall time over ``repeats`` interleaved rounds, and its last result."""
    best: dict[str, tuple[float, object]] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            result = fn(feats)
            _sync(device)
            elapsed = time.perf_counter() - start
            best[name] = (min(best.get(name, (float("inf"),))[0], elapsed), result)
    return best


def _peak_memory_mb(name: str, args: argparse.Namespace) -> float:
    """Peak memory growth of one method: a fresh subprocess on CPU, in-process on CUDA."""
    cmd = [sys.executable, __file__, "--memory-of", name, "--frames", str(args.frames),
           "--threads", str(args.threads), "--device", args.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mb"]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def _cpu_peak_growth(fn: Callable[[], object]) -> int:
    """Peak resident-set growth (bytes) while ``fn`` runs, sampled by a thread.

    Large blocks are forced to mmap (freed memory goes back to the OS at once), so the
    resident set follows the live tensors rather than the allocator's cache.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    libc.malloc_trim(0)
    base = peak = _rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes())
            time.sleep(SAMPLE_S)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    fn()
    done.set()
    thread.join()
    return max(peak, _rss_bytes()) - base


def _measure_memory_here(name: str, args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    model, ref, feats = _setup(args.frames, device)
    fn = _methods(model, ref, feats)[name]
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(feats)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _cpu_peak_growth(lambda: fn(feats))
    print(json.dumps({"method": name, "peak_mb": round(peak / 1e6, 1)}))


def _extractor_figures(device: str) -> dict | None:
    path = ROOT / "benchmarks" / "spin_features.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("spin_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "measure_extractor"):
        return None
    return module.measure_extractor(device=device)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-extractor", action="store_true", help="skip the SPIN figures")
    parser.add_argument("--memory-of", choices=METHODS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_of:
        _measure_memory_here(args.memory_of, args)
        return {}
    device = torch.device(args.device)
    model, ref, feats = _setup(args.frames, device)
    fns = _methods(model, ref, feats)
    for fn in fns.values():  # warm-up (allocator, kernels)
        fn(feats[:WARMUP_FRAMES])
    runs = _timed_interleaved(fns, feats, device, args.repeats)
    (t_off, off), (t_fv, fv), (t_f, f) = (runs[m] for m in METHODS)
    mem = {m: _peak_memory_mb(m, args) for m in METHODS}
    n = args.frames
    fig = {
        "benchmark": "glot_track", "device": str(device), "frames": n,
        "threads": torch.get_num_threads(), "repeats": args.repeats,
        "official_fps": round(n / t_off, 1), "fast_fps": round(n / t_fv, 1),
        "fast_no_verts_fps": round(n / t_f, 1),
        "ratio": round(t_off / t_fv, 2), "ratio_no_verts": round(t_off / t_f, 2),
        "peak_mem_mb_official": mem["official"], "peak_mem_mb_fast": mem["fast_verts"],
        "peak_mem_mb_fast_no_verts": mem["fast"],
        "max_abs_diff": {k: float((getattr(fv, k) - off[k]).abs().max())
                         for k in ("theta", "rotmat", "kp_3d", "verts")},
        "max_abs_diff_no_verts": {k: float((getattr(f, k) - off[k]).abs().max())
                                  for k in ("theta", "rotmat", "kp_3d")},
    }
    print(f"GLoT, {n}-frame track on {device} ({fig['threads']} threads), "
          f"best of {args.repeats} interleaved rounds")
    print(f"  official per-window loop (batch {OFFICIAL_BATCH}): {fig['official_fps']:8.1f} "
          f"frames/s  peak +{mem['official']} MB")
    print(f"  infer_track (with verts):            {fig['fast_fps']:8.1f} frames/s  "
          f"peak +{mem['fast_verts']} MB  ratio {fig['ratio']}x")
    print(f"  infer_track (joints only):           {fig['fast_no_verts_fps']:8.1f} frames/s  "
          f"peak +{mem['fast']} MB  ratio {fig['ratio_no_verts']}x")
    print(f"  max abs diff vs official: {fig['max_abs_diff']}")
    if not args.no_extractor:
        extractor = _extractor_figures(args.device)
        fig["extractor"] = extractor
        print(f"  feature extractor: {extractor or 'benchmarks/spin_features.py not available'}")
    print(json.dumps(fig))
    return fig


if __name__ == "__main__":
    main()
