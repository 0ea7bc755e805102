"""Helpers of the batch tests (importable by name, unlike conftest.py)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import synthetic_video

from inference_server.pipeline import AnalyzeOptions

REPO = Path(__file__).resolve().parents[2]
#: small frames and few of them: every analysis takes seconds on 2 shared cores
VIDEO_SIZE = (320, 240)
PERSON_HEIGHT = 150.0
MIN_TRACK_LEN = 5
#: the analysis flags every batch test uses: glot on the synthetic model files, HOG, and
#: neither the temporal solver nor world grounding (the batch does not depend on them; they
#: would double each analysis's time)
CLI_FLAGS = ("--backend", "glot", "--detector", "hog", "--min-track-len", str(MIN_TRACK_LEN),
             "--no-refine", "--no-world", "--no-fbx")


def template(models: Path) -> AnalyzeOptions:
    """The same options as CLI_FLAGS, for run_batch and Engine.analyze."""
    return AnalyzeOptions(video="", output="x.npz", backend="glot", detector="hog",
                          min_track_len=MIN_TRACK_LEN, models_dir=models, device="cpu",
                          refine=False, world=False)


def walk(path: Path, frames: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_video.walking_video(path, num_frames=frames, size=VIDEO_SIZE,
                                  person_height=PERSON_HEIGHT, seed=seed)
    return path


@contextmanager
def local_ray(**init_args) -> Iterator[None]:
    """A real local Ray for a test module, in a private temp folder (never /tmp/ray)."""
    import ray

    private = tempfile.mkdtemp(prefix="glot-ray-test-")  # Ray makes its own folder 0777
    try:
        ray.init(include_dashboard=False, _temp_dir=os.path.join(private, "ray"),
                 log_to_driver=False, configure_logging=True, logging_level=logging.ERROR,
                 **init_args)
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(private, ignore_errors=True)


def cli(*args: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("GLOT_MODELS_DIR", None)
    return subprocess.run([sys.executable, "-m", "inference_server.cli", *args], check=False,
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          **popen)


def leftovers(folder: Path) -> list[Path]:
    """Hidden temp files a write could leave behind (clip or report)."""
    return sorted(p for p in folder.rglob(".*") if p.is_file())
