"""Whole jobs through the real server process: synthetic model files, synthetic videos, the
HOG detector. End to end to a motion clip; busy refusal; cancel; a job error; a server
killed mid-job (ServerCrashed with its log, then restart); stdin closed mid-job."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import synthetic_video
from server_testing import RawServer, make_client

from glot_blender import server_errors
from glot_blender.client import ServerClient
from glot_blender.core.motion_clip import read_clip
from glot_blender.server_errors import ServerCrashed
from inference_server.errors import NoPersonError, ServerBusyError
from inference_server.pipeline import STAGES

JOB_TIMEOUT_S = 300.0  # a short video on a shared 2-core CPU, models loaded on first use
CANCEL_LIMIT_S = 2.0
VIDEO_SIZE = (400, 300)
PERSON_HEIGHT = 200.0


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("job_videos")
    short = synthetic_video.walking_video(folder / "walk.avi", num_frames=30, size=VIDEO_SIZE,
                                          person_height=PERSON_HEIGHT)
    long = synthetic_video.walking_video(folder / "long walk.avi", num_frames=200,
                                         size=VIDEO_SIZE, person_height=PERSON_HEIGHT)
    empty = synthetic_video.write_video(folder / "empty.avi", [], num_frames=30,
                                        size=VIDEO_SIZE)
    return {"short": short.path, "long": long.path, "empty": empty.path}


@pytest.fixture(scope="module")
def client(synthetic_models: Path, tmp_path_factory: pytest.TempPathFactory) -> ServerClient:
    log = tmp_path_factory.mktemp("job_server") / "server.log"
    c = make_client(synthetic_models, log)
    c.start(timeout=120)
    yield c
    c.shutdown()


def job_params(video: Path, out: Path, **extra: object) -> dict:
    return {"video": str(video), "output_dir": str(out), "detector": "hog", "backend": "glot",
            "device": "cpu", "min_track_len": 10, **extra}


def wait_progress(c: ServerClient, job: str, timeout: float = JOB_TIMEOUT_S) -> dict:
    """The first progress notification of ``job`` (fails if the job ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in c.poll():
            assert note["method"] != "job/finished", note
            if note["method"] == "progress" and note["params"]["job"] == job:
                return note["params"]
        time.sleep(0.02)
    raise AssertionError("no progress notification")


def test_initialize_lists_ready_backends(client: ServerClient) -> None:
    info = client.server_info
    assert info is not None
    assert info["backends"]["glot"]["ready"] is True, info["backends"]
    assert info["backends"]["glot"]["missing"] == []


def test_analyze_end_to_end(client: ServerClient, videos: dict, tmp_path: Path) -> None:
    notes: list[dict] = []
    job = client.analyze(job_params(videos["short"], tmp_path))
    finished = client.wait_job(job, JOB_TIMEOUT_S, on_notification=notes.append)
    assert finished["status"] == "ok", finished
    result = Path(finished["result"])
    assert result.parent == tmp_path and result.is_file()
    clip = read_clip(result)
    assert clip.frame_count == 30 and len(clip.tracks) == 1
    assert clip.tracks[0].num_frames >= 10
    assert clip.source_name == videos["short"].name
    assert finished["summary"]["people"] == 1

    progress = [n["params"] for n in notes if n["method"] == "progress"]
    assert progress and all(p["job"] == job for p in progress)
    assert {p["stage"] for p in progress} <= set(STAGES)
    for stage in {p["stage"] for p in progress}:
        done = [p["done"] for p in progress if p["stage"] == stage]
        assert done == sorted(done), stage
        totals = {p["total"] for p in progress if p["stage"] == stage}
        if len(done) > 1 and len(totals) == 1 and None not in totals:
            assert done[-1] == totals.pop(), stage  # the last event of a stage is sent
    assert progress[-1]["stage"] == "write"


def test_busy_then_cancel(client: ServerClient, videos: dict, tmp_path: Path) -> None:
    job = client.analyze(job_params(videos["long"], tmp_path))
    with pytest.raises(server_errors.ServerBusyError) as busy:
        client.analyze(job_params(videos["short"], tmp_path))
    assert busy.value.code == ServerBusyError.code and job in busy.value.message
    assert client.request("initialize", {})["protocol_version"] == 1  # still answering
    wait_progress(client, job)
    time.sleep(0.3)
    started = time.monotonic()
    assert client.cancel(job) is True
    finished = client.wait_job(job, 30.0)
    elapsed = time.monotonic() - started
    assert finished["status"] == "cancelled", finished
    assert elapsed < CANCEL_LIMIT_S, f"cancel took {elapsed:.2f} s"
    assert list(tmp_path.iterdir()) == []  # no result file left behind


def test_job_error_is_reported(client: ServerClient, videos: dict, tmp_path: Path) -> None:
    job = client.analyze(job_params(videos["empty"], tmp_path))
    finished = client.wait_job(job, JOB_TIMEOUT_S)
    assert finished["status"] == "error", finished
    assert finished["error"]["code"] == NoPersonError.code
    assert finished["error"]["message"]
    assert list(tmp_path.glob("*.npz")) == []


def test_killed_mid_job_then_restart(client: ServerClient, videos: dict,
                                     tmp_path: Path) -> None:
    job = client.analyze(job_params(videos["long"], tmp_path))
    wait_progress(client, job)
    os.kill(client.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    with pytest.raises(ServerCrashed) as crash:
        while time.monotonic() < deadline:
            client.poll()
            time.sleep(0.05)
    assert crash.value.exit_code == -signal.SIGKILL
    assert f"job {job} started" in crash.value.log_tail
    info = client.restart(timeout=120)
    assert info["backends"]["glot"]["ready"] is True
    with pytest.raises(server_errors.InvalidParamsError):  # the new process answers requests
        client.analyze({"video": str(tmp_path / "missing.avi")})


def test_stdin_closed_mid_job_exits(synthetic_models: Path, videos: dict,
                                    tmp_path: Path) -> None:
    raw = RawServer(synthetic_models, tmp_path / "server.log")
    out = tmp_path / "out"
    try:
        reply = raw.call("analyze", job_params(videos["long"], out))
        assert "result" in reply, reply
        raw.wait_notification("progress", timeout=JOB_TIMEOUT_S)
        assert raw.proc.stdin is not None
        raw.proc.stdin.close()
        assert raw.proc.wait(timeout=30) == 0
    finally:
        raw.close()
    assert list(out.glob("*.npz")) == []
