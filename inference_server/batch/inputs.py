"""What a batch analyses: INPUT arguments (video files, folders, globs) to videos and outputs.

Each video gets ``OUTDIR/<its path relative to the INPUT that named it>`` with the suffix
``.npz``: a folder's videos mirror the folder's tree, a glob's mirror the tree below the
glob's fixed part, a file named on its own goes to the top of OUTDIR. Paths are made
absolute without resolving links (workers on other machines may see the same link).
Nothing here opens a video: a file named explicitly is taken even when this machine cannot
see it (on a cluster the workers may), and the worker says which node could not read it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidRequestError

#: file suffixes a folder or glob is searched for (lower case); explicit files may be anything
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg",
                              ".mpeg", ".wmv", ".mts", ".m2ts", ".ts", ".3gp", ".flv"})
CLIP_SUFFIX = ".npz"


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch: ``source`` (absolute), ``output`` clip path, ``rel`` its name in
    the report (the output's path relative to OUTDIR, without suffix)."""

    source: str
    output: str
    rel: str


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()


def _glob_base(pattern: str) -> Path:
    """The part of a glob pattern before its first wildcard component."""
    parts = Path(os.path.expanduser(pattern)).parts
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return _absolute(Path(*parts[:first_magic])) if first_magic else _absolute(".")


def expand_input(arg: str) -> list[tuple[Path, Path]]:
    """One INPUT argument as (video, path relative to the input's root) pairs, sorted."""
    if glob.has_magic(arg):
        base = _glob_base(arg)
        found = sorted(_absolute(p) for p in glob.glob(os.path.expanduser(arg), recursive=True))
        videos = [p for p in found if _is_video(p)]
        if not videos:
            raise InvalidRequestError(f"the pattern '{arg}' matches no video file "
                                      f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
        return [(v, v.relative_to(base)) for v in videos]
    path = _absolute(arg)
    if path.is_dir():
        videos = sorted(p for p in path.rglob("*") if _is_video(p))
        if not videos:
            raise InvalidRequestError(f"the folder {path} holds no video file "
                                      f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
        return [(v, v.relative_to(path)) for v in videos]
    return [(path, Path(path.name))]


def collect_items(inputs: Sequence[str], outdir: str | os.PathLike[str]) -> list[BatchItem]:
    """The batch's videos in order, each once, with their outputs under ``outdir``.

    Raises InvalidRequestError for an input matching nothing and for two videos that would
    write the same output (``a.mp4`` and ``a.mov`` side by side, or the same name given twice).
    """
    if not inputs:
        raise InvalidRequestError("name at least one video, folder or glob to analyse")
    root = _absolute(outdir)
    items: list[BatchItem] = []
    seen_sources: set[Path] = set()
    by_output: dict[Path, Path] = {}
    for source, rel in _pairs(inputs):
        if source in seen_sources:
            continue
        seen_sources.add(source)
        output = root / rel.with_suffix(CLIP_SUFFIX)
        if output in by_output:
            raise InvalidRequestError(
                f"{by_output[output]} and {source} would both be written to {output}: rename "
                "one of them or analyse them in separate batches"
            )
        if output == source:
            raise InvalidRequestError(f"{source} would be overwritten by its own motion clip: "
                                      "choose another output folder")
        by_output[output] = source
        items.append(BatchItem(str(source), str(output), rel.with_suffix("").as_posix()))
    return items


def _pairs(inputs: Iterable[str]) -> Iterable[tuple[Path, Path]]:
    for arg in inputs:
        yield from expand_input(arg)
