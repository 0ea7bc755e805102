"""Benchmark: what the temporal solver (stage "refine") buys and what it costs, in one run.

1. Synthetic ground truth (inference_server/synthetic/motion.py): a walk, a squat, a kick and
   arm swings on the synthetic SMPL body seen by a known camera, 2D keypoints with noise of 2%
   of the person's height, dropped frames and outliers, a 3D prior jittered by 3-9 degrees
   per joint and frame with a depth error and a wrong skeleton -- once as the lite backend's
   kind of prior (bone lengths) and once as GLoT's (per-frame betas). MPJPE, PA-MPJPE, 2D
   error against the exact projections, acceleration error, foot slide in contact frames and
   peak joint-velocity error, before and after the solver.
2. Cost: the lite pipeline on a 720p video of one photographed person (bus.jpg's man, as in
   benchmarks/pipeline.py), HOG detector: the solver's ms per frame beside the rest of the
   pipeline's (goal: <= 25%).
3. A still person (bus.jpg under a slow zoom and pan, as the lite tests make it): joint
   rotation and limb-direction change per frame of the lite backend unrefined and refined,
   beside MediaPipe Pose in video mode (its landmark filter on, the engine BlendArMocap runs)
   and MediaPipe frame by frame, measured on the same frames.

Run: ``python benchmarks/fidelity.py [--threads N] [--frames N]``. Prints tables and ratios,
then ONE JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

#: (SMPL joint pair, BlazePose landmark pair) of the 8 limbs compared for stillness
LIMBS = (((1, 4), (23, 25)), ((4, 7), (25, 27)), ((2, 5), (24, 26)), ((5, 8), (26, 28)),
         ((16, 18), (11, 13)), ((18, 20), (13, 15)), ((17, 19), (12, 14)), ((19, 21), (14, 16)))
STILL_SIZE = (640, 616)
STILL_REGION = (0, 300, 810, 1080)


def _bench_pipeline():
    """benchmarks/pipeline.py as a module (its 720p photographed-people video)."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", Path(__file__).with_name("pipeline.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------- 1. synthetic truth


def synthetic(frames: int) -> dict:
    from inference_server.synthetic.fidelity import FIGURES, run_case
    from inference_server.synthetic.motion import MOTIONS, PRIORS

    print(f"1. synthetic ground truth, {frames} frames at 30 fps, 1280x720, person ~4.5 m away")
    print(f"{'motion':7s} {'prior':5s} " + " ".join(f"{f:>22s}" for f in FIGURES) + "   ms/frame")
    rows = []
    for prior in PRIORS:
        for kind in MOTIONS:
            case = run_case(kind, prior, num_frames=frames)
            cells = " ".join(f"{case.before[f]:9.1f} -> {case.after[f]:8.1f}" for f in FIGURES)
            ms = 1000 * case.seconds / frames
            print(f"{kind:7s} {prior:5s} {cells}   {ms:7.1f}")
            rows.append({"kind": kind, "prior": prior, "before": case.before, "after": case.after,
                         "noise_px": case.noise_px, "ms_per_frame": ms,
                         "refined": case.result.refined})
    summary = {}
    for prior in PRIORS:
        mine = [r for r in rows if r["prior"] == prior]
        for f in FIGURES:
            b = float(np.mean([r["before"][f] for r in mine]))
            a = float(np.mean([r["after"][f] for r in mine]))
            summary[f"{prior}_{f}"] = [round(b, 2), round(a, 2)]
        summary[f"{prior}_accel_ratio"] = round(
            float(np.mean([r["before"]["accel_mm"] / r["after"]["accel_mm"] for r in mine])), 1)
    print("mean before -> after:", json.dumps(summary))
    return {"rows": rows, "summary": summary,
            "solver_ms_per_frame": round(float(np.mean([r["ms_per_frame"] for r in rows])), 2)}


# ----------------------------------------------------------------------- 2. cost


def cost(work: Path, frames: int) -> dict:
    from inference_server.pipeline import AnalyzeOptions, Engine

    bench = _bench_pipeline()
    photo = bench.bus_photo(work)
    video = work / f"person720_{frames}.mp4"
    bench.make_people_video(video, photo, 1, frames)
    engine = Engine(device="cpu")
    options = AnalyzeOptions(video=video, output=work / "cost.npz", backend="lite", detector="hog",
                             device="cpu", min_track_len=10)
    engine.analyze(AnalyzeOptions(video=video, output=work / "warm.npz", backend="lite",
                                  detector="hog", device="cpu", min_track_len=10, end=12,
                                  refine=True))  # models loaded, first calls done
    t0 = time.perf_counter()
    result = engine.analyze(options)
    wall = time.perf_counter() - t0
    refine_s = result.timings.get("refine", 0.0)
    rest_s = sum(result.timings.values()) - refine_s
    n = result.frame_count
    out = {"frames": n, "people": len(result.tracks), "wall_s": round(wall, 2),
           "refine_ms_per_frame": round(1000 * refine_s / n, 2),
           "rest_ms_per_frame": round(1000 * rest_s / n, 2),
           "refine_share_of_rest": round(refine_s / rest_s, 3),
           "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
           "refine_error_px": [round(t.refine_error_px, 1) for t in result.tracks]}
    print(f"\n2. cost: lite pipeline, 720p, one photographed person, {n} frames, HOG")
    print(f"   stages (s): {out['timings_s']}")
    print(f"   solver {out['refine_ms_per_frame']} ms/frame beside the rest's "
          f"{out['rest_ms_per_frame']} ms/frame: {100 * out['refine_share_of_rest']:.0f}% "
          "(goal <= 25%)")
    return out


# ----------------------------------------------------------------------- 3. still person


def _still_video(photo: Path, path: Path, frames: int) -> list[np.ndarray]:
    import cv2

    x0, y0, x1, y1 = STILL_REGION
    region = cv2.imread(str(photo))[y0:y1, x0:x1]
    h, w = region.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, STILL_SIZE)
    for i in range(frames):
        s = 1.0 + 0.002 * i
        frame = cv2.warpAffine(region, np.array([[s, 0.0, -1.0 * i], [0.0, s, 0.0]]), (w, h),
                               borderMode=cv2.BORDER_REPLICATE)
        writer.write(cv2.resize(frame, STILL_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    decoded = [cap.read()[1] for _ in range(frames)]
    cap.release()
    return decoded


def _direction_change(dirs: np.ndarray) -> float:
    """Mean angle (degrees) between consecutive unit directions (N, L, 3)."""
    dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    dots = np.clip((dirs[1:] * dirs[:-1]).sum(-1), -1.0, 1.0)
    return float(np.degrees(np.arccos(dots)).mean())


def _ours(clip_path: Path) -> dict:
    from glot_blender.core.kinematics import forward_kinematics
    from glot_blender.core.motion_clip import read_clip
    from glot_blender.core.rotations import axis_angle_to_matrix, matrix_angle

    man = max(read_clip(clip_path).tracks, key=lambda t: float(t.confidence.mean()))
    rot = axis_angle_to_matrix(man.poses.astype(np.float64))
    joints = forward_kinematics(man.rest_joints, man.poses).joints
    dirs = np.stack([joints[:, b] - joints[:, a] for (a, b), _ in LIMBS], 1)
    return {"joint_deg": round(float(np.degrees(matrix_angle(rot[1:], rot[:-1])).mean()), 2),
            "limb_deg": round(_direction_change(dirs), 2),
            "refine_error_px": round(man.refine_error_px, 1)}


def _mediapipe(frames: list[np.ndarray], video_mode: bool) -> dict:
    import cv2
    import mediapipe as mp

    pose = mp.solutions.pose.Pose(static_image_mode=not video_mode, model_complexity=1,
                                  smooth_landmarks=video_mode, min_detection_confidence=0.5)
    world = []
    try:
        for frame in frames:
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if res.pose_world_landmarks is not None:
                world.append([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark])
    finally:
        pose.close()
    world = np.asarray(world)
    dirs = np.stack([world[:, b] - world[:, a] for _, (a, b) in LIMBS], 1)
    return {"limb_deg": round(_direction_change(dirs), 2), "frames_found": len(world)}


def still(work: Path, frames: int) -> dict:
    from inference_server.pipeline import AnalyzeOptions, Engine

    photo = _bench_pipeline().bus_photo(work)
    video = work / "still.mp4"
    decoded = _still_video(photo, video, frames)
    engine = Engine(device="cpu")
    out = {}
    for refine in (False, True):
        clip = work / f"still_{refine}.npz"
        engine.analyze(AnalyzeOptions(video=video, output=clip, backend="lite", detector="hog",
                                      device="cpu", min_track_len=10, refine=refine))
        out["refined" if refine else "unrefined"] = _ours(clip)
    out["mediapipe_video"] = _mediapipe(decoded, video_mode=True)
    out["mediapipe_frames"] = _mediapipe(decoded, video_mode=False)
    print(f"\n3. still person (bus.jpg, zoom/pan, {frames} frames): change per frame, degrees")
    print(f"   lite unrefined: joints {out['unrefined']['joint_deg']}, limbs {out['unrefined']['limb_deg']}")
    print(f"   lite refined:   joints {out['refined']['joint_deg']}, limbs {out['refined']['limb_deg']}"
          f" (2D error {out['refined']['refine_error_px']} px)")
    print(f"   MediaPipe video mode (filtered): limbs {out['mediapipe_video']['limb_deg']}")
    print(f"   MediaPipe frame by frame:        limbs {out['mediapipe_frames']['limb_deg']}")
    ratio = out["mediapipe_video"]["limb_deg"] / max(out["refined"]["limb_deg"], 1e-6)
    print(f"   refined limbs are {ratio:.1f}x steadier than MediaPipe's video mode")
    out["steadier_than_mediapipe_video"] = round(ratio, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=90, help="frames of the synthetic motions")
    parser.add_argument("--cost-frames", type=int, default=90, help="frames of the 720p video")
    parser.add_argument("--still-frames", type=int, default=60, help="frames of the still video")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="glot-fidelity-") as tmp:
        work = Path(tmp)
        syn = synthetic(args.frames)
        spend = cost(work, args.cost_frames)
        steady = still(work, args.still_frames)
    figures = {
        "synthetic": syn["summary"], "solver_ms_per_frame_synthetic": syn["solver_ms_per_frame"],
        "refine_ms_per_frame_720p": spend["refine_ms_per_frame"],
        "rest_ms_per_frame_720p": spend["rest_ms_per_frame"],
        "refine_share_of_pipeline": spend["refine_share_of_rest"],
        "still_limb_deg": {"unrefined": steady["unrefined"]["limb_deg"],
                           "refined": steady["refined"]["limb_deg"],
                           "mediapipe_video": steady["mediapipe_video"]["limb_deg"],
                           "mediapipe_frames": steady["mediapipe_frames"]["limb_deg"]},
        "still_joint_deg": {"unrefined": steady["unrefined"]["joint_deg"],
                            "refined": steady["refined"]["joint_deg"]},
        "still_refine_error_px": steady["refined"]["refine_error_px"],
        "steadier_than_mediapipe_video": steady["steadier_than_mediapipe_video"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
