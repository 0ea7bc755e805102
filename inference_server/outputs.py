"""The server's and the command line's edge of :mod:`glot_blender.core.safe_files`: an output
(motion clip or FBX) that is the input video, or that cannot be written, is refused with
:class:`~inference_server.errors.InvalidRequestError` before any frame is decoded."""

from __future__ import annotations

import os
from collections.abc import Iterable

from glot_blender.core.safe_files import OutputPathError, check_output

from .errors import InvalidRequestError

PathLike = str | os.PathLike[str]


def check_output_path(output: PathLike, video: PathLike,
                      others: Iterable[tuple[str, PathLike]] = (), what: str = "output") -> None:
    """InvalidRequestError when ``output`` is the input video (or one of ``others``, (label,
    path) pairs such as the motion clip an FBX is made from) or cannot be written."""
    try:
        check_output(output, [("input video", video), *others], what)
    except OutputPathError as exc:
        raise InvalidRequestError(str(exc)) from exc
