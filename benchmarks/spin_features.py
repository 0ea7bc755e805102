"""SPIN feature extractor: our fast extractor against a plain eval-mode forward, same weights.

Both networks load the same checkpoint (a synthetic one with the official layout unless
``--checkpoint`` names the real ``spin_model_checkpoint.pth.tar``) and encode the same random
ImageNet-normalised crops in batches. Printed, measured in this one run: crops/s of each, the
ratio, and the largest absolute difference between their features. The last line is one JSON
object with these figures.

    python benchmarks/spin_features.py [--batch 8] [--crops 32] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inference_server.spin import load_feature_extractor, load_plain_extractor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _encode_all(fn: Callable[[torch.Tensor], torch.Tensor], crops: torch.Tensor,
                batch: int) -> torch.Tensor:
    return torch.cat([fn(crops[i : i + batch]) for i in range(0, len(crops), batch)])


def _best_time(fn: Callable[[], torch.Tensor], device: torch.device,
               repeats: int) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def measure_extractor(batch: int = 8, crops: int = 32, device: str = "cpu",
                      checkpoint: str | Path | None = None, repeats: int = 2,
                      seed: int = 0, precision: str = "float32") -> dict:
    """Crops/s of the plain eval-mode forward vs ``load_feature_extractor`` on the same weights.

    Returns {device, threads, batch, crops, precision, plain_crops_per_s, fast_crops_per_s,
    ratio, max_abs_diff, load_s}; ``precision`` is the fast extractor's (float16/bfloat16 are
    for GPUs and no longer within 1e-4). Timings are the best of ``repeats`` passes over all crops, the
    two networks alternating so that both see the same machine load.
    """
    dev = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            from inference_server.synthetic.spin_files import write_spin_checkpoint

            checkpoint = write_spin_checkpoint(Path(tmp) / "spin_model_checkpoint.pth.tar", seed)
        start = time.perf_counter()
        fast = load_feature_extractor(checkpoint, device=dev, precision=precision)
        load_s = time.perf_counter() - start
        plain = load_plain_extractor(checkpoint, device=dev)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(crops, 3, 224, 224, generator=gen) * 0.8).to(dev)

    def run_plain() -> torch.Tensor:
        with torch.inference_mode():
            return _encode_all(plain, x, batch)

    def run_fast() -> torch.Tensor:
        return _encode_all(fast, x, batch)

    with torch.inference_mode():  # warm-up (allocator, oneDNN/cuDNN kernel choice)
        plain(x[:batch])
        fast(x[:batch])
    plain_s, fast_s = float("inf"), float("inf")
    for _ in range(repeats):
        t, ref = _best_time(run_plain, dev, 1)
        plain_s = min(plain_s, t)
        t, out = _best_time(run_fast, dev, 1)
        fast_s = min(fast_s, t)
    return {
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "batch": batch,
        "crops": crops,
        "precision": precision,
        "plain_crops_per_s": round(crops / plain_s, 3),
        "fast_crops_per_s": round(crops / fast_s, 3),
        "ratio": round(plain_s / fast_s, 3),
        "max_abs_diff": float((out.float() - ref.float()).abs().max()),
        "load_s": round(load_s, 3),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crops", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--checkpoint", default=None, help="a real SPIN checkpoint (optional)")
    parser.add_argument("--precision", default="float32", help="float32 | float16 | bfloat16")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = measure_extractor(args.batch, args.crops, args.device, args.checkpoint, args.repeats,
                            precision=args.precision)
    print(f"device {res['device']}, {res['threads']} threads, {res['crops']} crops in batches "
          f"of {res['batch']}")
    print(f"plain eval-mode ResNet-50: {res['plain_crops_per_s']:.2f} crops/s "
          f"({1000 / res['plain_crops_per_s']:.1f} ms/crop)")
    print(f"fast extractor (BN folded, channels-last, {res['precision']}): "
          f"{res['fast_crops_per_s']:.2f} crops/s "
          f"({1000 / res['fast_crops_per_s']:.1f} ms/crop)")
    print(f"ratio {res['ratio']:.2f}x, max abs diff {res['max_abs_diff']:.2e}, "
          f"load {res['load_s']:.2f} s")
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
