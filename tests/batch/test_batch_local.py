"""``glot-mocap batch`` on a real local Ray (2 CPUs, started once for the module): clips equal
to ``analyze``'s, failures isolated and reported, resume and --force, a killed worker's video
retried, Ctrl-C mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from batch_support import CLI_FLAGS, REPO, leftovers, local_ray, template, walk

from glot_blender.core.motion_clip import read_clip
from inference_server.batch.inputs import collect_items
from inference_server.batch.runner import BatchSettings, run_batch
from inference_server.pipeline import Engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_address():
    import ray

    with local_ray(num_cpus=2):
        yield ray.get_runtime_context().gcs_address


def _by_rel(results) -> dict:
    return {r.rel: r for r in results}


def _same_motion(batch_clip: Path, single_clip: Path) -> None:
    a, b = read_clip(batch_clip), read_clip(single_clip)
    assert a.track_ids == b.track_ids and a.analysis_options == b.analysis_options
    assert (a.source_sha256, a.frame_count, a.focal_px) == (b.source_sha256, b.frame_count,
                                                           b.focal_px)
    for ta, tb in zip(a.tracks, b.tracks):
        np.testing.assert_array_equal(ta.frame_ids, tb.frame_ids)
        np.testing.assert_array_equal(ta.bbox, tb.bbox)  # detection and tracking: exact
        for name in ("global_orient", "body_pose", "betas", "transl", "joints3d"):
            np.testing.assert_allclose(getattr(ta, name), getattr(tb, name), atol=1e-5)


def test_batch_analyses_reports_failures_skips_up_to_date_and_forces(
        ray_address, shoot: Path, synthetic_models: Path, tmp_path: Path) -> None:
    import torch

    out = tmp_path / "out"
    items = collect_items([str(shoot)], out)
    first = run_batch(items, template(synthetic_models), BatchSettings(write_fbx=False))
    res = _by_rel(first.results)
    assert {k: r.status for k, r in res.items()} == {"a": "done", "broken": "failed",
                                                     "day2/b": "done"}
    assert first.workers == 2 and not first.ok
    reason = res["broken"].reason
    assert "broken.mp4" in reason and "\n" not in reason and reason.endswith(".")
    assert (res["a"].people, res["a"].frames, res["a"].attempts) == (1, 12, 1)
    assert not (out / "broken.npz").exists() and not leftovers(out)

    # the same videos through plain `analyze`'s engine, one thread as the workers have
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        engine = Engine(models_dir=synthetic_models, device="cpu")
        for rel, video in (("a", shoot / "a.mp4"), ("day2/b", shoot / "day2" / "b.mp4")):
            single = tmp_path / "single" / f"{rel}.npz"
            engine.analyze(replace(template(synthetic_models), video=video, output=single))
            _same_motion(out / f"{rel}.npz", single)
    finally:
        torch.set_num_threads(threads)

    # again, as a user would, through the CLI joining this Ray: both clips are up to date
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server.cli", "batch", str(shoot), "-o", str(out),
         "--address", ray_address, "--models", str(synthetic_models), *CLI_FLAGS],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
        timeout=600, check=False)
    assert proc.returncode == 2, proc.stderr  # one video failed
    report = json.loads((out / "batch-report.json").read_text())
    assert report["counts"] == {"done": 0, "skipped": 2, "failed": 1, "cancelled": 0,
                                "not started": 0}
    assert [v["status"] for v in report["videos"]] == ["skipped", "failed", "skipped"]
    assert report["videos"][1]["reason"] == reason
    table = proc.stdout.splitlines()
    assert table[0].split()[:3] == ["video", "status", "people"]
    assert any(line.startswith("broken") and "failed" in line and reason in line
               for line in table)
    assert "2 skipped, 1 failed" in proc.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")} == stamps

    # other options make a clip out of date (--force: see the FBX test)
    changed = run_batch(items[:1], replace(template(synthetic_models), stride=2),
                        BatchSettings(workers=1, write_fbx=False))
    assert changed.results[0].status == "done" and read_clip(out / "a.npz").frame_count == 6


def test_a_killed_worker_has_its_video_retried(ray_address, synthetic_models: Path,
                                               tmp_path: Path) -> None:
    video = walk(tmp_path / "long.mp4", 24)
    out = tmp_path / "out"
    killed: list[int] = []
    threads: set[int] = set()

    def kill_mid_video(progress) -> None:
        for status in progress.running:
            threads.add(status.threads)
            if not killed and 0.05 < status.fraction < 0.9:
                os.kill(status.pid, signal.SIGKILL)
                killed.append(status.pid)

    settings = BatchSettings(workers=1, cpus_per_worker=2, write_fbx=False)
    summary = run_batch(collect_items([str(video)], out), template(synthetic_models), settings,
                        progress=kill_mid_video)
    (result,) = summary.results
    assert threads == {2}  # torch threads follow --cpus-per-worker
    assert killed, "the video finished before the test could kill its worker"
    assert result.status == "done" and result.attempts == 2, result
    assert result.worker_pid != killed[0]
    assert read_clip(out / "long.npz").track_ids == [1]
    assert not leftovers(out)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_ctrl_c_mid_batch_stops_cleanly_and_shuts_ray_down(ray_address, synthetic_models: Path,
                                                            tmp_path: Path) -> None:
    """SIGINT to the CLI while its own local Ray analyses: exit 130, only complete clips."""
    for k in range(3):
        walk(tmp_path / "takes" / f"t{k}.mp4", 40, seed=k)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference_server.cli", "batch", str(tmp_path / "takes"), "-o",
         str(out), "--models", str(synthetic_models), "--workers", "2", *CLI_FLAGS],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree: set[int] = set()
    lines: list[str] = []
    started = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            lines.append(line)
            parts = line.split()
            if parts[:1] == ["batch"] and "/" in parts[-6] and not parts[-6].startswith("0/"):
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while not started.is_set() and proc.poll() is None and time.monotonic() < deadline:
        tree |= _descendants(proc.pid)
        time.sleep(0.2)
    assert started.is_set(), "".join(lines)
    tree |= _descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    stdout = proc.stdout.read()
    reader.join(timeout=10)
    assert proc.returncode == 130, "".join(lines)
    assert "interrupted" in "".join(lines)
    report = json.loads((out / "batch-report.json").read_text())
    assert report["interrupted"] is True
    assert report["counts"]["cancelled"] >= 1, stdout
    for clip in out.rglob("*.npz"):  # only complete clips: each reads back whole
        read_clip(clip)
    done = {v["rel"] for v in report["videos"] if v["status"] == "done"}
    assert {p.stem for p in out.rglob("*.npz")} == done
    assert not leftovers(out)
    assert len(tree) >= 3  # Ray's own processes and the workers ran under the CLI
    time.sleep(2)
    assert not _alive(tree), "processes left behind after Ctrl-C"


def test_fbx_per_person_as_analyze_writes_it_force_redoes_and_only_the_fbx_is_redone(
        ray_address, shoot: Path, synthetic_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    items = collect_items([str(shoot / "a.mp4")], out)
    settings = BatchSettings(workers=1)  # FBX on, as analyze's default
    (first,) = run_batch(items, template(synthetic_models), settings).results
    assert first.status == "done" and first.fbx == [str(out / "a_P1.fbx")], first
    fbx = out / "a_P1.fbx"
    assert fbx.stat().st_size > 1000 and fbx.read_bytes()[:18] == b"Kaydara FBX Binary"
    stamps = (out / "a.npz").stat().st_mtime_ns, fbx.stat().st_mtime_ns
    # --force analyses an up-to-date clip again (clip and FBX rewritten)
    (forced,) = run_batch(items, template(synthetic_models), replace(settings, force=True)).results
    assert forced.status == "done" and forced.frames == 12
    clip_stamp = (out / "a.npz").stat().st_mtime_ns
    assert clip_stamp > stamps[0] and fbx.stat().st_mtime_ns > stamps[1]
    fbx.unlink()  # as if the batch had stopped between the clip and the FBX
    (redone,) = run_batch(items, template(synthetic_models), settings).results
    assert redone.status == "done" and redone.reason == "clip up to date; FBX written"
    assert fbx.is_file() and (out / "a.npz").stat().st_mtime_ns == clip_stamp
    assert not leftovers(out)
