"""Benchmark: world grounding — the camera solve's accuracy and cost, a still person's drift
in the world, the floor fit — in one run, CPU.

- camera rotation error (degrees, max and mean over frames): bus.jpg (ultralytics' sample
  photo, a real street) filmed by a camera turning by a known rotation per frame (a
  hand-held-like yaw/pitch/roll of up to YAW/PITCH/ROLL degrees, out and back), written as a
  real MJPG video at 640x480 and decoded again; the solve sees the decoded frames with the
  people's boxes masked;
- world drift of a person standing still (cm per 100 frames): the same turning camera's
  solved rotations applied to a standing SMPL body seen from it, with per-frame pose noise
  (1 cm, 1 degree), through the world step (floor, planting); the camera-frame pelvis moves;
- floor residual (cm) and height error of the camera above the floor (cm): a procedural walk
  with planted feet followed by a panning camera 1.5 m up, pitched 10 degrees down, its
  rotation solved from a real video of that pan;
- cost per frame (ms) of the camera solve (480 px grey copy, features, LK, RANSAC) beside
  the person detector the pipeline uses by default (``auto``) on the same 640x480 frames, and
  their ratio.

The last line is one JSON object with every figure.

    python benchmarks/world.py [--frames 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # photos.py
sys.path.insert(0, str(REPO / "tests" / "world"))  # camera_video.py, walker.py

import numpy as np  # noqa: E402
from camera_video import read_frames, turning_rotations, write_camera_video  # noqa: E402
from photos import bus_photo_path  # noqa: E402
from walker import camera_track, following_camera, walk  # noqa: E402

from glot_blender.core.kinematics import forward_kinematics  # noqa: E402
from inference_server.camera_motion import CameraMotionTracker, rotation_angle_deg  # noqa: E402
from inference_server.detect import make_detector  # noqa: E402
from inference_server.world import ground_people  # noqa: E402

SIZE = (640, 480)
FOCAL = 560.0
YAW, PITCH, ROLL = 12.0, 4.0, 3.0
FPS = 30.0


def world_pelvis(track) -> np.ndarray:
    poses = np.concatenate([track.world_orient[:, None], track.poses[:, 1:]], axis=1)
    return forward_kinematics(track.rest_joints, poses, track.world_transl).joints[:, 0]


def solve_video(path: Path, detector) -> tuple[object, float, float]:
    """(solve, camera ms per frame, detector ms per frame) over the decoded frames."""
    tracker = CameraMotionTracker(SIZE[0], SIZE[1], FOCAL)
    cam_s = det_s = 0.0
    for frame in read_frames(path):
        t0 = time.perf_counter()
        dets = detector.detect([frame])[0]
        t1 = time.perf_counter()
        boxes = np.column_stack([(dets[:, 0] + dets[:, 2]) / 2, (dets[:, 1] + dets[:, 3]) / 2,
                                 dets[:, 2] - dets[:, 0], dets[:, 3] - dets[:, 1]])
        tracker.add(frame, boxes)
        t2 = time.perf_counter()
        det_s += t1 - t0
        cam_s += t2 - t1
    solve = tracker.finish()
    return solve, 1000 * cam_s / solve.num_frames, 1000 * det_s / solve.num_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    n = args.frames
    photo = bus_photo_path()
    detector = make_detector("auto")
    figures: dict[str, object] = {"frames": n, "size": list(SIZE), "detector": detector.name}
    with tempfile.TemporaryDirectory() as tmp:
        truth = turning_rotations(n, YAW, PITCH, ROLL)
        video = write_camera_video(photo, Path(tmp) / "turn.avi", truth, SIZE, FOCAL)
        solve, cam_ms, det_ms = solve_video(video.path, detector)
        err = rotation_angle_deg(np.einsum("fji,fjk->fik", solve.rotations, truth))
        print(f"camera rotation error over {n} frames (turn up to {YAW}/{PITCH}/{ROLL} deg): "
              f"max {err.max():.3f} deg, mean {err.mean():.3f} deg; kind {solve.kind}, "
              f"{solve.keyframes} keyframe(s), {solve.features:.0f} features/frame")
        print(f"cost per frame: camera solve {cam_ms:.1f} ms beside detection ({detector.name}) "
              f"{det_ms:.1f} ms: ratio {cam_ms / det_ms:.3f}")
        figures |= {"rot_err_max_deg": float(err.max()), "rot_err_mean_deg": float(err.mean()),
                    "camera_ms_per_frame": cam_ms, "detect_ms_per_frame": det_ms,
                    "camera_to_detect_ratio": cam_ms / det_ms}

        still = walk(n, FPS, start=(0.3, 3.5), stand=True)
        level, pos = following_camera(still, follow=False, pitch_deg=5.0)
        seen = camera_track(still, level[0] @ truth, pos, noise_m=0.01, noise_deg=1.0)
        pelvis = world_pelvis(ground_people(solve, [seen], FPS, 0, 1).tracks[0])
        k = max(5, n // 10)
        drift = np.linalg.norm(pelvis[-k:].mean(0) - pelvis[:k].mean(0)) / (n - k) * 100
        cam_move = np.linalg.norm(seen.transl - seen.transl[0], axis=1).max()
        print(f"still person: world drift {100 * drift:.2f} cm per 100 frames (camera-frame "
              f"pelvis moves up to {100 * cam_move:.0f} cm)")
        figures |= {"still_drift_cm_per_100": float(100 * drift),
                    "still_camera_frame_move_cm": float(100 * cam_move)}

        walker = walk(n, FPS)
        rot, wpos = following_camera(walker, height=1.5, pitch_deg=10.0)
        pan = write_camera_video(photo, Path(tmp) / "pan.avi",
                                 np.einsum("ji,fjk->fik", rot[0], rot), SIZE, FOCAL)
        pan_solve, _c, _d = solve_video(pan.path, detector)
        seen = camera_track(walker, rot, wpos, noise_m=0.005, noise_deg=0.5)
        result = ground_people(pan_solve, [seen], FPS, 0, 1)
        cam = result.camera
        height_err = abs(cam.position[0, 2] - 1.5)
        print(f"floor ({cam.up_source}): residual {100 * cam.floor_residual_m:.2f} cm, camera "
              f"height error {100 * height_err:.2f} cm")
        figures |= {"floor_residual_cm": 100 * cam.floor_residual_m,
                    "camera_height_err_cm": float(100 * height_err), "floor_source": cam.up_source}
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
