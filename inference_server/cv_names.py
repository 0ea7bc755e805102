"""File names handed to OpenCV.

OpenCV crashes the whole process (SIGSEGV) on a file name that is not valid UTF-8 (in Python,
a ``str`` holding lone surrogates from undecodable bytes), in ``VideoCapture`` as in
``dnn.readNet*``. :func:`opencv_name` gives such a file a plain name: a link in a private
temporary folder (random name, removed when the block ends), so OpenCV never sees the bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glot_blender.core.safe_files import display

from .errors import GlotError


def is_utf8(path: str | os.PathLike[str]) -> bool:
    """True when the path's text is valid Unicode (no lone surrogates), as OpenCV needs."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextmanager
def opencv_name(path: str | os.PathLike[str], error: type[GlotError]) -> Iterator[str]:
    """A name OpenCV can open for ``path``, valid inside the block only (OpenCV keeps its own
    handle once a file is open, so the link may go away after that). ``error`` is raised, with
    one sentence, when no such name can be made."""
    path = Path(path)
    if is_utf8(path):
        yield os.fspath(path)
        return
    folder = tempfile.mkdtemp(prefix="glot-cv-")
    suffix = path.suffix if path.suffix.isascii() and path.suffix.isprintable() else ""
    link = os.path.join(folder, "file" + suffix)
    try:
        try:
            os.symlink(os.fsencode(path.absolute()), os.fsencode(link))
        except OSError as exc:
            raise error(f"{display(path)}: the file name is not valid UTF-8 and OpenCV cannot "
                        f"open it ({exc.strerror or exc}); rename the file.") from exc
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)
