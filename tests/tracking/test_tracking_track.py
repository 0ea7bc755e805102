"""track.py: identity through crossings and occlusions (IDF1, ID switches against ground
truth), gap filling, min-length filtering, detect-every-k, the demo's SORT behaviour, and the
real HOG detector end to end on a synthetic video."""

from __future__ import annotations

import mot_metrics as mm
import numpy as np
import pytest
import reference_sort
import synthetic_video as sv

from inference_server import detect, video
from inference_server.track import (
    KalmanBoxFilter,
    Track,
    Tracker,
    TrackerConfig,
    is_detection_step,
)


def run_tracker(dets: list[np.ndarray], config: TrackerConfig, every: int = 1) -> list[Track]:
    tracker = Tracker(config)
    for f, d in enumerate(dets):
        tracker.update(f, d if is_detection_step(f, len(dets), every) else None)
    return tracker.finish()


@pytest.fixture(scope="module")
def crossing(tmp_path_factory) -> sv.SyntheticVideo:
    return sv.crossing_video(tmp_path_factory.mktemp("cross") / "cross.mp4", 80)


@pytest.fixture(scope="module")
def occlusion(tmp_path_factory) -> sv.SyntheticVideo:
    return sv.occlusion_video(tmp_path_factory.mktemp("occl") / "occl.mp4", 80)


def _box_track(start: int, n: int, x0: float = 100.0, vx: float = 4.0) -> dict[int, np.ndarray]:
    """GT of one 60x120 box moving right from frame ``start`` for ``n`` frames (of 100)."""
    boxes = np.full((100, 4), np.nan)
    for f in range(start, start + n):
        x = x0 + vx * (f - start)
        boxes[f] = [x, 100, x + 60, 220]
    return boxes


def _dets_from(gt: dict[int, np.ndarray], frames: int = 100) -> list[np.ndarray]:
    return [
        np.array([[*b[f], 0.9] for b in gt.values() if not np.isnan(b[f, 0])]).reshape(-1, 5)
        for f in range(frames)
    ]


# --------------------------------------------------------------------------- identity


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_kept_through_a_crossing(crossing, seed):
    dets = mm.noisy_detections(crossing.boxes, crossing.visible, seed=seed, false_positive_rate=0.1)
    ours = run_tracker(dets, TrackerConfig())
    m = mm.id_metrics(crossing.boxes, ours)
    assert [t.track_id for t in ours] == [1, 2]
    assert m.id_switches == 0 and m.idf1 > 0.97 and m.recall > 0.97
    # the demo's SORT loses the hidden person at the crossing and starts a new id
    demo = mm.id_metrics(crossing.boxes, run_tracker(dets, TrackerConfig.demo()))
    assert demo.idf1 < m.idf1 - 0.1


def test_occlusion_gap_is_bridged_and_filled(occlusion):
    dets = mm.noisy_detections(occlusion.boxes, occlusion.visible, seed=0, drop=0.0)
    unseen = np.array([len(d) == 0 for d in dets])
    assert unseen.sum() > 15  # the pillar hides the person for a long stretch
    (track,) = run_tracker(dets, TrackerConfig())
    np.testing.assert_array_equal(track.frame_ids, np.arange(80))
    np.testing.assert_array_equal(track.filled, unseen)
    np.testing.assert_array_equal(track.observed, ~unseen)
    assert np.all(track.det_score[unseen] == 0) and np.all(track.det_score[~unseen] > 0.7)
    # interpolated boxes follow the hidden person (it walks at constant speed)
    gt_sq = mm.square_xyxy(occlusion.boxes[1][unseen])
    iou = np.diag(mm.iou_matrix(gt_sq, mm.cxcywh_to_xyxy(track.bboxes[unseen])))
    assert iou.min() > 0.6
    assert mm.id_metrics(occlusion.boxes, [track]).idf1 == pytest.approx(1.0)
    # the demo (max_age 1) breaks the person in pieces and fills nothing
    demo = run_tracker(dets, TrackerConfig.demo())
    assert sum(len(t) for t in demo) <= (~unseen).sum() and not any(t.filled.any() for t in demo)
    assert mm.id_metrics(occlusion.boxes, demo).idf1 < 0.8


def test_gap_longer_than_max_fill_gap_stays_a_hole(occlusion):
    dets = mm.noisy_detections(occlusion.boxes, occlusion.visible, seed=0, drop=0.0)
    unseen = np.array([len(d) == 0 for d in dets])
    (track,) = run_tracker(dets, TrackerConfig(max_fill_gap=5))
    np.testing.assert_array_equal(track.frame_ids, np.flatnonzero(~unseen))
    assert not track.filled.any()


def test_gap_longer_than_max_age_gives_a_new_track():
    gt = {1: _box_track(0, 30)}
    gt[1][30:70] = np.nan
    gt[1][70:100] = _box_track(70, 30, x0=100 + 4 * 70)[70:100]
    tracks = run_tracker(_dets_from(gt), TrackerConfig(max_age=20))
    assert [(t.track_id, t.frame_ids[0], len(t)) for t in tracks] == [(1, 0, 30), (2, 70, 30)]


def test_relink_refuses_a_far_or_different_size_reappearance():
    gt = {1: _box_track(0, 30)}
    far = _box_track(40, 30, x0=560)  # reappears 10 frames later, far beyond the gate
    dets = _dets_from({1: gt[1], 2: far})
    tracks = run_tracker(dets, TrackerConfig())
    assert [(t.frame_ids[0], len(t)) for t in tracks] == [(0, 30), (40, 30)]
    small = _box_track(40, 30, x0=100 + 4 * 40)
    small[:, 2:] = small[:, :2] + (small[:, 2:] - small[:, :2]) / 2  # half as tall
    tracks = run_tracker(_dets_from({1: gt[1], 2: small}), TrackerConfig())
    assert len(tracks) == 2


# --------------------------------------------------------------------------- filtering, ids


def test_min_track_len_drops_short_tracks():
    gt = {1: _box_track(0, 100), 2: _box_track(10, 20, x0=400)}
    dets = _dets_from(gt)
    assert [len(t) for t in run_tracker(dets, TrackerConfig())] == [100]
    assert [len(t) for t in run_tracker(dets, TrackerConfig(min_track_len=15))] == [100, 20]


def test_ids_are_consecutive_in_order_of_appearance():
    gt = {1: _box_track(20, 60, x0=50), 2: _box_track(5, 80, x0=400, vx=-2)}
    dets = _dets_from(gt)
    dets[0] = np.array([[300, 300, 330, 360, 0.8]])  # a one-frame false positive first
    tracks = run_tracker(dets, TrackerConfig())
    assert [(t.track_id, int(t.frame_ids[0])) for t in tracks] == [(1, 5), (2, 20)]


def test_boxes_are_the_demos_squares():
    (track,) = run_tracker(_dets_from({1: _box_track(0, 40)}), TrackerConfig())
    assert track.bboxes.shape == (40, 4)
    np.testing.assert_array_equal(track.bboxes[:, 2], track.bboxes[:, 3])
    np.testing.assert_allclose(track.bboxes[-1], [100 + 4 * 39 + 30, 160, 120, 120], atol=1.0)


def test_frames_must_increase():
    tracker = Tracker()
    tracker.update(3, np.zeros((0, 5)))
    with pytest.raises(ValueError, match="frame 3"):
        tracker.update(3, np.zeros((0, 5)))


# --------------------------------------------------------------------------- SORT core


def test_demo_mode_emits_after_three_hits_and_ours_backfills():
    # someone else is seen from frame 0, so the demo's "first 3 frames" rule does not apply
    dets = _dets_from({1: _box_track(0, 100, x0=0, vx=1), 2: _box_track(10, 40, x0=300)})
    demo = run_tracker(dets, TrackerConfig.demo(min_track_len=1))[1]
    ours = run_tracker(dets, TrackerConfig())[1]
    # SORT: created at frame 10 (hit_streak 0), emitted once hit_streak reaches 3
    assert demo.frame_ids[0] == 13 and len(demo) == 37
    assert ours.frame_ids[0] == 10 and len(ours) == 40
    np.testing.assert_allclose(ours.bboxes[3:], demo.bboxes)


def test_emitted_box_is_the_kalman_state_after_update():
    gt = _box_track(0, 30)
    noisy = _dets_from({1: gt})
    rng = np.random.default_rng(0)
    for d in noisy[:30]:
        d[:, :4] += rng.normal(0, 3.0, 4)
    (track,) = run_tracker(noisy, TrackerConfig(min_track_len=1))
    kf = KalmanBoxFilter(noisy[0][0, :4])
    expected = [kf.box()]
    for d in noisy[1:30]:
        kf.predict()
        kf.update(d[0, :4])
        expected.append(kf.box())
    want = mm.xyxy_to_square_cxcywh(np.array(expected))
    np.testing.assert_allclose(track.bboxes, want)
    raw = mm.xyxy_to_square_cxcywh(np.array([d[0, :4] for d in noisy[:30]]))
    assert not np.allclose(track.bboxes, raw)  # smoothed, not the raw detections


def test_kalman_filter_learns_constant_velocity():
    gt = _box_track(0, 30)
    kf = KalmanBoxFilter(gt[0])
    for f in range(1, 20):
        kf.predict()
        kf.update(gt[f])
    np.testing.assert_allclose(kf.predict(), gt[20], atol=0.5)


# --------------------------------------------------------------------------- detect every k


@pytest.mark.parametrize("every", [3, 5])
def test_detect_every_k_interpolates_between_detections(crossing, every):
    dets = mm.noisy_detections(crossing.boxes, crossing.visible, seed=0, drop=0.0)
    tracks = run_tracker(dets, TrackerConfig(), every=every)
    m = mm.id_metrics(crossing.boxes, tracks)
    assert len(tracks) == 2 and m.id_switches == 0 and m.idf1 > 0.95
    for t in tracks:
        np.testing.assert_array_equal(t.frame_ids, np.arange(80))
        steps = np.array([is_detection_step(f, 80, every) for f in range(80)])
        assert not t.observed[~steps].any()  # observed only where the detector ran


def test_is_detection_step():
    assert [s for s in range(12) if is_detection_step(s, 12, 5)] == [0, 5, 10, 11]
    assert all(is_detection_step(s, 7, 1) for s in range(7))


# --------------------------------------------------------------------------- end to end


def test_real_hog_detector_tracks_the_crossing_video(tmp_path):
    vid = sv.crossing_video(tmp_path / "cross.avi", 40)
    hog = detect.HogDetector()
    tracker = Tracker(TrackerConfig(min_track_len=20))
    for f, frame in video.iter_frames(vid.path):
        tracker.update(f, hog.detect([frame])[0])
    tracks = tracker.finish()
    m = mm.id_metrics(vid.boxes, tracks)
    assert len(tracks) == 2 and m.id_switches == 0
    assert m.idf1 > 0.9 and m.recall > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_config_matches_a_reference_of_the_demo_tracker(crossing, occlusion, seed):
    for vid in (crossing, occlusion):
        dets = mm.noisy_detections(
            vid.boxes, vid.visible, seed=seed, drop=0.1, false_positive_rate=0.2
        )
        want = reference_sort.demo_tracks(dets)
        got = run_tracker(dets, TrackerConfig.demo())
        # same tracks; ids differ only in numbering (the demo keeps SORT's internal ids)
        assert len(got) == len(want) > 0
        want.sort(key=lambda t: t["frames"][0])
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.frame_ids, w["frames"])
            np.testing.assert_allclose(g.bboxes, w["bbox"], rtol=1e-9, atol=1e-6)


def test_strided_frame_indices_interpolate_in_frame_time():
    """With stride 2 the tracker sees frames 0, 2, 4, ...; a gap is filled at those frames
    with weights from the frame indices."""
    gt = _box_track(0, 100)
    tracker = Tracker(TrackerConfig(min_track_len=1))
    for f in range(0, 100, 2):
        dets = np.array([[*gt[f], 0.9]]) if not 40 <= f < 60 else np.zeros((0, 5))
        live = tracker.update(f, dets)
        if f == 10:
            assert live.shape == (1, 5) and live[0, 4] == 0  # provisional id
    (track,) = tracker.finish()
    np.testing.assert_array_equal(track.frame_ids, np.arange(0, 100, 2))
    hidden = (track.frame_ids >= 40) & (track.frame_ids < 60)
    np.testing.assert_array_equal(track.filled, hidden)
    want = mm.xyxy_to_square_cxcywh(gt[track.frame_ids[hidden]])
    np.testing.assert_allclose(track.bboxes[hidden], want, atol=1.5)
