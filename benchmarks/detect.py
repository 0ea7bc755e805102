"""Benchmark: finding people without a download, and the lite backend's landmarks, in one run.

Prints, on 2 CPU cores (torch and LiteRT at THREADS threads):
- frames/s at 720p of ``--detector blazepose`` (whole frame + tiles), OpenCV's HOG and their
  union (what ``auto`` runs without YOLOv3), interleaved rounds, median per frame, on three
  720p pictures (zidane.jpg; bus.jpg's man pasted on a blurred street; three of him);
- recall (people found / hand-counted) and false boxes of each on every test photo of
  tests/photos.py (bus.jpg and zidane.jpg as is, turned 90 degrees, mirrored, a 3x3 mosaic with
  people 1/6 of the frame high, a picture without people);
- on a 720p clip of one photographed person (benchmarks/pipeline.py's video): frames/s of the
  lite backend's landmark stage given the tracker's boxes (ours: detect once, follow the ROI;
  before: mediapipe's legacy Pose in static-image mode on each crop, which re-detects inside
  every crop) beside MediaPipe Pose in video mode on the same frames (what BlendArMocap runs),
  and of the whole lite pipeline (decode, detect with auto, track, landmarks, IK; refine off and
  on), detecting every frame and every 30th (once a second);
and ends with one JSON line of every figure.

    python benchmarks/detect.py [--rounds 5] [--frames 60] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # photos.py lives with the tests
sys.path.insert(0, str(REPO / "benchmarks"))

THREADS = 2
#: the whole pipeline is also timed detecting every this many frames (one detection a second)
DETECT_EVERY_FAST = 30
SIZE = (1280, 720)


def _pictures_720p(scenes: dict) -> dict:
    import cv2

    from pipeline import make_people_video  # benchmarks/pipeline.py

    out = {"zidane": scenes["zidane"].image}
    with tempfile.TemporaryDirectory() as tmp:
        for people in (1, 3):
            path = Path(tmp) / f"p{people}.mp4"
            make_people_video(path, _bus_path(), people, 1)
            cap = cv2.VideoCapture(str(path))
            ok, frame = cap.read()
            cap.release()
            out[f"bus-person-x{people}"] = frame
    return out


def _bus_path() -> Path:
    import photos

    path, why = photos.wheel_photo("bus")
    if path is None:
        raise SystemExit(why)
    return path


def time_detectors(detectors: dict, pictures: dict, rounds: int) -> dict:
    """Median seconds per 720p frame of each detector, interleaved rounds over the pictures."""
    times: dict[str, list[float]] = {k: [] for k in detectors}
    for d in detectors.values():  # warm up
        d.detect([next(iter(pictures.values()))])
    for _ in range(rounds):
        for img in pictures.values():
            for name, d in detectors.items():
                t0 = time.perf_counter()
                d.detect([img])
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def recall(detectors: dict, scenes: dict) -> dict:
    import photos

    out = {}
    for name, scene in scenes.items():
        row = {}
        for dname, d in detectors.items():
            m = photos.match(d.detect([scene.image])[0], scene)
            row[dname] = {"found": int(m.found.sum()), "people": len(m.found), "false": m.false}
        out[name] = row
    return out


def landmark_stage(video: Path, frames: int) -> dict:
    """frames/s of the lite landmark stage on the clip's tracked box, three ways."""
    import cv2
    import numpy as np

    from inference_server.backends.lite_backend import LiteBackend
    from inference_server.crop import crop_people
    from inference_server.detect import make_detector
    from inference_server.track import Tracker, TrackerConfig

    cap = cv2.VideoCapture(str(video))
    imgs = []
    while len(imgs) < frames:
        ok, f = cap.read()
        if not ok:
            break
        imgs.append(f)
    cap.release()
    det = make_detector("auto")
    tracker = Tracker(TrackerConfig.for_fps(30, min_track_len=5))
    for i, f in enumerate(imgs):
        tracker.update(i, det.detect([f])[0])
    (track,) = [t for t in tracker.finish() if len(t) == len(imgs)][:1]
    boxes = track.bboxes
    lite = LiteBackend()
    # ours: detect once per person, follow the ROI from the landmarks
    session = lite.frame_session()
    lite.encode_frame(lite.frame_session(), imgs[0], boxes[:1], [0])  # warm up
    t0 = time.perf_counter()
    ours = [lite.encode_frame(session, f, b[None], [1]) for f, b in zip(imgs, boxes)]
    t_ours = time.perf_counter() - t0
    # before: legacy mediapipe Pose, static-image mode, on each crop (re-detects every crop)
    import mediapipe as mp

    legacy = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    crops = [crop_people(f, b[None], lite.crop_scale, lite.crop_size)[0]
             for f, b in zip(imgs, boxes)]
    legacy.process(crops[0])
    t0 = time.perf_counter()
    found_legacy = sum(legacy.process(c).pose_landmarks is not None for c in crops)
    t_legacy = time.perf_counter() - t0
    legacy.close()
    # MediaPipe Pose, video mode, whole frames (one person, its own detector + tracking)
    video_mode = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    t0 = time.perf_counter()
    found_video = 0
    for f in imgs:
        result = video_mode.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        found_video += result.pose_landmarks is not None
    t_video = time.perf_counter() - t0
    video_mode.close()
    found_ours = int(sum(not np.isnan(o).any() for o in ours))
    n = len(imgs)
    return {
        "frames": n,
        "ours_fps": n / t_ours, "legacy_static_fps": n / t_legacy,
        "mediapipe_video_fps": n / t_video,
        "found": {"ours": found_ours, "legacy_static": int(found_legacy),
                  "mediapipe_video": int(found_video)},
    }


def whole_pipeline(video: Path, frames: int, detect_every: int, refine: bool) -> dict:
    from inference_server.pipeline import AnalyzeOptions, Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(models_dir=Path(tmp) / "none", device="cpu")
        opts = AnalyzeOptions(video=video, output=Path(tmp) / "out.npz", end=frames,
                              backend="lite", detector="auto", device="cpu", min_track_len=5,
                              detect_every=detect_every, refine=refine)
        engine.analyze(AnalyzeOptions(video=video, output=Path(tmp) / "w.npz", end=8,
                                      backend="lite", device="cpu", min_track_len=3,
                                      refine=False))  # load and warm up
        t0 = time.perf_counter()
        result = engine.analyze(opts)
        wall = time.perf_counter() - t0
    return {"fps": result.frame_count / wall, "people": len(result.tracks),
            "detector": result.detector,
            "stage_s": {k: round(v, 3) for k, v in result.timings.items() if v}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.frames = 1, 12

    import cv2
    import torch

    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    import photos

    from inference_server.blazepose.detector import BlazePoseDetector
    from inference_server.blazepose.union import UnionDetector
    from inference_server.detect import HogDetector

    zidane, why = photos.wheel_photo("zidane")
    if zidane is None:
        raise SystemExit(why)
    scenes = {s.name: s for s in photos.scenes(_bus_path(), zidane)}
    bp, hog = BlazePoseDetector(), HogDetector()
    detectors = {"blazepose": bp, "hog": hog, "union": UnionDetector(bp, hog)}

    pictures = _pictures_720p(scenes)
    per_frame = time_detectors(detectors, pictures, args.rounds)
    fps = {k: 1.0 / v for k, v in per_frame.items()}
    print("720p frames/s (median over %d rounds x %d pictures):" % (args.rounds, len(pictures)))
    for k, v in fps.items():
        print(f"  {k:10s} {v:6.2f} frames/s")
    print(f"  blazepose / hog speed: {fps['blazepose'] / fps['hog']:.2f}x")

    rec = recall(detectors, scenes)
    print("recall on the test photos (found/people, false boxes):")
    for name, row in rec.items():
        print(f"  {name:15s} " + "  ".join(
            f"{d} {r['found']}/{r['people']} f{r['false']}" for d, r in row.items()))
    total = {d: sum(r[d]["found"] for r in rec.values()) for d in detectors}
    people = sum(r["hog"]["people"] for r in rec.values())
    print("  total found: " + ", ".join(f"{d} {n}/{people}" for d, n in total.items()))
    not_worse = all(r["blazepose"]["found"] >= r["hog"]["found"] for r in rec.values())

    from pipeline import make_people_video

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "one.mp4"
        make_people_video(video, _bus_path(), 1, args.frames)
        stage = landmark_stage(video, args.frames)
        print("lite landmarks on one 720p person (%d frames):" % stage["frames"])
        print(f"  ours (detect once, follow ROI) {stage['ours_fps']:.1f} frames/s, legacy static "
              f"crops {stage['legacy_static_fps']:.1f}, MediaPipe video mode "
              f"{stage['mediapipe_video_fps']:.1f}; found {stage['found']}")
        runs = {}
        for every, refine in ((1, False), (1, True), (DETECT_EVERY_FAST, False)):
            key = f"every{every}_refine{'on' if refine else 'off'}"
            runs[key] = whole_pipeline(video, args.frames, every, refine)
            print(f"  whole lite pipeline, detect every {every}, refine "
                  f"{'on' if refine else 'off'}: {runs[key]['fps']:.2f} frames/s "
                  f"({runs[key]['people']} person(s), {runs[key]['stage_s']})")
    figures = {
        "detect_fps_720p": {k: round(v, 3) for k, v in fps.items()},
        "blazepose_vs_hog_speed": round(fps["blazepose"] / fps["hog"], 3),
        "recall": rec, "recall_total": total, "people_total": people,
        "blazepose_recall_not_below_hog_on_every_photo": not_worse,
        "landmarks_one_person": {k: (round(v, 2) if isinstance(v, float) else v)
                                 for k, v in stage.items()},
        "ours_vs_mediapipe_video": round(stage["ours_fps"] / stage["mediapipe_video_fps"], 3),
        "ours_vs_legacy_static": round(stage["ours_fps"] / stage["legacy_static_fps"], 3),
        "whole_pipeline": runs,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
