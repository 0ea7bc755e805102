"""The landmark model run directly on the detector's ROI: checked against MediaPipe's own pose
graph, followed through a video with one detection per person, junk tracks left out and
upper-body tracks marked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference_server.backends.lite_backend import LiteBackend, upper_body_only
from inference_server.blazepose.detector import BlazePoseConfig, BlazePoseDetector
from inference_server.blazepose.landmarks import LandmarkModel
from inference_server.blazepose.video import REDETECT_EVERY, PoseVideoSession
from inference_server.errors import NoPersonError
from inference_server.lite import landmarks as lm
from inference_server.stages.check import check_people
from inference_server.stages.context import JobContext
from inference_server.stages.people import PersonTrack

pytest.importorskip("mediapipe")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def lite() -> LiteBackend:
    return LiteBackend()


def _mediapipe_landmarks(rgb: np.ndarray):
    """MediaPipe's pose graph (legacy solutions.pose, static image, no smoothing): the first
    person's image landmarks (pixels), visibility and world landmarks."""
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import pose

    graph = SolutionBase(
        binary_graph_path=pose._BINARYPB_FILE_PATH,
        side_inputs={"model_complexity": 1, "smooth_landmarks": False,
                     "enable_segmentation": False, "smooth_segmentation": False,
                     "use_prev_landmarks": False},
        outputs=["pose_landmarks", "pose_world_landmarks"],
    )
    with graph:
        r = graph.process(rgb)
    h, w = rgb.shape[:2]
    image = np.array([(p.x * w, p.y * h) for p in r.pose_landmarks.landmark])
    vis = np.array([p.visibility for p in r.pose_landmarks.landmark])
    world = np.array([(p.x, p.y, p.z) for p in r.pose_world_landmarks.landmark])
    return image, vis, world


@pytest.mark.parametrize("name", ["bus", "bus-mirror", "bus-rot90"])
def test_landmarks_on_the_detectors_roi_match_mediapipes_pose_graph(scenes, name):
    image = scenes[name].image
    ref_xy, ref_vis, ref_world = _mediapipe_landmarks(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    people = BlazePoseDetector(BlazePoseConfig(tiles=False)).detect_people([image])[0]
    ours = LandmarkModel().run(image, people.rois[:1])
    err = np.linalg.norm(ours.image[0, :, :2] - ref_xy, axis=1)
    height = np.ptp(ref_xy[:, 1]) if name != "bus-rot90" else np.ptp(ref_xy[:, 0])
    assert err.mean() < 0.005 * height and err.max() < 0.015 * height, err
    np.testing.assert_allclose(ours.visibility[0], ref_vis, atol=0.02)
    np.testing.assert_allclose(ours.world[0], ref_world, atol=0.005)
    assert ours.found[0]


def _still_video(image: np.ndarray, n: int) -> list[np.ndarray]:
    """A slow pan over a photo, 1 px per frame."""
    h, w = image.shape[:2]
    return [cv2.warpAffine(image, np.float64([[1, 0, -i], [0, 1, 0]]), (w, h),
                           borderMode=cv2.BORDER_REPLICATE) for i in range(n)]


def test_a_followed_person_is_detected_once_then_tracked_from_landmarks(scenes, lite):
    frames = _still_video(scenes["bus"].image, REDETECT_EVERY + 5)
    people = lite._detector.detect_people(frames[:1])[0]
    boxes = np.array([[*(b[:2] + b[2:]) / 2, b[2] - b[0], b[3] - b[1]] for b in people.boxes])
    session = lite.frame_session()
    detected, hips = [], []
    for i, frame in enumerate(frames):
        moved = boxes - [i, 0, 0, 0]
        result = session.run(frame, moved, list(range(len(boxes))))
        assert result.landmarks.found.all()
        detected.append(result.detected)
        hip_xy = result.landmarks.image[:, [lm.LEFT_HIP, lm.RIGHT_HIP], :2].mean(axis=1)
        hips.append(hip_xy + [i, 0])
    detected = np.array(detected)
    # detection on the first frame and again after REDETECT_EVERY followed frames, not between
    assert detected[0].all() and not detected[1:REDETECT_EVERY + 1].any()
    assert detected[REDETECT_EVERY + 1].all()
    # following the landmarks keeps them on the (panned) person: steady hips in photo coords
    drift = np.linalg.norm(np.array(hips) - hips[0], axis=2)
    assert drift.max() < 10.0, drift.max()


def _person(track_id: int, features: np.ndarray, box=(0.0, 0.0, 1.0, 1.0)) -> PersonTrack:
    n = len(features)
    return PersonTrack(track_id, np.arange(n), np.tile(np.float32(box), (n, 1)),
                       np.zeros(n, bool), np.ones(n, np.float32), features=features)


def _features(lite: LiteBackend, image: np.ndarray, box, n: int = 3) -> np.ndarray:
    session = lite.frame_session()
    return np.concatenate([lite.encode_frame(session, image, np.array([box]), [1])
                           for _ in range(n)])


def test_boxes_on_no_body_are_left_out_with_a_notice(scenes, lite):
    bus = scenes["bus"].image
    box_real, box_facade = (145.0, 655.0, 520.0, 520.0), (600.0, 150.0, 200.0, 200.0)
    real = _features(lite, bus, box_real)
    facade = _features(lite, bus, box_facade)  # windows and balconies
    job = JobContext(None, None)
    kept = check_people([_person(1, real, box_real), _person(2, facade, box_facade)], lite, job)
    assert [p.track_id for p in kept] == [1] and not kept[0].upper_body
    assert any("left out" in n and "frames 0-2" in n for n in job.notices), job.notices
    with pytest.raises(NoPersonError, match="recognised a person in none"):
        check_people([_person(2, facade, box_facade)], lite, JobContext(None, None))


def test_upper_body_people_are_marked_and_their_legs_left_at_rest(scenes, lite):
    zidane = scenes["zidane"].image
    people = lite._detector.detect_people([zidane])[0]
    assert len(people.scores) == 0  # the whole frame alone sees nobody: use the tiled detector
    people = BlazePoseDetector().detect_people([zidane])[0]
    job = JobContext(None, None)
    tracks = []
    for k, b in enumerate(people.boxes):
        box = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1])
        tracks.append(_person(k + 1, _features(lite, zidane, box), box))
    kept = check_people(tracks, lite, job)
    assert len(kept) == 2 and all(p.upper_body for p in kept), job.notices
    assert sum("waist up" in n for n in job.notices) == 2
    from inference_server.backends.base import TrackInput

    feats = kept[0].features
    assert upper_body_only(feats)
    n = len(feats)
    box = np.tile([600.0, 600.0, 900.0, 900.0], (n, 1))
    pose = lite.solve_track(TrackInput(1, np.arange(n), box, feats, np.zeros(n, bool), np.ones(n)))
    legs = pose.body_pose.reshape(n, 23, 3)[:, [lm.L_HIP - 1, lm.R_HIP - 1, lm.L_KNEE - 1,
                                                lm.R_KNEE - 1]]
    assert np.abs(legs).max() == 0.0  # at rest: not invented
    assert np.abs(pose.body_pose).max() > 0.1  # the upper body is animated


def test_a_second_box_on_one_body_is_left_out(scenes, lite):
    """A box on the man's legs beside the box on the whole man: whatever the pose model makes of
    the legs, one person comes out, the whole man."""
    bus = scenes["bus"].image
    n = 3
    box_whole, box_legs = (145.0, 655.0, 520.0, 520.0), (150.0, 800.0, 260.0, 260.0)
    whole = _person(1, _features(lite, bus, box_whole, n), box_whole)
    legs = _person(2, _features(lite, bus, box_legs, n), box_legs)
    job = JobContext(None, None)
    kept = check_people([whole, legs], lite, job)
    assert [p.track_id for p in kept] == [1], job.notices
    assert any("left out" in note for note in job.notices)
