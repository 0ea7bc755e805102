"""Reading a ``.npz`` archive someone else made without trusting it (numpy + stdlib).

``np.load`` allocates whatever a member's ``.npy`` header claims before it reads a byte of
data, so a 2 MB file claiming a (10^9, 3) array costs gigabytes before any shape check.
:class:`CheckedNpz` reads every member's header alone first (numpy's npy header is a few
hundred bytes at the start of the member) and refuses, with :class:`ArchiveError`, members
whose dtype is not a plain number, bool or text type (no objects, no structured or
sub-array dtypes) or whose claimed size does not fit the member's stored size or a limit.
Callers then check the shapes they expect against :meth:`CheckedNpz.header` before they
load anything with ``archive[key]``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from types import TracebackType

import numpy as np

#: dtype kinds a data archive may hold: bool, signed/unsigned int, float, unicode text
PLAIN_KINDS = "biufU"
#: largest npy header read (numpy's own default limit)
MAX_HEADER_BYTES = 10_000
#: members beyond this many make the archive suspect
MAX_MEMBERS = 100_000


class ArchiveError(ValueError):
    """The archive (or one member) cannot be read safely; the message says which and why."""


@dataclass(frozen=True)
class Member:
    """A member's npy header: shape, dtype and the bytes its data takes once loaded."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


def _read_header(fh, name: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fh)
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ArchiveError(f"member '{name}' has npy format version {version}, not 1.0 or 2.0")
    shape, _fortran, dtype = readers[version](fh, max_header_size=MAX_HEADER_BYTES)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_member(name: str, shape: tuple[int, ...], dtype: np.dtype, stored: int,
                  max_bytes: int) -> Member:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
            or dtype.kind not in PLAIN_KINDS:
        raise ArchiveError(f"member '{name}' holds {dtype.str} values, not plain numbers or text")
    if any(d < 0 for d in shape):
        raise ArchiveError(f"member '{name}' claims the impossible shape {shape}")
    nbytes = int(dtype.itemsize)
    for d in shape:
        nbytes *= d
    if nbytes > stored or nbytes > max_bytes:
        raise ArchiveError(
            f"member '{name}' claims shape {shape} ({nbytes} bytes) but stores {stored} bytes"
            + ("" if nbytes <= max_bytes else f" (at most {max_bytes} are accepted)"))
    return Member(shape, dtype, nbytes)


class CheckedNpz:
    """A ``.npz`` whose every member header was checked on opening; ``archive[key]`` loads one
    member (never pickles) and ``archive.header(key)`` tells its shape before that."""

    def __init__(self, path: str | os.PathLike[str], max_member_bytes: int) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ArchiveError(f"not a readable .npz archive ({exc})") from exc
        try:
            self._members = self._scan(max_member_bytes)
        except BaseException:
            self._zip.close()
            raise

    def _scan(self, max_member_bytes: int) -> dict[str, tuple[zipfile.ZipInfo, Member]]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(f"the archive has {len(infos)} members (at most {MAX_MEMBERS})")
        members = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[: -len(".npy")]
            try:
                with self._zip.open(info) as fh:
                    shape, dtype = _read_header(fh, key)
            except ArchiveError:
                raise
            except (ValueError, TypeError, SyntaxError, OSError, EOFError, zipfile.BadZipFile,
                    RecursionError, MemoryError, NotImplementedError) as exc:
                raise ArchiveError(f"member '{key}' has no readable npy header ({exc})") from exc
            members[key] = (info, _check_member(key, shape, dtype, info.file_size,
                                                max_member_bytes))
        return members

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def keys(self) -> list[str]:
        return list(self._members)

    def header(self, key: str) -> Member:
        return self._members[key][1]

    def __getitem__(self, key: str) -> np.ndarray:
        info, member = self._members[key]
        try:
            with self._zip.open(info) as fh:
                array = np.lib.format.read_array(fh, allow_pickle=False,
                                                 max_header_size=MAX_HEADER_BYTES)
        except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"member '{key}' cannot be read ({exc})") from exc
        if array.shape != member.shape or array.dtype != member.dtype:
            raise ArchiveError(f"member '{key}' changed while it was read")
        return array

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> CheckedNpz:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
