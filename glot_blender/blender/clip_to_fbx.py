"""Motion clip (.npz) to one FBX file with one animated SMPL rig per person, without the UI.

``python -m glot_blender.blender.clip_to_fbx CLIP.npz OUT.fbx [--preset unity|unreal|mixamo]
[--smoothing S]`` in a Python where ``bpy`` (Blender as a module) is importable. The command
line ``glot-mocap analyze`` runs it as a separate process, so bpy never loads into the
process that holds torch. In a factory-empty scene each person gets an SMPL armature built
from the track's rest joints (:func:`.armature.create_smpl_armature`); the motion goes on
with root motion and camera placement (people keep their places relative to each other,
the video camera at the world origin), and all rigs are written to one FBX.

Exit codes: 0 written, 2 a known problem (one line on stderr: the clip, the option or the
export at fault).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 2
#: default strength of the zero-lag Gaussian smoothing (0 = off, 1 = strongest)
DEFAULT_SMOOTHING = 0.5
RIG_NAME = "SMPL P{track_id}"
#: people whose mean confidence is below this get no rig (the pose model never really saw
#: them: a false detection, or someone hidden throughout)
MIN_MEAN_CONFIDENCE = 0.1


@dataclass(frozen=True)
class FbxJob:
    """One conversion: clip -> fbx with an FBX preset and a smoothing strength in [0, 1]."""

    clip: Path
    fbx: Path
    preset: str = "unity"
    smoothing: float = DEFAULT_SMOOTHING


@dataclass(frozen=True)
class FbxResult:
    """rigs: names of the armatures written; skipped: (track id, mean confidence) left out."""

    rigs: list[str]
    skipped: list[tuple[int, float]]


def convert(job: FbxJob) -> FbxResult:
    """Write ``job.fbx`` with one rig per confident person. Raises AnimError/MotionClipError."""
    import bpy

    from ..core.motion_clip import read_clip
    from ..core.smoothing import SmoothingOptions
    from .apply import ApplyOptions, apply_track
    from .armature import create_smpl_armature
    from .errors import AnimError
    from .export import export_fbx_armatures

    clip = read_clip(job.clip)
    mean_conf = {t.track_id: float(t.confidence.mean()) for t in clip.tracks}
    tracks = [t for t in clip.tracks if mean_conf[t.track_id] >= MIN_MEAN_CONFIDENCE]
    skipped = [(i, c) for i, c in mean_conf.items() if c < MIN_MEAN_CONFIDENCE]
    if not tracks:
        raise AnimError(f"motion clip '{job.clip.name}' has no person with a mean confidence of "
                        f"at least {MIN_MEAN_CONFIDENCE}: nothing to export")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    smoothing = SmoothingOptions(strength=job.smoothing) if job.smoothing > 0 else None
    options = ApplyOptions(root_motion=True, root_placement="camera", smoothing=smoothing)
    rigs = []
    for track in tracks:
        rig = create_smpl_armature(track.rest_joints, name=RIG_NAME.format(track_id=track.track_id),
                                   collection=scene.collection)
        apply_track(rig, clip, track.track_id, options, scene)
        rigs.append(rig)
    export_fbx_armatures(rigs, job.fbx, job.preset, scene)
    return FbxResult([r.name for r in rigs], skipped)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m glot_blender.blender.clip_to_fbx",
                                description="Motion clip (.npz) to an FBX with one SMPL rig per person.")
    p.add_argument("clip", type=Path, help="the motion clip (.npz) written by glot-mocap analyze")
    p.add_argument("fbx", type=Path, help="the FBX file to write")
    p.add_argument("--preset", choices=("unity", "unreal", "mixamo"), default="unity",
                   help="FBX settings for the target pipeline (default unity)")
    p.add_argument("--smoothing", type=float, default=DEFAULT_SMOOTHING,
                   help=f"smoothing strength 0 (off) .. 1 (default {DEFAULT_SMOOTHING})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.smoothing <= 1.0:
        sys.stderr.write(f"clip_to_fbx: error: --smoothing {args.smoothing} is not in 0..1\n")
        return EXIT_ERROR
    from ..core.motion_clip import MotionClipError
    from .errors import AnimError

    job = FbxJob(args.clip, args.fbx, args.preset, args.smoothing)
    try:
        result = convert(job)
    except (AnimError, MotionClipError, OSError) as exc:
        sys.stderr.write(f"clip_to_fbx: error: {exc}\n")
        return EXIT_ERROR
    for track_id, conf in result.skipped:
        sys.stdout.write(f"person {track_id} left out of the FBX (mean confidence {conf:.2f} "
                         f"< {MIN_MEAN_CONFIDENCE})\n")
    sys.stdout.write(f"{len(result.rigs)} rig(s) written to {job.fbx}\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
