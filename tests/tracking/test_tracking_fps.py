"""The tracker's limits are in seconds: the same scenes filmed at 10, 25 and 60 fps give the same
identities, gaps are filled up to 1.5 s whatever the frame rate and never beyond, and a track
is not joined to a detection it could not have reached in the time it was hidden."""

from __future__ import annotations

import mot_metrics as mm
import numpy as np
import pytest
import synthetic_video as sv

from inference_server.track import MAX_FILL_GAP_S, Tracker, TrackerConfig

FPS = (10.0, 25.0, 60.0)
DURATION_S = 3.2


def _run(dets: list[np.ndarray], config: TrackerConfig):
    tracker = Tracker(config)
    for f, d in enumerate(dets):
        tracker.update(f, d)
    return tracker.finish()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fps")
    out = {}
    for fps in FPS:
        n = round(DURATION_S * fps)
        out[fps] = (sv.crossing_video(folder / f"cross{fps:g}.mp4", n, fps=fps),
                    sv.occlusion_video(folder / f"occl{fps:g}.mp4", n, fps=fps))
    return out


def test_the_same_scenes_give_the_same_idf1_at_any_frame_rate(scenes):
    scores = {}
    for fps, videos in scenes.items():
        for kind, video in zip(("cross", "occl"), videos):
            per_seed = []
            for seed in (0, 1):
                # the same scene: 2.5 stray boxes per second, whatever the frame rate
                dets = mm.noisy_detections(video.boxes, video.visible, seed=seed,
                                           false_positive_rate=2.5 / fps)
                tracks = _run(dets, TrackerConfig.for_fps(fps, min_track_len=5))
                per_seed.append(mm.id_metrics(video.boxes, tracks).idf1)
            scores[(fps, kind)] = float(np.mean(per_seed))
    for kind in ("cross", "occl"):
        values = [scores[(fps, kind)] for fps in FPS]
        assert min(values) > 0.95, scores
        assert max(values) - min(values) < 0.03, scores


def _walker(fps: float, hidden_s: float) -> list[np.ndarray]:
    """One 60x120 box walking right at 40 px/s for 2 s, hidden for ``hidden_s``, seen 2 s more."""
    seen = round(2.0 * fps)
    hidden = round(hidden_s * fps)
    dets = []
    for f in range(2 * seen + hidden):
        if seen <= f < seen + hidden:
            dets.append(np.zeros((0, 5)))
            continue
        x = 100 + 40.0 * f / fps
        dets.append(np.array([[x, 100, x + 60, 220, 0.9]]))
    return dets


@pytest.mark.parametrize("fps", FPS)
def test_gaps_are_filled_up_to_the_limit_in_seconds_and_never_beyond(fps):
    config = TrackerConfig.for_fps(fps, min_track_len=3)
    (track,) = _run(_walker(fps, 0.8 * MAX_FILL_GAP_S), config)
    assert track.filled.sum() == round(0.8 * MAX_FILL_GAP_S * fps)
    tracks = _run(_walker(fps, 1.4 * MAX_FILL_GAP_S), config)
    assert all(not t.filled.any() for t in tracks)
    longest_hole = max(np.diff(t.frame_ids).max(initial=1) - 1 for t in tracks)
    assert longest_hole == 0 or longest_hole / fps > MAX_FILL_GAP_S


@pytest.mark.parametrize("fps", FPS)
def test_a_join_the_person_could_not_have_made_is_refused(fps):
    """Hidden 0.5 s, then a box 2.5 body heights away appears: too far for the time."""
    seen = round(1.0 * fps)
    hidden = round(0.5 * fps)
    dets = []
    for f in range(2 * seen + hidden):
        if seen <= f < seen + hidden:
            dets.append(np.zeros((0, 5)))
        elif f < seen:
            dets.append(np.array([[100, 100, 160, 220, 0.9]]))
        else:
            dets.append(np.array([[400, 100, 460, 220, 0.9]]))
    tracks = _run(dets, TrackerConfig.for_fps(fps, min_track_len=3))
    assert len(tracks) == 2 and not any(t.filled.any() for t in tracks)
    # a box of twice the height where the person was, right after a short loss: refused too
    dets[seen + hidden:] = [np.array([[70, -20, 190, 220, 0.9]])] * seen
    tracks = _run(dets, TrackerConfig.for_fps(fps, min_track_len=3))
    assert len(tracks) == 2
