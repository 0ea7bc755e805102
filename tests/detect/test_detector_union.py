"""``--detector auto`` without YOLOv3 files: BlazePose and HOG together, one person one box (the
tighter one), and HOG alone, with a notice, where BlazePose cannot run."""

from __future__ import annotations

import sys

import numpy as np
import photos
import pytest

from inference_server import detect
from inference_server.blazepose.detector import BlazePoseDetector, PoseDetections
from inference_server.blazepose.union import UnionDetector, union_merge
from inference_server.registry import ModelRegistry

pytest.importorskip("mediapipe")
pytest.importorskip("ai_edge_litert")


def _people(*persons: tuple[float, float, float, float]) -> PoseDetections:
    """Upright people (hip x, hip y, body diameter, score)."""
    p = np.array(persons, float).reshape(-1, 4)
    d = p[:, 2]
    rois = np.column_stack([p[:, 0], p[:, 1], 1.25 * d, d, np.zeros(len(p))])
    boxes = np.column_stack([p[:, 0] - d / 2, p[:, 1] - d / 2, p[:, 0] + d / 2, p[:, 1] + d / 2])
    return PoseDetections(boxes, p[:, 3], rois, np.zeros((len(p), 4, 2)), np.zeros((len(p), 4)))


def test_a_loose_hog_box_on_a_person_gives_way_to_the_tighter_one():
    people = _people((500, 400, 300, 0.8))
    loose = np.array([[350, 100, 650, 700, 0.7]])  # twice the person's height
    out = union_merge(people, loose)
    assert len(out) == 1
    np.testing.assert_allclose(out[0, :4], people.boxes[0])
    assert out[0, 4] == pytest.approx(1 - 0.2 * 0.3)  # both saw them: noisy-or


def test_one_hog_box_around_two_people_gives_two_people():
    people = _people((400, 400, 300, 0.9), (560, 400, 300, 0.9))
    both = np.array([[300, 230, 660, 570, 0.8]])
    out = union_merge(people, both)
    assert len(out) == 2 and set(map(tuple, out[:, :2])) == set(map(tuple, people.boxes[:, :2]))


def test_a_person_only_hog_sees_is_kept_beside_one_blazepose_sees():
    people = _people((400, 400, 300, 0.9))
    walker = np.array([[480, 250, 580, 550, 0.7]])  # someone 0.4 body heights to the right
    out = union_merge(people, walker)
    assert len(out) == 2
    np.testing.assert_allclose(out[1], walker[0])
    assert out[0, 4] == pytest.approx(0.9)


def test_the_union_finds_everyone_on_the_photos(scenes):
    hog = detect.HogDetector()
    union = UnionDetector(BlazePoseDetector(), hog)
    for name in ("bus", "bus-mirror", "zidane"):
        scene = scenes[name]
        result = photos.match(union.detect([scene.image])[0], scene)
        assert result.found.all(), name
        # no false box of its own: at most the loose HOG boxes that stand on no one
        assert result.false <= photos.match(hog.detect([scene.image])[0], scene).false, name


def test_without_mediapipe_auto_falls_back_to_hog_and_says_why(tmp_path, monkeypatch):
    empty = ModelRegistry(tmp_path / "none", env={})
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # as if it were not installed
    choice = detect.auto_choice(empty)
    assert choice.detector == "hog"
    assert "mediapipe" in choice.notice and "pip install" in choice.notice
    assert isinstance(detect.make_detector("auto", empty), detect.HogDetector)
    with pytest.raises(Exception, match="mediapipe"):
        detect.make_detector("blazepose", empty)


def test_models_command_and_initialize_say_which_detector_auto_uses(tmp_path, capsys):
    from inference_server.cli import main
    from inference_server.pipeline import Engine

    assert main(["models", "--models", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Person detector (--detector auto): blazepose+hog" in out
    assert "no YOLOv3 files" in out
    info = Engine(models_dir=tmp_path).describe()
    assert info["auto_detector"]["detector"] == "blazepose+hog"
    assert info["detectors"]["blazepose"] == {"ready": True, "missing": []}


def test_an_analysis_without_mediapipe_runs_hog_and_its_notices_say_why(
        tmp_path, monkeypatch, synthetic_models):
    import synthetic_video as sv

    from inference_server.pipeline import AnalyzeOptions, Engine

    video = sv.walking_video(tmp_path / "walk.mp4", num_frames=12)
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # as if it were not installed
    result = Engine(models_dir=synthetic_models, device="cpu").analyze(AnalyzeOptions(
        video=video.path, output=tmp_path / "walk.npz", backend="glot", device="cpu",
        min_track_len=5, refine=False, world=False))
    assert result.detector == "hog"
    assert any("HOG" in n and "mediapipe" in n for n in result.notices), result.notices
