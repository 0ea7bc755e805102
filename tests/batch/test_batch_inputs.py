"""INPUT arguments to videos and outputs, and the worker plan: plain functions, no Ray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from batch_support import REPO

from inference_server.batch.inputs import collect_items
from inference_server.batch.runner import BatchSettings, plan_workers
from inference_server.errors import InvalidRequestError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folders_recurse_globs_mirror_below_their_fixed_part_files_go_on_top(tmp_path):
    shoot = tmp_path / "shoot"
    for rel in ("a.mp4", "day1/b.MOV", "day1/deep/c.avi", "notes.txt", "day1/d.npz"):
        _touch(shoot / rel)
    _touch(tmp_path / "other" / "e.mkv")
    out = tmp_path / "out"
    items = collect_items([str(shoot), str(tmp_path / "other" / "*.mkv"),
                           str(shoot / "a.mp4")], out)  # a.mp4 twice: analysed once
    assert [(i.rel, Path(i.output).relative_to(out).as_posix()) for i in items] == [
        ("a", "a.npz"), ("day1/b", "day1/b.npz"), ("day1/deep/c", "day1/deep/c.npz"),
        ("e", "e.npz")]
    assert all(Path(i.source).is_absolute() for i in items)
    deep = collect_items([str(shoot / "**" / "*.avi")], out)
    assert [i.rel for i in deep] == ["day1/deep/c"]


def test_explicit_files_are_taken_unseen_and_clashes_and_empty_inputs_refused(tmp_path):
    # a file this machine cannot see may exist on the workers: the worker reports it
    (item,) = collect_items([str(tmp_path / "elsewhere" / "take.mp4")], tmp_path / "out")
    assert item.rel == "take"
    _touch(tmp_path / "s" / "take.mp4")
    _touch(tmp_path / "s" / "take.mov")
    with pytest.raises(InvalidRequestError, match="would both be written to"):
        collect_items([str(tmp_path / "s")], tmp_path / "out")
    with pytest.raises(InvalidRequestError, match="holds no video file"):
        collect_items([str(_touch(tmp_path / "empty" / "x.txt").parent)], tmp_path / "out")
    with pytest.raises(InvalidRequestError, match="matches no video file"):
        collect_items([str(tmp_path / "*.webm")], tmp_path / "out")
    clip = _touch(tmp_path / "o" / "c.npz")
    with pytest.raises(InvalidRequestError, match="overwritten by its own motion clip"):
        collect_items([str(clip)], tmp_path / "o")


def test_worker_plan_fits_the_cluster_or_says_why():
    cpus4 = {"CPU": 4.0}
    assert plan_workers(BatchSettings(), cpus4, videos=10).workers == 4
    assert plan_workers(BatchSettings(), cpus4, videos=3).workers == 3  # not more than videos
    plan = plan_workers(BatchSettings(cpus_per_worker=2), cpus4, videos=10)
    assert (plan.workers, plan.threads, plan.gpus) == (2, 2, 0.0)
    gpu = plan_workers(BatchSettings(gpus_per_worker=0.5), {"CPU": 8.0, "GPU": 1.0}, videos=10)
    assert (gpu.workers, gpu.gpus) == (2, 0.5)
    assert plan_workers(BatchSettings(), {"CPU": 8.0, "GPU": 2.0}, videos=10).workers == 2
    with pytest.raises(InvalidRequestError, match="do not fit"):
        plan_workers(BatchSettings(workers=3), {"CPU": 2.0}, videos=10)
    with pytest.raises(InvalidRequestError, match="do not fit"):
        plan_workers(BatchSettings(gpus_per_worker=1), cpus4, videos=10)
    with pytest.raises(InvalidRequestError, match="--workers must be 1 or more"):
        plan_workers(BatchSettings(workers=0), cpus4, videos=10)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          timeout=300)


def test_only_batch_imports_ray_and_without_ray_it_says_what_to_install(tmp_path):
    imports = _python(
        "import sys\n"
        "import inference_server.cli as cli, inference_server.server, inference_server.pipeline\n"
        "cli.build_parser().parse_args(['batch', 'x.mp4', '-o', 'out'])\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.strip() == "[]"
    video = tmp_path / "take.mp4"
    video.write_bytes(b"x")
    missing = _python(  # a Python without Ray: the import system finds no 'ray'
        "import sys\nsys.modules['ray'] = None\nfrom inference_server.cli import main\n"
        f"sys.exit(main(['batch', {str(video)!r}, '-o', {str(tmp_path / 'out')!r}]))\n")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "glot-mocap: error: the batch command runs on Ray, which is not installed in this "
        "Python: pip install 'glot-mocap[cluster]'")
    assert not (tmp_path / "out").exists()


def test_an_address_nobody_listens_on_is_one_sentence_not_a_long_wait(tmp_path):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    video = tmp_path / "take.mp4"
    video.write_bytes(b"x")
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server.cli", "batch", str(video), "-o",
         str(tmp_path / "out"), "--address", f"127.0.0.1:{port}"],
        check=False, capture_output=True, text=True, cwd=REPO, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"glot-mocap: error: cannot reach the Ray cluster at "
                                  f"127.0.0.1:{port} (")
    assert len(proc.stderr.strip().splitlines()) == 1
