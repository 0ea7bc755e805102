"""The analysis options of the command line, shared by ``analyze`` and ``batch``.

One place defines the flags (names fixed in the design notes) and turns parsed arguments
into :class:`~inference_server.options.AnalyzeOptions`, so a flag added here exists in both
commands with the same meaning.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from glot_blender.core.protocol import BACKEND_NAMES, DETECTOR_NAMES

if TYPE_CHECKING:
    from .options import AnalyzeOptions


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options that shape one video's analysis (not its input/output paths)."""
    p = parser
    p.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    p.add_argument("--end", type=int, default=None, help="frame index to stop before (exclusive)")
    p.add_argument("--stride", type=int, default=1, help="analyse every K-th frame (default 1)")
    p.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                   help="pose backend; auto = glot when its model files are present, else lite")
    p.add_argument("--detector", choices=DETECTOR_NAMES, default="auto",
                   help="person detector; auto = yolo when yolov3.cfg/.weights are present, "
                   "else blazepose together with hog (`glot-mocap models` says which); "
                   "blazepose = mediapipe's pose detector, any pose; onnx = "
                   "person_detector.onnx in the models folder")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--models", type=Path, default=None, help="folder holding the model files")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--fov-deg", type=float, default=None,
                     help="camera field of view across the longer image side (default 60)")
    cam.add_argument("--focal-px", type=float, default=None, help="camera focal length in pixels")
    p.add_argument("--min-track-len", type=int, default=25,
                   help="drop people followed for fewer frames (default 25)")
    p.add_argument("--detect-every", type=int, default=1,
                   help="run the detector every K-th analysed frame and track in between")
    p.add_argument("--keep-partial", action="store_true",
                   help="for a truncated/corrupt video, keep what was decoded before the damage")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                   help="temporal solver over each person's whole track: aligns the body with "
                   "the video, holds it still, plants the feet (default on); --no-refine gives "
                   "the backend's raw output (for GLoT exactly the official model's)")
    p.add_argument("--no-world", dest="world", action="store_false",
                   help="skip the camera-motion solve and world grounding (camera-frame motion "
                   "only, as in clips of version 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_fbx_options(parser: argparse.ArgumentParser, *, name_flag: bool) -> None:
    """The FBX flags: ``--no-fbx``, ``--fbx-all-in-one`` and (one video only) ``--fbx NAME``."""
    fbx = parser.add_mutually_exclusive_group()
    if name_flag:
        fbx.add_argument("--fbx", type=Path, default=None,
                         help="FBX name (default: the clip's name with .fbx): one file per "
                         "person, NAME_P<id>.fbx; needs Blender's bpy module in this Python")
    fbx.add_argument("--no-fbx", action="store_true", help="write the motion clip only")
    parser.add_argument("--fbx-all-in-one", action="store_true",
                        help="every person in the one FBX file NAME.fbx, bones prefixed by person")


def analyze_options(args: argparse.Namespace, video: Path | str,
                    output: Path | str) -> AnalyzeOptions:
    """The AnalyzeOptions of one video from arguments parsed with :func:`add_analysis_options`."""
    from .options import AnalyzeOptions

    return AnalyzeOptions(
        video=video, output=output, start=args.start, end=args.end, stride=args.stride,
        backend=args.backend, detector=args.detector, device=args.device, fov_deg=args.fov_deg,
        focal_px=args.focal_px, min_track_len=args.min_track_len, models_dir=args.models,
        detect_every=args.detect_every, keep_partial=args.keep_partial, refine=args.refine,
        world=args.world,
    )
