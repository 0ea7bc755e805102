"""``glot-mocap``: the command line (analyze, batch, models, synth-models).

A thin edge: it parses options into :class:`~inference_server.options.AnalyzeOptions`, calls
one function, and turns errors into one line on stderr. Exit codes: 0 ok, 2 a known error
(the message says what to do), 1 an unexpected error (traceback in a log file), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from glot_blender.core.locations import ENV_COMMAND

from .batch.cli import add_batch_parser, cmd_batch
from .cli_options import add_analysis_options, add_fbx_options, analyze_options
from .errors import GlotError, InvalidRequestError

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
#: width of the text progress bar, characters
BAR_WIDTH = 28
#: without a terminal, print a progress line every this fraction of a stage
PLAIN_STEP = 0.25
ERROR_LOG_NAME = "glot-mocap-error.log"

log = logging.getLogger("glot_mocap")


class ProgressPrinter:
    """Draws ``stage [#####.....] done/total`` on ``stream``: redrawn in place on a terminal,
    a few plain lines per stage otherwise (log files, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.stage: str | None = None
        self.next_plain = 0.0
        self.started = time.monotonic()

    def __call__(self, event) -> None:  # event: pipeline.ProgressEvent
        new_stage = event.stage != self.stage
        if new_stage:
            self._end_line()
            self.stage = event.stage
            self.next_plain = 0.0
            self.started = time.monotonic()
        total = event.total or 0
        frac = min(1.0, event.done / total) if total else 0.0
        if self.tty:
            self.stream.write("\r" + self._line(event, frac) + "\x1b[K")
            self.stream.flush()
        elif new_stage or frac >= self.next_plain or (total and event.done >= total):
            self.stream.write(self._line(event, frac) + "\n")
            self.next_plain = frac + PLAIN_STEP
            self.stream.flush()

    def _line(self, event, frac: float) -> str:
        filled = round(frac * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        count = f"{event.done}/{event.total}" if event.total else f"{event.done}"
        elapsed = time.monotonic() - self.started
        msg = f"  {event.message}" if getattr(event, "message", "") else ""
        return f"{event.stage:<9}[{bar}] {count:>13} {elapsed:6.1f}s{msg}"

    def _end_line(self) -> None:
        if self.tty and self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()

    def close(self) -> None:
        self._end_line()
        self.stage = None


def _refine_cells(t) -> tuple[str, str]:
    """The solver's columns: refined yes/no ("off" when it did not run) and its 2D error."""
    refined = getattr(t, "refined", None)
    if refined is None:
        return "off", "-"
    error = getattr(t, "refine_error_px", float("nan"))
    return ("yes" if refined else "no"), ("-" if error != error else f"{error:.1f} px")


def summary_table(result) -> str:
    """The people found, one row each (result: pipeline.AnalysisResult)."""
    rows = [("person", "frames", "first", "last", "filled", "confidence", "refined", "2D error")]
    for t in result.tracks:
        rows.append((str(t.track_id), str(t.num_frames), str(t.first_frame), str(t.last_frame),
                     f"{100 * t.filled_ratio:.0f}%", f"{t.mean_confidence:.2f}",
                     *_refine_cells(t)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def camera_summary(result) -> str:
    """The camera motion found and the floor fit, with the solve's cost beside detection's."""
    from .world import describe_camera

    frames = max(result.frame_count, 1)
    detect = (result.timings.get("detect", 0.0) + result.timings.get("track", 0.0)) / frames
    return (describe_camera(result.camera, result.timings.get("camera", 0.0) / frames)
            + f", detection {1000 * detect:.1f} ms/frame")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="glot-mocap",
        description="Video to per-person SMPL motion with GLoT (motion clip .npz for Blender).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="analyse a video and write a motion clip (.npz)")
    a.add_argument("video", type=Path, help="the video file")
    a.add_argument("-o", "--output", type=Path, required=True, help="the motion clip to write (.npz)")
    add_analysis_options(a)
    add_fbx_options(a, name_flag=True)

    add_batch_parser(sub)

    m = sub.add_parser("models", help="list every model file, where it was looked for, what is missing")
    m.add_argument("--models", type=Path, default=None, help="folder holding the model files")

    s = sub.add_parser("synth-models", help="write synthetic model files (random weights) for trying the tool")
    s.add_argument("folder", type=Path)
    return p


def cmd_analyze(args: argparse.Namespace, stderr: TextIO, stdout: TextIO) -> int:
    from .pipeline import Engine

    options = analyze_options(args, args.video, args.output)
    if args.no_fbx and args.fbx_all_in_one:
        raise InvalidRequestError("--fbx-all-in-one and --no-fbx contradict each other: drop one")
    if args.fbx is not None and args.fbx.suffix.lower() != ".fbx":
        raise InvalidRequestError(f"--fbx {args.fbx}: the file name must end in .fbx")
    printer = None if args.quiet else ProgressPrinter(stderr)
    try:
        result = Engine(models_dir=args.models, device=args.device).analyze(options, progress=printer)
    finally:
        if printer is not None:
            printer.close()
    stderr.writelines(f"note: {notice}\n" for notice in result.notices)
    stdout.write(f"{len(result.tracks)} person(s), backend {result.backend}, "
                 f"written to {result.path}\n{summary_table(result)}\n")
    if result.camera is not None:
        stdout.write(camera_summary(result) + "\n")
    if args.no_fbx:
        return EXIT_OK
    fbx_path = args.fbx or Path(result.path).with_suffix(".fbx")
    if importlib.util.find_spec("bpy") is None:
        stdout.write(f"FBX: not written (Blender's bpy module is not installed in this Python: "
                     f"pip install bpy, or open {result.path} with the Blender extension)\n")
        return EXIT_OK
    stdout.write(write_fbx(Path(result.path), fbx_path, args.fbx_all_in_one))
    return EXIT_OK


def write_fbx(clip_path: Path, fbx_path: Path, all_in_one: bool = False) -> str:
    """Runs glot_blender.blender.clip_to_fbx in its own process (bpy never enters this one):
    one FBX per person (``NAME_P<id>.fbx``), or all people in ``fbx_path`` with
    ``all_in_one``. Returns its lines about people left out and one ``FBX: PATH`` line per
    file; raises GlotError with its one-line message when it fails."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("glot_blender")
    if spec is not None and spec.submodule_search_locations:
        root = str(Path(next(iter(spec.submodule_search_locations))).parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    extra = ["--all-in-one"] if all_in_one else []
    done = subprocess.run([sys.executable, "-m", "glot_blender.blender.clip_to_fbx",
                           str(clip_path), str(fbx_path), *extra],
                          check=False, capture_output=True, text=True, env=env)
    written = [line for line in done.stdout.splitlines() if line.startswith("FBX: ")]
    if done.returncode != 0 or not written or not all(Path(w[5:]).is_file() for w in written):
        lines = done.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise GlotError(f"the motion clip was written to {clip_path}, but not the FBX "
                        f"{fbx_path} ({reason}); use --no-fbx to skip it")
    kept = [line for line in done.stdout.splitlines() if "left out" in line] + written
    return "".join(line + "\n" for line in kept)


def cmd_models(args: argparse.Namespace, stdout: TextIO) -> int:
    from .registry import ModelRegistry, format_report

    from .detect import auto_choice

    registry = ModelRegistry(args.models)
    choice = auto_choice(registry)
    stdout.write(format_report(registry) + "\n")
    stdout.write(f"\nPerson detector (--detector auto): {choice.detector}\n  {choice.reason}\n")
    return EXIT_OK


def cmd_synth_models(args: argparse.Namespace, stdout: TextIO) -> int:
    from .synthetic import write_synthetic_models

    args.folder.mkdir(parents=True, exist_ok=True)
    write_synthetic_models(args.folder, seed=0)
    stdout.write(f"synthetic model files (random weights, for testing only) written to {args.folder}\n")
    return EXIT_OK


def _log_unexpected(exc: BaseException) -> Path:
    path = Path(tempfile.gettempdir()) / ERROR_LOG_NAME
    path.write_text(
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} glot-mocap {' '.join(sys.argv[1:])}\n"
        + "".join(traceback.format_exception(exc))
    )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["setup-env"]:
        sys.stderr.write(f"glot-mocap: error: the server's environment is created by its own "
                         f"command, {ENV_COMMAND} (or the add-on's Create Environment); run "
                         f"{ENV_COMMAND} --help\n")
        return EXIT_ERROR
    args = build_parser().parse_args(argv)
    stdout, stderr = sys.stdout, sys.stderr
    try:
        if args.command == "analyze":
            return cmd_analyze(args, stderr, stdout)
        if args.command == "batch":
            return cmd_batch(args, stderr, stdout)
        if args.command == "models":
            return cmd_models(args, stdout)
        return cmd_synth_models(args, stdout)
    except GlotError as exc:
        stderr.write(f"glot-mocap: error: {exc.message}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        stderr.write("\nglot-mocap: interrupted; no output file was written\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the edge: traceback to a file, one sentence out
        log_path = _log_unexpected(exc)
        stderr.write(f"glot-mocap: unexpected error ({type(exc).__name__}: {exc}); "
                     f"the traceback is in {log_path}\n")
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
