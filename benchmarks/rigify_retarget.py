"""Retargeting onto a generated Rigify rig: time and achieved accuracy, measured vs not.

In real Blender (the bpy module) with its bundled Rigify: the Human meta-rig is generated
(706 bones), then a smooth random SMPL clip (sums of sines, ``--frames``, default 1 minute at
30 fps) is applied with ``apply_track`` and the user defaults, twice:

- measured (ours): the rig's constraint-driven frames measured on the depsgraph;
- edit bones: the same, with the rig read from its edit-bone parenting alone (what the
  retargeter did before), limbs still switched to FK.

Figures: generation time; the measurement alone; the whole Apply (measurement, retarget,
keys, the achieved-error check on up to 40 frames); the achieved error per group (mean/max
degrees, Apply's own check on the DEF bones); the error ratio edit-bones / measured for the
arms (the measured error floored at 0.01°, about float32 noise). The check evaluates a fixed number of frames, so Apply grows with the clip only by
the retarget and key writing. The last line printed is one JSON object.

    .venv/bin/python benchmarks/rigify_retarget.py [--frames 1800]
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

_USER = Path(tempfile.mkdtemp(prefix="glot-bench-blender-"))
os.environ.setdefault("BLENDER_USER_RESOURCES", str(_USER))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# bpy must be imported after BLENDER_USER_RESOURCES is set above.
import bpy
from keyframes import FPS, synthetic_track

import glot_blender.blender.apply as apply_module
from glot_blender.blender.apply import (
    ApplyOptions,
    apply_track,
    clip_frames,
    prepare_track,
    verify_track,
)
from glot_blender.blender.evaluated import measure_skeleton
from glot_blender.blender.rig_profile import detect_bone_map, rig_profile
from glot_blender.blender.verify import CHECK_PROP
from glot_blender.core.motion_clip import MotionClip

DEFAULT_FRAMES = 1800


def generate() -> tuple[object, float]:
    import addon_utils  # importable once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    start = time.perf_counter()
    bpy.ops.pose.rigify_generate()
    seconds = time.perf_counter() - start
    rig = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE" and o is not meta)
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig, seconds


def applied_error(rig: object, clip: MotionClip) -> dict[str, list[float]]:
    """Apply with the user defaults, then Apply's own check at full precision:
    {"arms": [mean, max], ...} in degrees."""
    options = ApplyOptions()
    apply_track(rig, clip, 1, options)
    done = prepare_track(rig, clip, 1, options)
    check = verify_track(rig, bpy.context.scene, done, clip_frames(clip, done.track, 0))
    return {g.name: [round(g.mean_deg, 4), round(g.max_deg, 4)] for g in check.groups}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    args = parser.parse_args(argv)
    rig, generate_s = generate()
    track = synthetic_track(args.frames)
    clip = MotionClip(fps=FPS, frame_count=args.frames, width=640, height=480, tracks=[track],
                      source_name="bench.mp4")
    bone_map = dict(detect_bone_map(rig))
    profile = rig_profile(rig)
    driven = [b if isinstance(b, str) else b[0] for b in bone_map.values()] + list(profile.extra_bones)
    start = time.perf_counter()
    measure_skeleton(rig, driven, profile.deform_bones)
    measure_s = time.perf_counter() - start
    start = time.perf_counter()
    apply_track(rig, clip, 1, ApplyOptions())
    apply_s = time.perf_counter() - start
    assert rig[CHECK_PROP]
    measured = applied_error(rig, clip)
    apply_module.needs_measurement = lambda obj: False  # the retargeter before: edit bones only
    edit_bones = applied_error(rig, clip)
    print(f"Rigify Human: {len(rig.data.bones)} bones generated in {generate_s:.1f} s")
    print(f"{args.frames} frames: measurement {measure_s:.2f} s, whole Apply {apply_s:.2f} s")
    for name in measured:
        print(f"  {name:5s} measured {measured[name][0]:.3f}°/{measured[name][1]:.3f}°   "
              f"edit bones {edit_bones[name][0]:.2f}°/{edit_bones[name][1]:.2f}° (mean/max)")
    figures = {
        "frames": args.frames,
        "bones": len(rig.data.bones),
        "generate_s": round(generate_s, 2),
        "measure_s": round(measure_s, 3),
        "apply_s": round(apply_s, 3),
        "error_deg_measured": measured,
        "error_deg_edit_bones": edit_bones,
        # arms' mean error, edit bones / measured; measured floored at 0.01 deg (float32 noise)
        "ratio": round(edit_bones["arms"][0] / max(measured["arms"][0], 0.01), 1),
        "blender": bpy.app.version_string,
    }
    print(json.dumps(figures))
    shutil.rmtree(_USER, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
