"""Writing the user's files without ever losing one (stdlib only; the server, the command
line and the add-on all use it).

- :func:`check_output` refuses an output that is the input (same file after resolving links,
  or the same inode) and an output location that cannot be written (a folder, a FIFO, a
  read-only folder, a folder below a regular file), before any work is done.
- :func:`publishing` writes through a hidden temporary file in the output's own folder and
  renames it over the output only when the write completed, so an interrupted write leaves
  the previous file as it was. The temporary file gets the permissions an ordinary new file
  gets (``0o666`` less the umask), and its name carries the writer's process id, so the
  leftovers of a killed writer are removed by the next write into the same folder
  (:func:`clean_stale_temps`).
- :func:`file_kind` names what a path is when it is not a regular file.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: hidden temporary files of an unfinished write: ``.glot-tmp-<pid>-<token><suffix>``
TEMP_PREFIX = ".glot-tmp-"
#: a temporary file older than this is stale even when its writer's pid is alive (pid reuse)
STALE_AFTER_S = 24 * 3600.0
#: mode asked for new files; the umask takes off what the user does not want
NEW_FILE_MODE = 0o666

PathLike = str | os.PathLike[str]


class OutputPathError(ValueError):
    """An output path that must not or cannot be written; the message is one sentence."""


def display(path: PathLike) -> str:
    """``path`` as printable text: bytes that are not UTF-8 (lone surrogates) as ``\\udcXX``."""
    return os.fspath(path).encode("utf-8", "backslashreplace").decode("utf-8")


def file_kind(path: PathLike) -> str | None:
    """What ``path`` is when it exists and is not a regular file ("a folder", "a FIFO (named
    pipe)", ...); None for a regular file or a path that does not exist."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when both paths name the same file: the same inode (hard links, symbolic links)
    or, for a path that does not exist yet, the same fully resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def check_not_input(output: PathLike, inputs: Iterable[tuple[str, PathLike]],
                    what: str = "output") -> None:
    """OutputPathError when ``output`` is one of ``inputs`` ((label, path) pairs)."""
    for label, source in inputs:
        if source is not None and same_file(output, source):
            raise OutputPathError(
                f"the {what} {display(output)} is the {label} itself: writing it would replace "
                f"the {label}; choose another output file")


def check_writable_location(output: PathLike, what: str = "output") -> None:
    """OutputPathError unless ``output`` can be created or replaced: it must not be a folder or
    another non-regular file, the nearest existing folder above it must be a writable folder
    (missing folders are created by the write)."""
    path = Path(output)
    kind = file_kind(path)
    if kind is not None:
        raise OutputPathError(f"the {what} {display(path)} is {kind}, not a file that can be "
                              "written: give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        if parent.is_symlink():
            raise OutputPathError(f"the {what}'s folder {display(parent)} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"the {what} {display(path)} cannot be written: "
                              f"{display(parent)} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"the {what} {display(path)} cannot be written: the folder "
                              f"{display(parent)} is read-only for you; choose another folder")


def check_output(output: PathLike, inputs: Iterable[tuple[str, PathLike]] = (),
                 what: str = "output") -> None:
    """Both checks above: call it before any work that ends in writing ``output``."""
    check_not_input(output, inputs, what)
    check_writable_location(output, what)


def _pid_alive(pid: int) -> bool:
    if sys.platform.startswith("win"):  # os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _temp_owner(name: str) -> int | None:
    """The writer's pid from a temporary file name, None when the name is not ours."""
    if not name.startswith(TEMP_PREFIX):
        return None
    pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def clean_stale_temps(folder: PathLike) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder`` (their process is
    gone, or they are older than STALE_AFTER_S); returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        pid = _temp_owner(entry.name)
        if pid is None or pid == os.getpid():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            if _pid_alive(pid) and now - info.st_mtime < STALE_AFTER_S:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _reserve_temp(folder: Path, suffix: str) -> Path:
    for _ in range(100):
        temp = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise OutputPathError(f"no temporary file could be created in {display(folder)}")


@contextmanager
def publishing(target: PathLike, suffix: str = ".tmp",
               may_publish: Callable[[], bool] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary path next to ``target`` (created empty, ordinary new-file
    permissions) to write into; when the block ends normally it replaces ``target`` in one
    rename, otherwise it is removed and ``target`` is untouched. ``suffix`` is the temporary
    name's ending (some writers insist on an extension); ``may_publish`` is asked right before
    the rename and a False removes the temporary file instead (a writer whose parent died)."""
    target = Path(target)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(folder)
    temp = _reserve_temp(folder, suffix)
    try:
        yield temp
        if may_publish is not None and not may_publish():
            temp.unlink(missing_ok=True)
            return
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- per-user state

#: folders this module creates for the user's own state: no access for others
PRIVATE_DIR_MODE = 0o700


def private_dir(folder: PathLike) -> Path:
    """``folder`` created (with its parents) for this user only; OSError when it is a link or
    not a folder, or (POSIX) belongs to someone else."""
    folder = Path(folder)
    folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{display(folder)} is not a folder (a link or a file)")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise OSError(f"{display(folder)} belongs to another user")
    return folder


def write_private_text(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` (replacing it) in a private folder, readable by the user
    only, without following a link planted at ``path``."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(text)
    return path
