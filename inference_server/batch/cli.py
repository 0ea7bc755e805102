"""The ``batch`` command: its flags (the analysis flags are shared with ``analyze``), the
progress bar over the whole batch, the end table and the exit status."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import TextIO

from ..cli_options import add_analysis_options, add_fbx_options, analyze_options
from ..errors import BackendUnavailableError, InvalidRequestError

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 2, 130


def add_batch_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "batch", help="analyse many videos (files, folders, globs) on Ray: this machine or a cluster",
        description="Analyse many videos with models loaded once per worker. Each video gives "
        "OUTDIR/<its path relative to the INPUT>.npz (+ .fbx); up-to-date clips are skipped; "
        "OUTDIR/batch-report.json lists what was done, skipped and failed.")
    b.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (searched recursively) or glob patterns")
    b.add_argument("-o", "--output-dir", dest="outdir", type=Path, required=True,
                   metavar="OUTDIR", help="folder for the motion clips and the report")
    b.add_argument("--address", default=None, metavar="HOST:PORT|auto",
                   help="join a running Ray cluster (default: start Ray on this machine)")
    b.add_argument("--workers", type=int, default=None,
                   help="workers (default: as many as the CPUs/GPUs hold, at most one per video)")
    b.add_argument("--cpus-per-worker", type=float, default=1.0,
                   help="CPUs per worker, also its torch threads (default 1)")
    b.add_argument("--gpus-per-worker", type=float, default=None,
                   help="GPUs per worker, fractions allowed (default 1 where GPUs exist, else 0)")
    b.add_argument("--force", action="store_true",
                   help="analyse again videos whose clip is up to date")
    add_analysis_options(b)
    add_fbx_options(b, name_flag=False)


class BatchProgressPrinter:
    """One bar over the batch: frames analysed of all, videos finished of all."""

    def __init__(self, stream: TextIO) -> None:
        from ..cli import ProgressPrinter

        self.printer = ProgressPrinter(stream)

    def __call__(self, progress) -> None:  # progress: runner.BatchProgress
        from ..pipeline import ProgressEvent

        failed = f", {progress.failed} failed" if progress.failed else ""
        message = (f"videos {progress.videos_done}/{progress.videos_total}{failed}, "
                   f"{len(progress.running)} running")
        self.printer(ProgressEvent("batch", int(progress.frames_done),
                                   progress.frames_total or None, message))

    def close(self) -> None:
        self.printer.close()


def cmd_batch(args: argparse.Namespace, stderr: TextIO, stdout: TextIO) -> int:
    if importlib.util.find_spec("ray") is None:
        raise BackendUnavailableError(
            "the batch command runs on Ray, which is not installed in this Python: "
            "pip install 'glot-mocap[cluster]'")
    from .inputs import collect_items
    from .report import format_table, write_report
    from .runner import BatchSettings, run_batch

    if args.no_fbx and args.fbx_all_in_one:
        raise InvalidRequestError("--fbx-all-in-one and --no-fbx contradict each other: drop one")
    items = collect_items(args.inputs, args.outdir)
    template = analyze_options(args, video="", output="batch.npz")  # checks the options
    _prepare_outdir(args.outdir)
    settings = BatchSettings(address=args.address, workers=args.workers,
                             cpus_per_worker=args.cpus_per_worker,
                             gpus_per_worker=args.gpus_per_worker, force=args.force,
                             write_fbx=not args.no_fbx, fbx_all_in_one=args.fbx_all_in_one)
    printer = None if args.quiet else BatchProgressPrinter(stderr)
    try:
        summary = run_batch(items, template, settings, progress=printer)
    finally:
        if printer is not None:
            printer.close()
    report = write_report(args.outdir, summary)
    stdout.write(format_table(summary) + f"\nreport: {report}\n")
    for result in summary.results:
        stderr.writelines(f"note: {result.rel}: {n}\n" for n in dict.fromkeys(result.notices))
    if summary.interrupted:
        stderr.write("glot-mocap: interrupted; finished clips were kept, no partial file "
                     "was written\n")
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_FAILED


def _prepare_outdir(outdir: Path) -> None:
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequestError(f"the output folder {outdir} cannot be created "
                                  f"({exc.strerror}): choose another -o") from exc
    if not outdir.is_dir():
        raise InvalidRequestError(f"{outdir} is not a folder: -o takes the output folder")
