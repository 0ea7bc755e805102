"""Motion clip (.npz) to FBX: one file per person (the default) or all in one, without the UI.

``python -m glot_blender.blender.clip_to_fbx CLIP.npz OUT.fbx [--all-in-one]
[--preset unity|unreal|mixamo] [--smoothing S]`` in a Python where ``bpy`` (Blender as a
module) is importable. The command line ``glot-mocap analyze`` runs it as a separate
process, so bpy never loads into the process that holds torch. In a factory-empty scene
each person gets an SMPL armature built from the track's rest joints
(:func:`.armature.create_smpl_armature`); the motion goes on with root motion, placed in the
clip's world when it has a camera solve (everyone on one floor at z = 0, the camera's own
motion taken out, docs/world.md), else as filmed (people keep their places relative to each
other, the video camera at the world origin). Each person is written to ``OUT_P<id>.fbx``
(named by :mod:`glot_blender.core.person_files`); with ``--all-in-one`` every rig goes into ``OUT.fbx`` with bones prefixed by the person
(``P3_pelvis``), so readers that match bones by name keep the people apart. One line
``FBX: PATH`` is printed per file written.

Exit codes: 0 written, 2 a known problem (one line on stderr: the clip, the option or the
export at fault).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.safe_files import display

EXIT_OK = 0
EXIT_ERROR = 2
#: default strength of the zero-lag Gaussian smoothing (0 = off, 1 = strongest)
DEFAULT_SMOOTHING = 0.5
RIG_NAME = "SMPL P{track_id}"
#: the line printed for each file written (``glot-mocap analyze`` reads it back)
FILE_LINE = "FBX: "
#: people whose mean confidence is below this get no rig (the pose model never really saw
#: them: a false detection, or someone hidden throughout)
MIN_MEAN_CONFIDENCE = 0.1
#: prctl(2) option: the signal this process gets when its parent dies (Linux)
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class FbxJob:
    """One conversion: clip -> fbx with an FBX preset and a smoothing strength in [0, 1]."""

    clip: Path
    fbx: Path
    preset: str = "unity"
    smoothing: float = DEFAULT_SMOOTHING
    all_in_one: bool = False
    #: the process that asked for the FBX: the files are published only while it lives
    parent_pid: int | None = None
    #: files no FBX may replace (the video), besides the clip itself
    protect: tuple[Path, ...] = ()


@dataclass(frozen=True)
class FbxResult:
    """rigs: names of the armatures written; files: the FBX files written;
    skipped: (track id, mean confidence) left out."""

    rigs: list[str]
    files: list[Path]
    skipped: list[tuple[int, float]]


def convert(job: FbxJob) -> FbxResult:
    """Write ``job.fbx`` with one rig per confident person. Raises AnimError/MotionClipError."""
    from ..core.motion_clip import read_clip

    clip = read_clip(job.clip)  # a damaged clip is refused before Blender is even loaded
    import bpy

    from ..core.person_files import person_file_path, person_label
    from ..core.smoothing import SmoothingOptions
    from .apply import ApplyOptions, apply_track
    from .armature import TRACK_ID_PROP, create_smpl_armature
    from .errors import AnimError
    from .export import export_fbx_armatures, export_fbx_per_armature

    mean_conf = {t.track_id: float(t.confidence.mean()) for t in clip.tracks}
    tracks = [t for t in clip.tracks if mean_conf[t.track_id] >= MIN_MEAN_CONFIDENCE]
    skipped = [(i, c) for i, c in mean_conf.items() if c < MIN_MEAN_CONFIDENCE]
    if not tracks:
        raise AnimError(f"motion clip '{job.clip.name}' has no person with a mean confidence of "
                        f"at least {MIN_MEAN_CONFIDENCE}: nothing to export")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    smoothing = SmoothingOptions(strength=job.smoothing) if job.smoothing > 0 else None
    placement = "world" if clip.has_world else "camera"
    options = ApplyOptions(root_motion=True, root_placement=placement, smoothing=smoothing)
    rigs = []
    for track in tracks:
        rig = create_smpl_armature(track.rest_joints, name=RIG_NAME.format(track_id=track.track_id),
                                   collection=scene.collection)
        rig[TRACK_ID_PROP] = track.track_id
        apply_track(rig, clip, track.track_id, options, scene)
        rigs.append(rig)
    may_publish = None if job.parent_pid is None else (lambda: os.getppid() == job.parent_pid)
    protect = [("motion clip", job.clip), *(("input video", p) for p in job.protect)]
    if job.all_in_one:
        files = [export_fbx_armatures(rigs, job.fbx, job.preset, scene, unique_bones=True,
                                      protect=protect, may_publish=may_publish)]
    elif len(rigs) == 1:  # still named by the person, like every per-person file
        files = export_fbx_per_armature(
            rigs, person_file_path(job.fbx, person_label(tracks[0].track_id)), job.preset, scene,
            protect=protect, may_publish=may_publish)
    else:
        files = export_fbx_per_armature(rigs, job.fbx, job.preset, scene, protect=protect,
                                        may_publish=may_publish)
    if may_publish is not None and not may_publish():
        raise AnimError("the command that asked for the FBX has ended: nothing was written")
    return FbxResult([r.name for r in rigs], files, skipped)


def die_with_parent(parent_pid: int) -> bool:
    """Ask the kernel (Linux) to kill this process when its parent dies; False when the
    parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        except (OSError, AttributeError):
            pass
    return os.getppid() == parent_pid


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m glot_blender.blender.clip_to_fbx",
                                description="Motion clip (.npz) to an FBX with one SMPL rig per person.")
    p.add_argument("clip", type=Path, help="the motion clip (.npz) written by glot-mocap analyze")
    p.add_argument("fbx", type=Path,
                   help="the FBX file name: OUT_P<id>.fbx is written per person")
    p.add_argument("--all-in-one", action="store_true",
                   help="write every person into OUT.fbx itself, bones prefixed by the person")
    p.add_argument("--preset", choices=("unity", "unreal", "mixamo"), default="unity",
                   help="FBX settings for the target pipeline (default unity)")
    p.add_argument("--smoothing", type=float, default=DEFAULT_SMOOTHING,
                   help=f"smoothing strength 0 (off) .. 1 (default {DEFAULT_SMOOTHING})")
    p.add_argument("--protect", type=Path, action="append", default=[], metavar="PATH",
                   help="a file no FBX written may replace (the video); may be repeated")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="die with this process (the caller) and never publish the FBX after it")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.smoothing <= 1.0:
        sys.stderr.write(f"clip_to_fbx: error: --smoothing {args.smoothing} is not in 0..1\n")
        return EXIT_ERROR
    from ..core.motion_clip import MotionClipError
    from .errors import AnimError

    if args.parent_pid is not None and not die_with_parent(args.parent_pid):
        sys.stderr.write("clip_to_fbx: error: the command that asked for the FBX has ended\n")
        return EXIT_ERROR
    job = FbxJob(args.clip, args.fbx, args.preset, args.smoothing, args.all_in_one,
                 args.parent_pid, tuple(args.protect))
    try:
        result = convert(job)
    except (AnimError, MotionClipError, OSError) as exc:
        sys.stderr.write(f"clip_to_fbx: error: {_sentence(exc)}\n")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the edge: one sentence, never a traceback
        sys.stderr.write(f"clip_to_fbx: error: the FBX could not be made from "
                         f"{display(job.clip)} ({type(exc).__name__}: {_sentence(exc)})\n")
        return EXIT_ERROR
    for track_id, conf in result.skipped:
        sys.stdout.write(f"person {track_id} left out of the FBX (mean confidence {conf:.2f} "
                         f"< {MIN_MEAN_CONFIDENCE})\n")
    sys.stdout.flush()
    for path in result.files:  # raw bytes: the caller reads the paths back, whatever they hold
        sys.stdout.buffer.write(FILE_LINE.encode() + os.fsencode(path) + b"\n")
    sys.stdout.buffer.flush()
    return EXIT_OK


def _sentence(exc: BaseException) -> str:
    """An error's text on one line, printable whatever bytes the paths in it hold."""
    return display(" ".join(str(exc).split()))[:500]


if __name__ == "__main__":
    sys.exit(main())
