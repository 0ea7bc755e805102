"""Benchmark: `glot-mocap batch` on this machine (or a Ray cluster) against plain `analyze`.

In one run, over the same N short synthetic videos (one HOG-detectable walker each, glot
backend on synthetic model files):
- analyze, shell loop: `glot-mocap analyze` once per video as a subprocess (what users do
  without batch: models reloaded for every video);
- analyze, warm engine: the pipeline's Engine in this process, models already loaded, one
  video after another with one torch thread (the floor a batch of one worker can reach);
- batch with 1 worker and with 2 workers (1 CPU, 1 torch thread each) on one Ray (a local
  Ray with this machine's CPUs, or --address), wall time including the workers' start and
  model loading.
Prints frames/s of each, the 2-worker / 1-worker ratio (goal >= 1.7 on 2 cores), the batch's
overhead per video against the warm engine (goal <= 5%), the speed-up over the shell loop,
each batch worker's peak memory, and the same in CPU seconds (driver, workers and Ray's own
processes), which hold on a shared machine where wall-clock ratios do not. The overhead is also given without the one model load a
worker pays (the warm engine paid it before its clock started). The last line is one JSON object with every figure.

    python benchmarks/batch.py [--videos 6] [--frames 48] [--address HOST:PORT] [--no-loop]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # synthetic_video lives with the tests

SIZE = (480, 360)
PERSON_HEIGHT = 220.0
MIN_TRACK_LEN = 10


def make_videos(folder: Path, count: int, frames: int) -> list[Path]:
    import synthetic_video

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"take{k:02d}.mp4"
        synthetic_video.walking_video(path, num_frames=frames, size=SIZE,
                                      person_height=PERSON_HEIGHT, seed=k)
        paths.append(path)
    return paths


def analyze_options(models: Path):
    from inference_server.pipeline import AnalyzeOptions

    return AnalyzeOptions(video="", output="x.npz", backend="glot", detector="hog",
                          min_track_len=MIN_TRACK_LEN, models_dir=models, device="cpu")


def shell_loop(videos: list[Path], models: Path, out: Path) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    for video in videos:
        subprocess.run([sys.executable, "-m", "inference_server.cli", "analyze", str(video),
                        "-o", str(out / f"{video.stem}.npz"), "--models", str(models),
                        "--backend", "glot", "--detector", "hog", "--device", "cpu",
                        "--min-track-len", str(MIN_TRACK_LEN), "--no-fbx", "-q"],
                       check=True, env=env, capture_output=True)
    return time.perf_counter() - t0


def warm_engine(videos: list[Path], models: Path, out: Path) -> tuple[float, float, float]:
    """(wall seconds for all videos with the models loaded, CPU seconds of the same, wall
    seconds of the first video with the model loading)."""
    import torch

    from inference_server.pipeline import Engine

    torch.set_num_threads(1)
    engine = Engine(models_dir=models, device="cpu")
    options = analyze_options(models)
    t0 = time.perf_counter()
    engine.analyze(replace(options, video=videos[0], output=out / "warmup.npz"))
    first = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    for video in videos:
        engine.analyze(replace(options, video=video, output=out / f"{video.stem}.npz"))
    return time.perf_counter() - t0, time.process_time() - c0, first


def _tree_cpu_s(root: int, skip: set[int]) -> dict[int, float]:
    """CPU seconds (user + system) of every live descendant of ``root`` not in ``skip``."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    found = {}
    for pid, seconds in cpu.items():
        p = pid
        while p in parent and p != root:
            p = parent[p]
        if p == root and pid != root and pid not in skip:
            found[pid] = seconds
    return found


def batch(videos: list[Path], models: Path, out: Path, workers: int, address: str | None):
    from inference_server.batch.inputs import collect_items
    from inference_server.batch.runner import BatchSettings, run_batch

    """(wall seconds, CPU seconds of the driver, the workers and Ray's own local processes,
    summary)."""
    items = collect_items([str(v) for v in videos], out)
    settings = BatchSettings(address=address, workers=workers, write_fbx=False, force=True)
    ray_before = _tree_cpu_s(os.getpid(), skip=set())
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_batch(items, analyze_options(models), settings)
    seconds, driver_cpu = time.perf_counter() - t0, time.process_time() - c0
    bad = [r for r in summary.results if r.status != "done"]
    if bad:
        raise SystemExit(f"batch failed: {bad[0].rel}: {bad[0].reason}")
    workers_cpu: dict[int, float] = {}
    for r in summary.results:
        workers_cpu[r.worker_pid] = max(workers_cpu.get(r.worker_pid, 0.0), r.worker_cpu_s)
    ray_after = _tree_cpu_s(os.getpid(), skip=set(workers_cpu))
    ray_cpu = sum(v - ray_before.get(pid, 0.0) for pid, v in ray_after.items())
    parts = {"driver": driver_cpu, "workers": sum(workers_cpu.values()), "ray": ray_cpu}
    return seconds, parts, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--address", default=None, help="run the batch parts on this Ray cluster")
    ap.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    ap.add_argument("--no-loop", action="store_true", help="skip the analyze shell loop")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured

    from inference_server.batch.runner import ray_session
    from inference_server.synthetic import write_synthetic_models

    with tempfile.TemporaryDirectory(prefix="glot-bench-batch-") as tmp:
        tmp_path = Path(tmp)
        models = tmp_path / "models"
        models.mkdir()
        write_synthetic_models(models, seed=0)
        videos = make_videos(tmp_path / "videos", args.videos, args.frames)
        frames = args.videos * args.frames
        figures: dict = {"videos": args.videos, "frames_per_video": args.frames,
                         "size": f"{SIZE[0]}x{SIZE[1]}", "cpus": os.cpu_count()}
        if not args.no_loop:
            loop_s = shell_loop(videos, models, tmp_path / "loop")
            figures["shell_loop_fps"] = round(frames / loop_s, 2)
            print(f"analyze, shell loop : {loop_s:7.1f} s  {frames / loop_s:6.2f} frames/s")
        warm_s, warm_cpu, first_s = warm_engine(videos, models, tmp_path / "warm")
        figures["warm_engine_fps"] = round(frames / warm_s, 2)
        figures["warm_engine_cpu_s_per_video"] = round(warm_cpu / args.videos, 2)
        figures["model_load_and_first_video_s"] = round(first_s, 2)
        print(f"analyze, warm engine: {warm_s:7.1f} s  {frames / warm_s:6.2f} frames/s "
              f"(first video with model loading: {first_s:.1f} s)")

        def run_batches() -> None:
            for workers in (1, args.workers):
                seconds, parts, summary = batch(videos, models, tmp_path / f"batch{workers}",
                                                workers, args.address)
                figures[f"batch{workers}_fps"] = round(frames / seconds, 2)
                figures[f"batch{workers}_cpu_s_per_video"] = round(
                    sum(parts.values()) / args.videos, 2)
                for name, cpu in parts.items():
                    figures[f"batch{workers}_{name}_cpu_s"] = round(cpu, 2)
                peak = max(r.peak_rss_mb for r in summary.results)
                figures[f"batch{workers}_worker_peak_mb"] = round(peak)
                print(f"batch, {workers} worker(s)   : {seconds:7.1f} s  "
                      f"{frames / seconds:6.2f} frames/s (worker peak {peak:.0f} MB)")

        if args.address:
            run_batches()
        else:
            with ray_session(None):  # one local Ray for both batch runs
                run_batches()
    ratio = figures[f"batch{args.workers}_fps"] / figures["batch1_fps"]
    overhead = figures["warm_engine_fps"] / figures["batch1_fps"] - 1.0
    # the one model load a batch worker pays (the warm engine had paid it before the clock)
    load_s = max(0.0, first_s - warm_s / args.videos)
    batch1_s = frames / figures["batch1_fps"]
    figures["model_load_s"] = round(load_s, 2)
    figures["ratio_parallel_vs_1"] = round(ratio, 3)
    figures["batch1_overhead_vs_warm_engine"] = round(overhead, 3)
    figures["batch1_overhead_without_model_load"] = round((batch1_s - load_s) / warm_s - 1.0, 3)
    if "shell_loop_fps" in figures:
        figures["speedup_parallel_vs_shell_loop"] = round(
            figures[f"batch{args.workers}_fps"] / figures["shell_loop_fps"], 2)
    # CPU seconds do not depend on what else the machine runs: the overhead in CPU terms, and
    # the speed-up 2 workers would reach on 2 idle cores if they ran fully in parallel
    cpu1, cpu2 = (figures[f"batch{w}_cpu_s_per_video"] for w in (1, args.workers))
    figures["batch1_cpu_overhead_vs_warm_engine"] = round(
        cpu1 / figures["warm_engine_cpu_s_per_video"] - 1.0, 3)
    figures["parallel_ratio_on_idle_cores_from_cpu"] = round(args.workers * cpu1 / cpu2, 3)
    figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(f"{args.workers} workers / 1 worker: {ratio:.2f}x (goal >= 1.7 on 2 cores); "
          f"batch overhead per video vs warm engine: {100 * overhead:+.1f}% (goal <= 5%), "
          f"{100 * figures['batch1_overhead_without_model_load']:+.1f}% without the one model "
          f"load ({load_s:.1f} s)")
    print(f"CPU seconds per video: warm engine {figures['warm_engine_cpu_s_per_video']}, "
          f"batch 1 worker {cpu1} ({100 * figures['batch1_cpu_overhead_vs_warm_engine']:+.1f}%), "
          f"{args.workers} workers {cpu2}: {args.workers} workers on idle cores would run "
          f"{figures['parallel_ratio_on_idle_cores_from_cpu']:.2f}x as fast "
          f"(load average now {figures['load_avg_1min']})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
