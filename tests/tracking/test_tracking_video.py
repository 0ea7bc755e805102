"""video.py: streaming decode of real files written with OpenCV, ranges, rotation, bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import synthetic_video as sv

from inference_server import video
from inference_server.errors import InvalidRequestError, VideoError


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, sv.SyntheticVideo]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        ".mp4": sv.walking_video(
            folder / "walk.mp4", 30, size=(320, 240), fps=24.0, person_height=150
        ),
        ".avi": sv.walking_video(
            folder / "walk.avi", 30, size=(320, 240), fps=30.0, person_height=150
        ),
    }


def _sequential(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_open_video_reports_real_fps_size_and_count(clips, suffix):
    info = video.open_video(clips[suffix].path)
    assert info.fps == pytest.approx(clips[suffix].fps)
    assert (info.width, info.height, info.frame_count) == (320, 240, 30)
    assert info.rotation == 0 and info.notices == ()


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_iter_frames_range_and_stride_match_sequential_decode(clips, suffix):
    path = clips[suffix].path
    reference = _sequential(path)
    got = list(video.iter_frames(path, start=3, end=20, stride=4))
    assert [i for i, _ in got] == [3, 7, 11, 15, 19]
    for i, frame in got:
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, reference[i])
    assert [i for i, _ in video.iter_frames(path, start=25)] == list(range(25, 30))
    assert [i for i, _ in video.iter_frames(path, end=1000, stride=10)] == [0, 10, 20]


def test_iter_frames_is_a_stream(clips):
    frames = video.iter_frames(clips[".mp4"].path)
    first_index, _ = next(frames)
    assert first_index == 0
    frames.close()  # releasing early must not fail


def test_far_start_seeks_to_the_exact_frame(tmp_path):
    start = video.SEEK_MIN_FRAMES + 7
    vid = sv.walking_video(tmp_path / "long.mp4", start + 5, size=(160, 120), person_height=80)
    reference = _sequential(vid.path)
    got = list(video.iter_frames(vid.path, start=start, end=start + 3))
    assert [i for i, _ in got] == [start, start + 1, start + 2]
    for i, frame in got:
        np.testing.assert_array_equal(frame, reference[i])


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path, degrees):
    vid = sv.walking_video(tmp_path / "phone.mp4", 3, size=(320, 240), person_height=150)
    upright = _sequential(vid.path)
    sv.set_mp4_rotation(vid.path, degrees)
    info = video.open_video(vid.path)
    assert info.rotation == degrees
    expected_size = (240, 320) if degrees in (90, 270) else (320, 240)
    assert (info.width, info.height) == expected_size
    for i, frame in video.iter_frames(vid.path):
        np.testing.assert_array_equal(frame, cv2.rotate(upright[i], video.ROTATIONS[degrees]))


def test_bad_ranges_are_invalid_requests(clips):
    path = clips[".avi"].path
    for kwargs in ({"start": 30}, {"start": 10, "end": 10}, {"stride": 0}, {"start": -1}):
        with pytest.raises(InvalidRequestError):
            list(video.iter_frames(path, **kwargs))


def test_missing_file_folder_and_not_a_video(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        video.open_video(tmp_path / "nope.mp4")
    with pytest.raises(VideoError, match="folder"):
        video.open_video(tmp_path)
    with pytest.raises(VideoError, match="not a video"):
        video.open_video(sv.write_not_a_video(tmp_path / "text.mp4"))


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_zero_frame_video_is_refused(tmp_path, suffix):
    path = sv.write_zero_frame_video(tmp_path / f"empty{suffix}")
    with pytest.raises(VideoError, match=path.name):
        video.open_video(path)


def test_absurd_sizes_are_refused(tmp_path):
    wide = tmp_path / "wide.avi"
    writer = cv2.VideoWriter(
        str(wide), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (video.MAX_SIDE_PX + 8, 32)
    )
    for _ in range(2):
        writer.write(np.full((32, video.MAX_SIDE_PX + 8, 3), 200, np.uint8))
    writer.release()
    with pytest.raises(VideoError, match="larger than"):
        video.open_video(wide)
    tiny = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(tiny), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (8, 8))
    writer.write(np.zeros((8, 8, 3), np.uint8))
    writer.release()
    with pytest.raises(VideoError, match="tiny"):
        video.open_video(tiny)


def test_truncated_video_names_the_last_good_frame(clips, tmp_path):
    cut = sv.write_truncated_copy(clips[".avi"].path, tmp_path / "cut.avi", 0.5)
    with pytest.raises(VideoError, match=r"stopped after frame (\d+) of 30") as err:
        list(video.iter_frames(cut))
    last_good = int(err.value.message.split("after frame ")[1].split()[0])
    assert 5 < last_good < 25
    notices: list[str] = []
    kept = [i for i, _ in video.iter_frames(cut, keep_partial=True, notices=notices)]
    assert kept == list(range(last_good + 1))
    assert len(notices) == 1 and f"frame {last_good}" in notices[0]


def test_corrupt_tail_is_reported_like_truncation(clips, tmp_path):
    bad = sv.write_corrupt_copy(clips[".avi"].path, tmp_path / "bad.avi", 0.6)
    with pytest.raises(VideoError, match="truncated or damaged"):
        list(video.iter_frames(bad))
    assert len(list(video.iter_frames(bad, keep_partial=True))) > 10


def test_truncated_mp4_without_index_is_not_a_readable_video(clips, tmp_path):
    cut = sv.write_truncated_copy(clips[".mp4"].path, tmp_path / "cut.mp4", 0.7)
    with pytest.raises(VideoError, match="incomplete"):
        list(video.iter_frames(cut, keep_partial=True))


def test_stream_without_frame_count_is_counted(tmp_path):
    """A raw MJPEG stream has no header: OpenCV reports a meaningless count."""
    path = tmp_path / "camera.mjpeg"
    frames = [sv.person_image((320, 240), 150, phase=0.3 * i)[0] for i in range(12)]
    path.write_bytes(b"".join(cv2.imencode(".jpg", f)[1].tobytes() for f in frames))
    info = video.open_video(path)
    assert info.frame_count == 12 and "counted 12 frames" in info.notices[0]
    assert [i for i, _ in video.iter_frames(path, start=2, stride=3)] == [2, 5, 8, 11]
