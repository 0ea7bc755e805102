"""Keyframe writing speed: bulk ``foreach_set`` (ours) vs per-key ``keyframe_insert``.

A 10-minute 30 fps clip (18,000 frames x 24 SMPL bones: 24 quaternions + the root location,
99 F-curves, 1.78 M keys) is written onto an SMPL armature in real Blender (the bpy module):

- ours: ``glot_blender.blender.keyframes`` (``keyframe_points.add`` + ``foreach_set`` per
  F-curve), timed on the full clip, plus the whole ``apply_track`` (retarget + keys);
- baseline: the usual add-on loop (set the pose bone, ``keyframe_insert`` per bone per frame)
  on a shorter slice, extrapolated per key to the full clip.

Both run in this one process, on the same machine, one after the other. The last line
printed is one JSON object with the figures (the speed-up under ``"ratio"``).

    .venv/bin/python benchmarks/keyframes.py [--frames 18000] [--slice-frames 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_USER = Path(tempfile.mkdtemp(prefix="glot-bench-blender-"))
os.environ.setdefault("BLENDER_USER_RESOURCES", str(_USER))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# bpy must be imported after BLENDER_USER_RESOURCES is set above.
import bpy

from glot_blender.blender.actions import new_action_for
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature
from glot_blender.blender.keyframes import ChannelKeys, write_channels
from glot_blender.core.motion_clip import MotionClip, TrackMotion
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES

FPS = 30.0
FULL_FRAMES = 18_000  # 10 minutes at 30 fps
SLICE_FRAMES = 300  # per-key baseline slice (10 s)


def synthetic_track(num_frames: int, seed: int = 0) -> TrackMotion:
    """Smooth random SMPL motion (sums of sines) walking in front of the camera."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None] / FPS
    freq = rng.uniform(0.2, 1.5, (1, 72))
    phase = rng.uniform(0, 2 * np.pi, (1, 72))
    poses = 0.4 * np.sin(2 * np.pi * freq * t + phase)
    poses[:, :3] += np.array([np.pi, 0.0, 0.0])
    transl = np.concatenate([np.sin(t * 0.3), 0.1 * np.sin(t * 2.0), 4.0 + np.cos(t * 0.2)], axis=1)
    n = num_frames
    return TrackMotion(
        track_id=1, frame_ids=np.arange(n), global_orient=poses[:, :3], body_pose=poses[:, 3:],
        betas=np.zeros((n, 10)), cam_crop=np.tile([1.0, 0, 0], (n, 1)),
        bbox=np.tile([320.0, 240, 100, 200], (n, 1)), transl=transl,
        rest_joints=DEFAULT_REST_JOINTS, joints3d=np.zeros((n, 24, 3)),
        confidence=np.ones(n), filled=np.zeros(n, dtype=bool),
    )


def random_keys(num_frames: int) -> list[ChannelKeys]:
    rng = np.random.default_rng(1)
    keys = [ChannelKeys('pose.bones["pelvis"].location', rng.normal(size=(num_frames, 3)), "pelvis")]
    for name in JOINT_NAMES:
        q = rng.normal(size=(num_frames, 4))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        keys.append(ChannelKeys(f'pose.bones["{name}"].rotation_quaternion', q, name))
    return keys


def bench_bulk(arm: object, num_frames: int) -> tuple[int, float]:
    """Keys written and seconds for the foreach_set path on the full clip."""
    keys = random_keys(num_frames)
    frames = np.arange(1, num_frames + 1, dtype=np.float64)
    start = time.perf_counter()
    channels = new_action_for(arm, "bulk")
    written = write_channels(channels, frames, keys)
    return written, time.perf_counter() - start


def bench_per_key(arm: object, num_frames: int) -> tuple[int, float]:
    """Keys written and seconds for keyframe_insert per bone per frame."""
    keys = random_keys(num_frames)
    new_action_for(arm, "per key")
    bones = [arm.pose.bones[n] for n in JOINT_NAMES]
    written = 0
    start = time.perf_counter()
    for f in range(num_frames):
        root = bones[0]
        root.location = keys[0].values[f]
        root.keyframe_insert("location", frame=f + 1, group=root.name)
        written += 3
        for pb, ck in zip(bones, keys[1:]):
            pb.rotation_quaternion = ck.values[f]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1, group=pb.name)
            written += 4
    return written, time.perf_counter() - start


def bench_apply(num_frames: int) -> float:
    """Seconds for the whole apply_track (retarget + keys) of a num_frames clip."""
    track = synthetic_track(num_frames)
    clip = MotionClip(fps=FPS, frame_count=num_frames, width=640, height=480, tracks=[track],
                      source_name="bench.mp4")
    arm = create_smpl_armature(track.rest_joints, name="apply")
    start = time.perf_counter()
    apply_track(arm, clip, 1, ApplyOptions())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=FULL_FRAMES)
    parser.add_argument("--slice-frames", type=int, default=SLICE_FRAMES)
    args = parser.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = create_smpl_armature(DEFAULT_REST_JOINTS, name="bench")
    slow_keys, slow_s = bench_per_key(arm, args.slice_frames)
    fast_keys, fast_s = bench_bulk(arm, args.frames)
    apply_s = bench_apply(args.frames)
    fast_rate, slow_rate = fast_keys / fast_s, slow_keys / slow_s
    figures = {
        "frames": args.frames,
        "bones": len(JOINT_NAMES),
        "keys": fast_keys,
        "foreach_set_s": round(fast_s, 3),
        "foreach_set_keys_per_s": round(fast_rate),
        "keyframe_insert_slice_frames": args.slice_frames,
        "keyframe_insert_keys_per_s": round(slow_rate),
        "keyframe_insert_full_clip_s_extrapolated": round(fast_keys / slow_rate, 1),
        "apply_track_full_clip_s": round(apply_s, 3),
        "ratio": round(fast_rate / slow_rate, 1),
        "blender": bpy.app.version_string,
    }
    print(f"clip: {args.frames} frames x {len(JOINT_NAMES)} bones = {fast_keys} keys "
          f"(Blender {bpy.app.version_string})")
    print(f"foreach_set    : {fast_s:8.3f} s for the full clip, {fast_rate:12,.0f} keys/s")
    print(f"keyframe_insert: {slow_s:8.3f} s for {args.slice_frames} frames, "
          f"{slow_rate:12,.0f} keys/s -> {fast_keys / slow_rate:,.0f} s for the full clip")
    print(f"apply_track (retarget + keys), full clip: {apply_s:.3f} s")
    print(f"speed-up: {fast_rate / slow_rate:.1f}x")
    print(json.dumps(figures))
    shutil.rmtree(_USER, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
