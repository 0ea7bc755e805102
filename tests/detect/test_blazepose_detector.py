"""BlazePose's person detector from the mediapipe wheel: decoding checked against MediaPipe's own
pose graph, and people found on real photographs (hand-counted in tests/photos.py)."""

from __future__ import annotations

import numpy as np
import photos
import pytest

from inference_server.blazepose import decode
from inference_server.blazepose.detector import BlazePoseConfig, BlazePoseDetector, frame_views
from inference_server.blazepose.model import TfliteModel, detector_path
from inference_server.errors import ModelFileError

pytest.importorskip("mediapipe")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def detector() -> BlazePoseDetector:
    return BlazePoseDetector()


def test_anchors_follow_the_ssd_layout():
    a = decode.anchors()
    assert a.shape == (2254, 2) and decode.anchor_groups() == [1568, 392, 294]
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1], a[0])  # two anchors per cell on the stride-8 map
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])
    np.testing.assert_allclose(a[-6:], np.tile([6.5 / 7, 6.5 / 7], (6, 1)))


def test_a_batch_gives_what_each_image_gives_alone():
    model = TfliteModel(detector_path())
    x = np.random.default_rng(0).uniform(-1, 1, (3, 224, 224, 3)).astype(np.float32)
    boxes, scores = (decode.unfold_batch(t, 3) for t in model.run(x))
    for i in range(3):
        one_boxes, one_scores = (decode.unfold_batch(t, 1) for t in model.run(x[i:i + 1]))
        np.testing.assert_allclose(boxes[i], one_boxes[0], atol=1e-4)
        np.testing.assert_allclose(scores[i], one_scores[0], atol=1e-4)


def test_weighted_nms_averages_by_score_and_keeps_the_top_score():
    dets = decode.RawDetections(
        np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [5, 5, 6, 6]], float),
        np.stack([np.full((4, 2), v) for v in (0.0, 1.0, 9.0)]),
        np.array([0.9, 0.6, 0.8]),
    )
    out = decode.weighted_nms(dets, 0.3)
    np.testing.assert_allclose(out.scores, [0.9, 0.8])
    np.testing.assert_allclose(out.boxes[0], [0.04, 0, 1.04, 1])
    np.testing.assert_allclose(out.keypoints[0], np.full((4, 2), 0.4))


def _mediapipe_first_person(rgb: np.ndarray):
    """MediaPipe's own pose graph (legacy solutions.pose, static image): its first detection
    and the landmark ROI it derives from it, in pixels."""
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import pose

    graph = SolutionBase(
        binary_graph_path=pose._BINARYPB_FILE_PATH,
        side_inputs={"model_complexity": 1, "smooth_landmarks": False,
                     "enable_segmentation": False, "smooth_segmentation": False,
                     "use_prev_landmarks": False},
        outputs=["pose_detection", "pose_rect_from_detection"],
    )
    with graph:
        result = graph.process(rgb)
    h, w = rgb.shape[:2]
    det = result.pose_detection
    kps = np.array([(k.x * w, k.y * h) for k in det.location_data.relative_keypoints])
    r = result.pose_rect_from_detection
    return kps, det.score[0], (r.x_center * w, r.y_center * h, r.width * w, r.rotation)


@pytest.mark.parametrize("name", ["bus", "bus-mirror", "bus-rot90"])
def test_decoding_matches_mediapipes_pose_graph(scenes, name):
    import cv2

    image = scenes[name].image
    kps, score, (cx, cy, side, rotation) = _mediapipe_first_person(
        cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    ours = BlazePoseDetector(BlazePoseConfig(tiles=False)).detect_people([image])[0]
    assert len(ours.scores) >= 1
    np.testing.assert_allclose(ours.scores[0], score, atol=1e-3)
    np.testing.assert_allclose(ours.keypoints[0], kps, atol=2.0)
    np.testing.assert_allclose(ours.rois[0, :3], [cx, cy, side], atol=2.0)
    assert abs(decode.normalize_radians(ours.rois[0, 4] - rotation)) < 0.01
    # the tracker's box: a square on the hip centre, the body circle's diameter
    box = ours.boxes[0]
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])
    assert box[2] - box[0] == pytest.approx(side / decode.ROI_SCALE, rel=1e-3)


@pytest.mark.parametrize(
    "name", ["bus", "bus-rot90", "bus-mirror", "zidane", "zidane-rot90", "zidane-mirror"])
def test_every_person_in_the_photo_is_found_and_no_one_else(scenes, detector, name):
    scene = scenes[name]
    dets = detector.detect([scene.image])[0]
    result = photos.match(dets, scene)
    assert result.found.all(), f"{name}: found {result.found.astype(int)} of the people"
    assert result.false == 0, f"{name}: {result.false} detection(s) on no one"


def test_lying_people_get_a_turned_roi(scenes, detector):
    people = detector.detect_people([scenes["bus-rot90"].image])[0]
    # turned 90 degrees clockwise: the body axis points along +x; MediaPipe's rotation ~ +90
    assert np.all(np.abs(np.degrees(people.rois[:, 4]) - 90) < 20)


def test_small_people_are_found_in_tiles(scenes, detector):
    """The 3x3 mosaic of bus.jpg: 18 people ~1/6 of the frame high. The whole frame alone finds
    no one; the tiles find the man in the light coat in all nine copies (the man in black next
    to him, darker and turned, is missed at this size: a known limit, docs/detection-tracking.md).
    """
    scene = scenes["bus-mosaic3"]
    whole = BlazePoseDetector(BlazePoseConfig(tiles=False)).detect([scene.image])[0]
    assert photos.match(whole, scene).found.sum() == 0
    result = photos.match(detector.detect([scene.image])[0], scene)
    assert result.found[0::2].all() and result.false == 0


def test_a_photo_without_people_gives_none(scenes, detector):
    assert len(detector.detect([scenes["no-person"].image])[0]) == 0


def test_tiles_cover_the_frame_with_overlap():
    views = frame_views(720, 1280, BlazePoseConfig())
    assert tuple(views[0]) == (0.0, -280.0, 1280.0)  # letterboxed whole frame
    tiles = views[views[:, 2] == 360]
    assert tiles[:, 0].min() == 0 and (tiles[:, 0] + 360).max() == 1280
    assert tiles[:, 1].min() == 0 and (tiles[:, 1] + 360).max() == 720
    small = frame_views(300, 400, BlazePoseConfig())
    assert len(small) == 1  # too small to tile


def test_a_damaged_model_file_is_one_sentence(tmp_path):
    bad = tmp_path / "pose_detection.tflite"
    bad.write_bytes(detector_path().read_bytes()[:5000])
    with pytest.raises(ModelFileError) as err:
        BlazePoseDetector(model_file=bad)
    message = str(err.value)
    assert "damaged" in message and "pose_detection.tflite" in message and "\n" not in message
