"""``glot-mocap analyze VIDEO -o OUT.npz`` with default options and no model files (so detector
auto = BlazePose with HOG, backend lite), as a real subprocess on videos made from real photos:
every person a hand would count gets a track over >= 90% of the frames, detected (not filled
in) in >= 80% of them; zidane.jpg's two men, seen from the waist up, are marked upper-body.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from glot_blender.core.motion_clip import read_clip

pytest.importorskip("mediapipe")
pytest.importorskip("ai_edge_litert")

REPO = Path(__file__).resolve().parents[2]
FRAMES = 30
ZOOM_PER_FRAME = 0.003
PAN_PX_PER_FRAME = 1.5
#: (photo, part of it used (x0, y0, x1, y1), video size)
VIDEOS = {
    "bus": ((0, 300, 810, 1080), (640, 616)),
    "zidane": ((0, 0, 1280, 720), (960, 540)),
}


def _warp(i: int) -> np.ndarray:
    s = 1.0 + ZOOM_PER_FRAME * i
    return np.array([[s, 0.0, -PAN_PX_PER_FRAME * i], [0.0, s, 0.0]])


def _write_video(scene, name: str, path: Path) -> np.ndarray:
    """The video; returns the people's boxes per frame (F, P, 4) in video pixels."""
    (x0, y0, x1, y1), size = VIDEOS[name]
    region = scene.image[y0:y1, x0:x1]
    h, w = region.shape[:2]
    sx, sy = size[0] / w, size[1] / h
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
    boxes = []
    for i in range(FRAMES):
        warp = _warp(i)
        frame = cv2.warpAffine(region, warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        corners = scene.people.reshape(-1, 2, 2) - [x0, y0]
        moved = corners * warp[0, 0] + warp[:, 2]
        boxes.append((moved * [sx, sy]).reshape(-1, 4))
    writer.release()
    return np.array(boxes)


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    for var in ("GLOT_MODELS_DIR", "XDG_DATA_HOME"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="module", params=sorted(VIDEOS))
def analysed(request, scenes, tmp_path_factory):
    name = request.param
    folder = tmp_path_factory.mktemp(f"video-{name}")
    video = folder / f"{name}.mp4"
    boxes = _write_video(scenes[name], name, video)
    out = folder / f"{name}.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server.cli", "analyze", str(video), "-o", str(out),
         "--no-fbx"],
        check=False, cwd=REPO, env=_env(folder), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return name, boxes, read_clip(out), proc.stdout


def _track_on(clip, person_boxes: np.ndarray):
    """The track whose box centre lies in the person's box in most of its frames."""
    best, best_hits = None, 0
    for t in clip.tracks:
        frames = t.frame_ids - clip.start_frame
        b = person_boxes[frames]
        c = t.bbox[:, :2]
        hits = int(((c[:, 0] >= b[:, 0]) & (c[:, 0] <= b[:, 2]) & (c[:, 1] >= b[:, 1])
                    & (c[:, 1] <= b[:, 3])).sum())
        if hits > best_hits:
            best, best_hits = t, hits
    return best


def test_every_person_is_followed_and_detected(analysed):
    name, boxes, clip, stdout = analysed
    assert "detector blazepose+hog" in stdout, stdout
    tracks = [_track_on(clip, boxes[:, p]) for p in range(boxes.shape[1])]
    assert all(t is not None for t in tracks), stdout
    assert len({t.track_id for t in tracks}) == len(tracks), "two people share one track"
    for t in tracks:
        assert len(t.frame_ids) >= 0.9 * clip.frame_count, (t.track_id, len(t.frame_ids))
        assert (~t.filled).sum() >= 0.8 * clip.frame_count, (t.track_id, int(t.filled.sum()))


def test_no_one_else_is_offered_as_a_person(analysed):
    name, boxes, clip, stdout = analysed
    people = {(_track_on(clip, boxes[:, p]) or clip.tracks[0]).track_id
              for p in range(boxes.shape[1])}
    extra = [t.track_id for t in clip.tracks if t.track_id not in people]
    assert not extra, stdout


def test_close_ups_are_marked_upper_body(analysed):
    name, _boxes, _clip, stdout = analysed
    rows = [line.split() for line in stdout.splitlines() if line.strip()[:1].isdigit()]
    bodies = [r[-1] for r in rows if r[-1] in ("upper", "full")]
    assert bodies, stdout
    expected = "upper" if name == "zidane" else "full"
    assert set(bodies) == {expected}, stdout
