"""Benchmark: a synthetic 720p video through the whole pipeline on CPU, synthetic weights.

Prints, for each backend in BACKENDS (glot with synthetic weights, lite = BlazePose full):
- frames/s per stage and overall on 720p videos of ONE and of THREE photographed people
  (the man from bus.jpg, ultralytics' sample photo, pasted onto a blurred copy of the photo
  and drifting sideways), the same videos for every backend;
and, for backends that see drawn figures (not lite: BlazePose finds only real-looking people):
- frames/s per stage (decode over both passes, detect, track, crop, features, pose = GLoT,
  write) and overall, detecting every frame and every K-th frame, in the same run;
- peak resident memory (ru_maxrss) of a fresh subprocess analysing the first SHORT vs LONG
  frames of the same video (target: LONG/SHORT <= 1.2, memory does not grow with length).
The last line is one JSON object with every figure.

CPU cost is dominated by the SPIN ResNet-50 (~50-100 ms per crop on 2 cores) and by OpenCV's
HOG detector at 720p (0.06-0.2 s per frame, depending on the load), so the video holds ONE walking person and the
memory runs detect every MEM_DETECT_EVERY-th frame. Use --quick for a smoke run.

    python benchmarks/pipeline.py [--frames 120] [--every 5] [--short 500] [--long 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # synthetic_video lives with the tests

SIZE = (1280, 720)
PERSON_HEIGHT = 420.0
MEM_DETECT_EVERY = 10
MIN_TRACK_LEN = 25  # the default: drops short HOG false-positive tracks
STAGES = ("decode", "detect", "track", "crop", "features", "pose", "write")


@dataclass(frozen=True)
class BackendCase:
    """One backend to benchmark: its name and how to prepare a models folder for it."""

    name: str
    prepare: Callable[[Path], None]
    #: also run on the synthetic walker video (drawn figures: BlazePose sees no one there)
    walker: bool = True


def _synthetic_glot_models(folder: Path) -> None:
    from inference_server.synthetic import write_synthetic_models

    if not (folder / "table1_3dpw_weights.pth.tar").exists():
        write_synthetic_models(folder, seed=0)


BACKENDS: tuple[BackendCase, ...] = (
    BackendCase("glot", _synthetic_glot_models),
    BackendCase("lite", lambda folder: None, walker=False),
)
#: photo people videos: the man on the left of bus.jpg (rows, columns of the photo), pasted
#: PHOTO_PERSON_HEIGHT px tall at these x positions on a blurred copy of the photo, drifting
PHOTO_PERSON = (slice(380, 1000), slice(0, 270))
PHOTO_PERSON_HEIGHT = 600
PHOTO_PERSON_TOP = 60
PHOTO_PEOPLE_X = {1: (500,), 3: (120, 500, 880)}
DRIFT_PX_PER_FRAME = 1.0
BLUR_SIGMA = 25.0


def make_people_video(path: Path, photo: Path, people: int, frames: int) -> None:
    """A 720p video of ``people`` real (photographed) standing people drifting sideways."""
    import cv2

    img = cv2.imread(str(photo))
    person = img[PHOTO_PERSON]
    h, w = person.shape[:2]
    person = cv2.resize(person, (round(w * PHOTO_PERSON_HEIGHT / h), PHOTO_PERSON_HEIGHT),
                        interpolation=cv2.INTER_AREA)
    background = cv2.resize(cv2.GaussianBlur(img, (0, 0), BLUR_SIGMA), SIZE)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, SIZE)
    for i in range(frames):
        frame = background.copy()
        for x in PHOTO_PEOPLE_X[people]:
            x0 = x + round(DRIFT_PX_PER_FRAME * i)
            frame[PHOTO_PERSON_TOP:PHOTO_PERSON_TOP + PHOTO_PERSON_HEIGHT,
                  x0:x0 + person.shape[1]] = person
        writer.write(frame)
    writer.release()


def bus_photo(work: Path) -> Path:
    """bus.jpg from the ultralytics wheel (cached by the lite tests, else fetched with pip)."""
    import os
    import zipfile

    cache = Path(os.environ.get("GLOT_TEST_CACHE") or Path.home() / ".cache" / "glot-mocap-tests")
    photo = cache / "bus.jpg"
    if photo.is_file():
        return photo
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "-q", "-d", str(work), "ultralytics==8.4.190"], check=True)
    with zipfile.ZipFile(next(work.glob("ultralytics-*.whl"))) as wheel:
        (work / "bus.jpg").write_bytes(wheel.read("ultralytics/assets/bus.jpg"))
    return work / "bus.jpg"


def make_video(path: Path, frames: int) -> None:
    import synthetic_video

    if not path.exists():
        synthetic_video.walking_video(path, num_frames=frames, size=SIZE,
                                      person_height=PERSON_HEIGHT)


def warm_up(engine, models: Path, backend: str) -> None:
    """Load the backend and run it once, so that loading and first-call costs are not timed."""
    import numpy as np

    from inference_server.backends.base import TrackInput
    from inference_server.registry import ModelRegistry

    be = engine.backend(backend, ModelRegistry(models), "cpu")
    feats = be.encode_crops(np.zeros((2, be.crop_size, be.crop_size, 3), np.uint8))
    n = 20
    be.solve_track(TrackInput(0, np.arange(n), np.tile([[100.0, 100, 50, 50]], (n, 1)),
                              np.repeat(feats[:1], n, 0), np.zeros(n, bool), np.ones(n)))


def analyze(video: Path, out: Path, models: Path, backend: str, end: int | None,
            detect_every: int) -> dict:
    """One analysis in this process; returns its timings and counts."""
    from inference_server.pipeline import AnalyzeOptions, Engine

    engine = Engine(models_dir=models, device="cpu")
    options = AnalyzeOptions(video=video, output=out, end=end, backend=backend, detector="hog",
                             device="cpu", min_track_len=MIN_TRACK_LEN, detect_every=detect_every)
    warm_up(engine, models, backend)
    t0 = time.perf_counter()
    result = engine.analyze(options)
    wall = time.perf_counter() - t0
    crops = sum(t.num_frames for t in result.tracks)
    return {
        "frames": result.frame_count, "crops": crops, "wall_s": wall,
        "people": len(result.tracks), "timings": result.timings,
        "mean_confidence": [round(t.mean_confidence, 3) for t in result.tracks],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def child_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    res = analyze(Path(args.video), Path(args.out), Path(args.models), args.backend, args.end,
                  args.detect_every)
    print(json.dumps(res))


def run_child(video: Path, out: Path, models: Path, backend: str, end: int | None,
              detect_every: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--video", str(video), "--out", str(out),
           "--models", str(models), "--backend", backend, "--detect-every", str(detect_every),
           "--threads", str(threads)]
    if end is not None:
        cmd += ["--end", str(end)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rates(res: dict) -> dict[str, float]:
    """Units per second per stage: frames for decode/detect/track, crops for crop/features/pose."""
    out = {}
    for stage in STAGES:
        sec = res["timings"].get(stage, 0.0)
        units = res["crops"] if stage in ("crop", "features", "pose") else res["frames"]
        if stage == "write":
            units = res["frames"]
        out[stage] = units / sec if sec > 0 else float("inf")
    out["overall"] = res["frames"] / res["wall_s"]
    return out


def print_rates(label: str, res: dict) -> None:
    r = rates(res)
    print(f"  {label}: {res['frames']} frames, {res['crops']} crops, {res['people']} person(s), "
          f"{res['wall_s']:.1f} s, overall {r['overall']:.2f} frames/s")
    for stage in STAGES:
        unit = "crops/s" if stage in ("crop", "features", "pose") else "frames/s"
        print(f"    {stage:<9}{res['timings'].get(stage, 0.0):8.2f} s  {r[stage]:10.1f} {unit}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=120, help="frames of the speed runs")
    p.add_argument("--every", type=int, default=5, help="K of detect-every-K")
    p.add_argument("--short", type=int, default=500)
    p.add_argument("--long", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--people-frames", type=int, default=60,
                   help="frames of the photographed-people videos (1 and 3 people)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 40 / 60 / 120 frames")
    p.add_argument("--workdir", type=Path, default=None)
    # child-process mode (one memory measurement)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--video", "--out", "--models", "--backend"):
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--end", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--detect-every", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child_main(args)
        return
    if args.quick:
        args.frames, args.short, args.long = 40, 60, 120
    work = args.workdir or Path(tempfile.mkdtemp(prefix="glot-bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    long_video = work / f"walk720_{args.long}.mp4"
    print(f"synthetic 720p video, one walking person, {args.long} frames: {long_video}")
    make_video(long_video, args.long)
    import cv2
    import torch

    figures: dict = {"size": list(SIZE), "threads": args.threads, "torch": torch.__version__,
                     "opencv": cv2.__version__, "detector": "hog", "backends": {}}
    photo = bus_photo(work)
    people_videos = {}
    for n in PHOTO_PEOPLE_X:
        people_videos[n] = work / f"people{n}_720_{args.people_frames}.mp4"
        if not people_videos[n].exists():
            make_people_video(people_videos[n], photo, n, args.people_frames)
    for case in BACKENDS:
        models = work / f"models_{case.name}"
        models.mkdir(exist_ok=True)
        case.prepare(models)
        figures["backends"][case.name] = {}
        for n, video in people_videos.items():
            print(f"\n[{case.name}] {n} photographed person(s), 720p, {args.people_frames} frames")
            res = run_child(video, work / "p.npz", models, case.name, None, 1, args.threads)
            print_rates("detect every frame", res)
            figures["backends"][case.name][f"people{n}"] = {
                "fps": rates(res), "people_found": res["people"],
                "mean_confidence": res["mean_confidence"], "frames": res["frames"]}
        if not case.walker:
            continue
        print(f"\n[{case.name}] speed, first {args.frames} frames (fresh process each)")
        every1 = run_child(long_video, work / "a.npz", models, case.name, args.frames, 1,
                           args.threads)
        print_rates("detect every frame", every1)
        everyk = run_child(long_video, work / "b.npz", models, case.name, args.frames, args.every,
                           args.threads)
        print_rates(f"detect every {args.every} frames", everyk)
        speedup = every1["wall_s"] / everyk["wall_s"]
        print(f"  detect-every-{args.every} is {speedup:.2f}x faster overall")
        print(f"\n[{case.name}] peak memory (ru_maxrss, fresh process, detect every "
              f"{MEM_DETECT_EVERY})")
        short = run_child(long_video, work / "c.npz", models, case.name, args.short,
                          MEM_DETECT_EVERY, args.threads)
        long = run_child(long_video, work / "d.npz", models, case.name, None, MEM_DETECT_EVERY,
                         args.threads)
        ratio = long["peak_rss_mb"] / short["peak_rss_mb"]
        print(f"  {short['frames']} frames: {short['peak_rss_mb']:.0f} MB; {long['frames']} "
              f"frames: {long['peak_rss_mb']:.0f} MB; ratio {ratio:.3f} (target <= 1.2)")
        print_rates(f"{long['frames']}-frame run", long)
        figures["backends"][case.name] |= {
            "fps_every1": rates(every1), "fps_everyk": rates(everyk), "k": args.every,
            "speedup_everyk": speedup, "speed_frames": every1["frames"],
            "rss_mb_short": short["peak_rss_mb"], "rss_mb_long": long["peak_rss_mb"],
            "frames_short": short["frames"], "frames_long": long["frames"],
            "mem_ratio": ratio, "fps_long": rates(long),
        }
    first = next(figures["backends"][c.name] for c in BACKENDS if c.walker)
    figures["mem_ratio"] = first["mem_ratio"]
    figures["speedup_everyk"] = first["speedup_everyk"]
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
