"""Fuzz corpus, command line: outputs that are the input or cannot be written, bad camera
values and inputs that are no files are refused in one sentence before the first frame is
decoded, and every file in the folder stays byte-identical."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fuzz_support import snapshot

from inference_server import cli

posix_only = pytest.mark.skipif(os.name != "posix", reason="links, FIFOs and /dev are POSIX")

#: (case name, set-up(folder, video) -> argv after "analyze", words the message must hold)
Case = tuple[str, Callable[[Path, Path], list[str]], str]


def _video_named(name: str) -> Callable[[Path, Path], list[str]]:
    def setup(folder: Path, video: Path) -> list[str]:
        shutil.copy(video, folder / name)
        return [str(folder / name), "-o", str(folder / Path(name).with_suffix(".npz"))]
    return setup


def _output(make: Callable[[Path, Path], Path]) -> Callable[[Path, Path], list[str]]:
    def setup(folder: Path, video: Path) -> list[str]:
        shutil.copy(video, folder / "walk.mp4")
        return [str(folder / "walk.mp4"), "-o", str(make(folder, folder / "walk.mp4"))]
    return setup


def _link(folder: Path, target: Path, name: str = "link.npz") -> Path:
    (folder / name).symlink_to(target)
    return folder / name


def _hard(folder: Path, target: Path) -> Path:
    os.link(target, folder / "hard.npz")
    return folder / "hard.npz"


def _folder(folder: Path, _video: Path) -> Path:
    (folder / "clip.npz").mkdir()
    return folder / "clip.npz"


def _under_file(folder: Path, _video: Path) -> Path:
    (folder / "notes.txt").write_text("mine")
    return folder / "notes.txt" / "deeper" / "clip.npz"


def _fifo(folder: Path, _video: Path) -> Path:
    os.mkfifo(folder / "clip.npz")
    return folder / "clip.npz"


def _with(*extra: str) -> Callable[[Path, Path], list[str]]:
    def setup(folder: Path, video: Path) -> list[str]:
        shutil.copy(video, folder / "walk.mp4")
        return [str(folder / "walk.mp4"), "-o", str(folder / "walk.npz"), *extra]
    return setup


def _fbx_link(folder: Path, video: Path) -> list[str]:
    argv = _with()(folder, video)
    return [*argv, "--fbx", str(_link(folder, folder / "walk.mp4", "walk.fbx"))]


def _fbx_under_file(folder: Path, video: Path) -> list[str]:
    argv = _with()(folder, video)
    (folder / "notes.txt").write_text("mine")
    return [*argv, "--fbx", str(folder / "notes.txt" / "walk.fbx")]


def _video_fifo(folder: Path, _video: Path) -> list[str]:
    os.mkfifo(folder / "walk.mp4")
    return [str(folder / "walk.mp4"), "-o", str(folder / "walk.npz")]


CASES: list[Case] = [
    ("clip over the video", _video_named("v.npz"), "is the input video itself"),
    ("FBX over the video", _video_named("clip.fbx"), "FBX file"),
    ("clip through a symlink", _output(_link), "is the input video itself"),
    ("clip through a hard link", _output(_hard), "is the input video itself"),
    ("FBX through a symlink", _fbx_link, "is the input video itself"),
    ("output is a folder", _output(_folder), "is a folder"),
    ("output under a file", _output(_under_file), "is a file, not a folder"),
    ("FBX under a file", _fbx_under_file, "is a file, not a folder"),
    ("output is a FIFO", _output(_fifo), "FIFO"),
    ("video is a FIFO", _video_fifo, "FIFO"),
    ("video is /dev/zero", lambda f, v: ["/dev/zero", "-o", str(f / "z.npz")], "character device"),
    *((f"focal {v}", _with(f"--focal-px={v}"), "focal_px")
      for v in ("inf", "-inf", "nan", "0", "-3", "1e300", "1e7")),
    *((f"fov {v}", _with(f"--fov-deg={v}"), "fov_deg") for v in ("inf", "nan", "0", "180")),
]


@posix_only
@pytest.mark.parametrize(("setup", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_decoding_and_nothing_changes(setup, words: str, tmp_path: Path,
                                                     small_video, capsys) -> None:
    folder = tmp_path / "user"
    folder.mkdir()
    argv = setup(folder, small_video.path)
    before = snapshot(folder)
    code = cli.main(["analyze", *argv, "--device", "cpu", "--detector", "hog"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == cli.EXIT_ERROR, err
    assert len(lines) == 1 and lines[0].startswith("glot-mocap: error: "), err
    assert words in lines[0], lines[0]
    assert "decode" not in err  # refused before the first frame was decoded
    assert snapshot(folder) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path: Path, small_video, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    code = cli.main(["analyze", str(small_video.path), "-o", str(locked / "c.npz")])
    assert code == cli.EXIT_ERROR and "read-only" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


def test_unexpected_errors_are_logged_privately(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path))
    path = cli._log_unexpected(RuntimeError("boom"))
    assert path == tmp_path / "state" / "glot-mocap" / cli.ERROR_LOG_NAME
    assert "RuntimeError: boom" in path.read_text()
    if os.name == "posix":
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        victim = tmp_path / "victim"
        victim.write_text("keep")
        path.unlink()
        path.symlink_to(victim)  # a planted link is never followed
        assert cli._log_unexpected(RuntimeError("again")) is None
        assert victim.read_text() == "keep"
