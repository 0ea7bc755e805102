"""``glot-mocap``: the command line (analyze, batch, models, synth-models).

A thin edge: it parses options into :class:`~inference_server.options.AnalyzeOptions`, calls
one function, and turns errors into one line on stderr. Exit codes: 0 ok, 2 a known error
(the message says what to do), 1 an unexpected error (traceback in a log file), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from glot_blender.core.locations import ENV_COMMAND, user_state_dir
from glot_blender.core.person_files import is_person_file_of, person_files_beside
from glot_blender.core.safe_files import clean_stale_temps, display, write_private_text

from .batch.cli import add_batch_parser, cmd_batch
from .cli_options import add_analysis_options, add_fbx_options, analyze_options
from .errors import GlotError, InvalidRequestError

if TYPE_CHECKING:  # the pipeline (torch, OpenCV) is imported by cmd_analyze
    from .stages.context import ProgressEvent
    from .stages.output import AnalysisResult, TrackSummary

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

    def __call__(self, event: ProgressEvent) -> None:
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

    def _line(self, event: ProgressEvent, frac: float) -> str:
        filled = round(frac * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        count = f"{event.done}/{event.total}" if event.total else f"{event.done}"
        elapsed = time.monotonic() - self.started
        msg = f"  {event.message}" if event.message else ""
        return f"{event.stage:<9}[{bar}] {count:>13} {elapsed:6.1f}s{msg}"

    def _end_line(self) -> None:
        if self.tty and self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()

    def close(self) -> None:
        self._end_line()
        self.stage = None


def _refine_cells(t: TrackSummary) -> tuple[str, str]:
    """The solver's columns: refined yes/no ("off" when it did not run) and its 2D error."""
    if t.refined is None:
        return "off", "-"
    error = t.refine_error_px
    return ("yes" if t.refined else "no"), ("-" if math.isnan(error) else f"{error:.1f} px")


def summary_table(result: AnalysisResult) -> str:
    """The people found, one row each (result: pipeline.AnalysisResult)."""
    rows = [("person", "frames", "first", "last", "filled", "confidence", "refined", "2D error",
             "body")]
    for t in result.tracks:
        rows.append((str(t.track_id), str(t.num_frames), str(t.first_frame), str(t.last_frame),
                     f"{100 * t.filled_ratio:.0f}%", f"{t.mean_confidence:.2f}",
                     *_refine_cells(t), "upper" if t.upper_body else "full"))
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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what was and was not written by then (one sentence)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of a file, None when it does not exist: tells whether it changed."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _outputs_now(clip: Path, fbx: Path | None) -> dict[Path, tuple | None]:
    """Identity of the clip, the FBX name and every person's FBX beside it."""
    paths = [clip]
    if fbx is not None:
        paths += [fbx, *person_files_beside(fbx)]
    return {p: _identity(p) for p in paths}


def _interrupted_outcome(before: dict[Path, tuple | None], clip: Path, fbx: Path | None) -> str:
    """One sentence: which outputs were written before Ctrl-C, and that the others (and any
    previous versions of them) are unchanged."""
    after = _outputs_now(clip, fbx)
    changed = [p for p in after if after[p] is not None and after[p] != before.get(p)]
    if not changed:
        return "no output file was written (any previous one is unchanged)"
    names = ", ".join(display(p) for p in changed)
    rest = "" if fbx is None or any(p.suffix.lower() == ".fbx" for p in changed) else \
        "; the FBX was not written (any previous one is unchanged)"
    return f"written before the interruption: {names}{rest}"


def _check_fbx_output(fbx: Path, video: Path, clip: Path) -> None:
    """The FBX name (and each person's file beside it) must not be the video or the clip and
    must be writable: checked before the analysis starts."""
    from .outputs import check_output_path

    check_output_path(fbx, video, [("motion clip", clip)], what="FBX file")
    if is_person_file_of(fbx.parent.resolve() / fbx.name, video.parent.resolve() / video.name):
        raise InvalidRequestError(
            f"the FBX of a person ({display(video.name)}) would be the input video itself: "
            "choose another --fbx or -o name")


def cmd_analyze(args: argparse.Namespace, stderr: TextIO, stdout: TextIO) -> int:
    options = analyze_options(args, args.video, args.output)
    options.check_paths()
    if args.no_fbx and args.fbx_all_in_one:
        raise InvalidRequestError("--fbx-all-in-one and --no-fbx contradict each other: drop one")
    if args.fbx is not None and args.fbx.suffix.lower() != ".fbx":
        raise InvalidRequestError(f"--fbx {display(args.fbx)}: the file name must end in .fbx")
    fbx_path = None if args.no_fbx else (args.fbx or Path(args.output).with_suffix(".fbx"))
    if fbx_path is not None and importlib.util.find_spec("bpy") is not None:
        _check_fbx_output(fbx_path, Path(args.video), Path(args.output))
    before = _outputs_now(Path(args.output), fbx_path)
    try:
        return _analyze_then_fbx(args, options, fbx_path, stderr, stdout)
    except KeyboardInterrupt as exc:
        raise Interrupted(_interrupted_outcome(before, Path(args.output), fbx_path)) from exc


def _analyze_then_fbx(args: argparse.Namespace, options, fbx_path: Path | None,
                      stderr: TextIO, stdout: TextIO) -> int:
    from .pipeline import Engine

    printer = None if args.quiet else ProgressPrinter(stderr)
    try:
        result = Engine(models_dir=args.models, device=args.device).analyze(options,
                                                                            progress=printer)
    finally:
        if printer is not None:
            printer.close()
    stderr.writelines(f"note: {notice}\n" for notice in result.notices)
    stdout.write(f"{len(result.tracks)} person(s), backend {result.backend}, "
                 f"detector {result.detector}, written to {display(result.path)}\n"
                 f"{summary_table(result)}\n")
    if result.camera is not None:
        stdout.write(camera_summary(result) + "\n")
    if fbx_path is None:
        return EXIT_OK
    if importlib.util.find_spec("bpy") is None:
        stdout.write(f"FBX: not written (Blender's bpy module is not installed in this Python: "
                     f"pip install bpy, or open {display(result.path)} with the Blender "
                     "extension)\n")
        return EXIT_OK
    stdout.write(write_fbx(Path(result.path), fbx_path, args.fbx_all_in_one,
                           protect=[Path(args.video)]))
    return EXIT_OK


#: how long an interrupted FBX child gets to remove its temporary file before it is killed
CHILD_STOP_S = 5.0


def write_fbx(clip_path: Path, fbx_path: Path, all_in_one: bool = False,
              protect: Sequence[Path] = ()) -> str:
    """Runs glot_blender.blender.clip_to_fbx in its own process (bpy never enters this one):
    one FBX per person (``NAME_P<id>.fbx``), or all people in ``fbx_path`` with
    ``all_in_one``; no file written may replace one of ``protect`` (the video). Returns its
    lines about people left out and one ``FBX: PATH`` line per file; raises GlotError with its
    one-line message when it fails. The child never outlives this process: interrupted, it is
    stopped (then killed); killed, this process takes the child with it (Linux), and the child
    never publishes a file once its parent is gone."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("glot_blender")
    if spec is not None and spec.submodule_search_locations:
        root = str(Path(next(iter(spec.submodule_search_locations))).parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    extra = ["--all-in-one"] if all_in_one else []
    for path in protect:
        extra += ["--protect", str(path)]
    command = [sys.executable, "-m", "glot_blender.blender.clip_to_fbx", str(clip_path),
               str(fbx_path), *extra, "--parent-pid", str(os.getpid())]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = child.communicate()
    finally:
        _stop(child)
        clean_stale_temps(fbx_path.parent)  # a killed child's leftovers
    lines = [os.fsdecode(line) for line in out.splitlines()]
    written = [line for line in lines if line.startswith("FBX: ")]
    if child.returncode != 0 or not written or not all(Path(w[5:]).is_file() for w in written):
        errors = err.decode("utf-8", "backslashreplace").strip().splitlines()
        reason = errors[-1] if errors else f"exit code {child.returncode}"
        raise GlotError(f"the motion clip was written to {display(clip_path)}, but not the FBX "
                        f"{display(fbx_path)} ({reason}); use --no-fbx to skip it")
    kept = [line for line in lines if "left out" in line] + written
    return "".join(display(line) + "\n" for line in kept)


def _stop(child: subprocess.Popen) -> None:
    """Ctrl-C the child (it removes its temporary file), kill it if it does not stop."""
    if child.poll() is not None:
        return
    if os.name != "posix":  # no Ctrl-C to send to one process on Windows
        child.kill()
        child.wait()
        return
    child.send_signal(signal.SIGINT)
    try:
        child.wait(CHILD_STOP_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def cmd_models(args: argparse.Namespace, stdout: TextIO) -> int:
    from .detect import auto_choice
    from .registry import ModelRegistry, format_report

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


def _log_unexpected(exc: BaseException) -> Path | None:
    """The traceback, in the per-user state folder (never a shared temporary folder); None
    when it cannot be written there."""
    text = (f"{time.strftime('%Y-%m-%d %H:%M:%S')} glot-mocap {' '.join(sys.argv[1:])}\n"
            + "".join(traceback.format_exception(exc)))
    try:
        return write_private_text(user_state_dir() / ERROR_LOG_NAME, text)
    except OSError:
        return None


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
    except KeyboardInterrupt as exc:
        outcome = getattr(exc, "outcome", "no output file was written")
        stderr.write(f"\nglot-mocap: interrupted; {outcome}\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the edge: traceback to a file, one sentence out
        log_path = _log_unexpected(exc)
        where = f"the traceback is in {log_path}" if log_path else "no traceback log was written"
        stderr.write(f"glot-mocap: unexpected error ({type(exc).__name__}: {exc}); {where}\n")
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
