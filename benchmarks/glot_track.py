"""GLoT over one track: the official per-window loop vs ``GLoTModel.infer_track``, one run.

Both run on the same random weights (a synthetic checkpoint in the released layout) and the
same random features. The official-style loop (tests/glot/reference_glot.py) builds the demo's
windows and runs the whole network once per window, 64 windows per batch, including the global
branch's SMPL mesh; ``infer_track`` is timed with and without the output mesh. Prints frames/s,
ratios, peak resident memory above the baseline while each runs, the max abs differences, and
(if benchmarks/spin_features.py is present) the feature extractor's figures. The last line is
one JSON object.

    python benchmarks/glot_track.py [--frames 1000] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "glot"))

from reference_glot import ReferenceGLoT

from inference_server.glot import load_glot
from inference_server.synthetic.glot_files import write_glot_checkpoint

#: windows per batch of the official demo loop
OFFICIAL_BATCH = 64
#: interval of the resident-memory sampler, seconds
SAMPLE_S = 0.005


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    except OSError:
        return 0


class PeakMemory:
    """Peak resident memory (CPU) or peak allocated CUDA memory above the start, in MB."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(SAMPLE_S)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = self.peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()

    @property
    def mb(self) -> float:
        return round((self.peak - self.base) / 1e6, 1)


def _timed(fn, device: torch.device, repeats: int) -> tuple[float, object, float]:
    """Best wall time of ``repeats`` runs, the last result, and the peak memory (MB)."""
    best, result, mem = float("inf"), None, 0.0
    for _ in range(repeats):
        with PeakMemory(device) as pm:
            start = time.perf_counter()
            result = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        mem = max(mem, pm.mb)
    return best, result, mem


def _extractor_figures() -> dict | None:
    path = ROOT / "benchmarks" / "spin_features.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("spin_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.measure_extractor() if hasattr(module, "measure_extractor") else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-extractor", action="store_true", help="skip the SPIN figures")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_glot(write_glot_checkpoint(Path(tmp) / "table1_3dpw_weights.pth.tar"), device)
    ref = ReferenceGLoT({k: v for k, v in model.state_dict().items()})
    feats = torch.rand(args.frames, 2048, generator=torch.Generator().manual_seed(0)).to(device)

    # warm-up (allocator, kernels)
    with torch.inference_mode():
        ref.run_track(feats[:80], batch=OFFICIAL_BATCH)
    model.infer_track(feats[:80], with_verts=True)

    def official():
        with torch.inference_mode():
            return ref.run_track(feats, batch=OFFICIAL_BATCH)

    t_off, out_off, mem_off = _timed(official, device, args.repeats)
    t_fv, out_fv, mem_fv = _timed(lambda: model.infer_track(feats, with_verts=True), device,
                                  args.repeats)
    t_f, out_f, mem_f = _timed(lambda: model.infer_track(feats), device, args.repeats)
    diff = {k: float((getattr(out_fv, k) - out_off[k]).abs().max())
            for k in ("theta", "rotmat", "kp_3d", "verts")}
    diff_lean = {k: float((getattr(out_f, k) - out_off[k]).abs().max())
                 for k in ("theta", "rotmat", "kp_3d")}
    n = args.frames
    fig = {
        "benchmark": "glot_track", "device": str(device), "frames": n,
        "threads": torch.get_num_threads(),
        "official_fps": round(n / t_off, 1),
        "fast_fps": round(n / t_fv, 1),
        "fast_no_verts_fps": round(n / t_f, 1),
        "ratio": round(t_off / t_fv, 2),
        "ratio_no_verts": round(t_off / t_f, 2),
        "official_ms_per_frame": round(1000 * t_off / n, 3),
        "fast_ms_per_frame": round(1000 * t_fv / n, 3),
        "peak_mem_mb_official": mem_off, "peak_mem_mb_fast": mem_fv,
        "peak_mem_mb_fast_no_verts": mem_f,
        "max_abs_diff": diff, "max_abs_diff_no_verts": diff_lean,
    }
    print(f"GLoT, {n}-frame track on {device} ({fig['threads']} threads), best of {args.repeats}")
    print(f"  official per-window loop (batch {OFFICIAL_BATCH}): {fig['official_fps']:8.1f} frames/s"
          f"  peak +{mem_off} MB")
    print(f"  infer_track (with verts):           {fig['fast_fps']:8.1f} frames/s"
          f"  peak +{mem_fv} MB  ratio {fig['ratio']}x")
    print(f"  infer_track (joints only):          {fig['fast_no_verts_fps']:8.1f} frames/s"
          f"  peak +{mem_f} MB  ratio {fig['ratio_no_verts']}x")
    print(f"  max abs diff vs official: {diff}")
    if not args.no_extractor:
        extractor = _extractor_figures()
        if extractor is not None:
            fig["extractor"] = extractor
            print(f"  feature extractor: {extractor}")
        else:
            print("  feature extractor: benchmarks/spin_features.py not available")
    print(json.dumps(fig))
    return fig


if __name__ == "__main__":
    main()
