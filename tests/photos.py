"""Real photographs for tests and benchmarks, from installable packages (nothing is committed).

``bus.jpg`` (people standing, full body, a street behind them) and ``zidane.jpg`` (two men from
the waist up) ship inside the ``ultralytics`` wheel on PyPI: :func:`wheel_photo` downloads that
wheel once (no dependencies) into a cache folder and extracts the pictures;
:func:`bus_photo_path` skips the calling test with the reason when it cannot.

For the detector tests each photo comes with hand-drawn boxes of the people a person would
count (``PEOPLE``) and of people only partly in the picture (``PARTIAL``: finding them is
allowed, not required). Variants (rotated 90 degrees: people lying; mirrored; a 3 x 3 mosaic at
1/3 size: 18 people each ~1/6 of the frame high; the top of bus.jpg: no one) transform the boxes
with the picture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WHEEL = "ultralytics==8.4.190"
MEMBERS = {"bus": "ultralytics/assets/bus.jpg", "zidane": "ultralytics/assets/zidane.jpg"}

#: hand-drawn [x1, y1, x2, y2] boxes of the people (bus.jpg 810x1080, zidane.jpg 1280x720);
#: zidane's two men are seen from the waist up: their boxes run below the picture, where
#: their hips are
PEOPLE = {
    "bus": ((35.0, 395.0, 255.0, 915.0), (215.0, 400.0, 350.0, 875.0)),
    "zidane": ((100.0, 180.0, 700.0, 1100.0), (740.0, 30.0, 1160.0, 1000.0)),
}
PARTIAL = {
    "bus": ((0.0, 540.0, 75.0, 880.0), (700.0, 370.0, 810.0, 880.0)),
    "zidane": (),
}
#: the part of bus.jpg above everyone's head (rows): a street facade with no person
EMPTY_ROWS = 330


def cache_dir() -> Path:
    root = os.environ.get("GLOT_TEST_CACHE") or Path.home() / ".cache" / "glot-mocap-tests"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheel_photo(name: str) -> tuple[Path | None, str]:
    """(path, "") of bus.jpg or zidane.jpg from the ultralytics wheel, or (None, why not)."""
    cache = cache_dir()
    photo = cache / f"{name}.jpg"
    if photo.is_file():
        return photo, ""
    wheels = list(cache.glob("ultralytics-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-q", "-d", str(cache), WHEEL]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
        wheels = list(cache.glob("ultralytics-*.whl"))
        if done.returncode != 0 or not wheels:
            return None, f"could not fetch {WHEEL} for its sample photos: {done.stderr[-300:]}"
    with zipfile.ZipFile(wheels[0]) as wheel:
        tmp = photo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(wheel.read(MEMBERS[name]))
        os.replace(tmp, photo)
    return photo, ""


def bus_photo_path() -> Path:
    """bus.jpg from the ultralytics wheel (cached); skips the test when it cannot be fetched."""
    import pytest

    photo, why = wheel_photo("bus")
    if photo is None:
        pytest.skip(why)
    return photo


@dataclass
class Scene:
    """A picture (BGR) with its hand-counted people and partly visible people (xyxy boxes)."""

    name: str
    image: np.ndarray
    people: np.ndarray
    partial: np.ndarray


def photo_scene(name: str, path: Path) -> Scene:
    import cv2

    return Scene(name, cv2.imread(str(path)), np.array(PEOPLE[name]).reshape(-1, 4),
                 np.array(PARTIAL[name]).reshape(-1, 4))


def rotated(scene: Scene) -> Scene:
    """Turned 90 degrees clockwise: the people lie on their side."""
    import cv2

    h = scene.image.shape[0]

    def turn(b: np.ndarray) -> np.ndarray:  # (x, y) -> (h - y, x)
        return np.column_stack([h - b[:, 3], b[:, 0], h - b[:, 1], b[:, 2]])

    return Scene(scene.name + "-rot90", cv2.rotate(scene.image, cv2.ROTATE_90_CLOCKWISE),
                 turn(scene.people), turn(scene.partial))


def mirrored(scene: Scene) -> Scene:
    w = scene.image.shape[1]

    def flip(b: np.ndarray) -> np.ndarray:
        return np.column_stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]])

    return Scene(scene.name + "-mirror", np.ascontiguousarray(scene.image[:, ::-1]),
                 flip(scene.people), flip(scene.partial))


def mosaic(scene: Scene, n: int = 3) -> Scene:
    """n x n copies at 1/n size in a picture of the original size (people 1/n as tall)."""
    import cv2

    h, w = scene.image.shape[:2]
    small = cv2.resize(scene.image, (w // n, h // n), interpolation=cv2.INTER_AREA)
    image = np.tile(small, (n, n, 1))
    sx, sy = (w // n) / w, (h // n) / h
    people, partial = [], []
    for r in range(n):
        for c in range(n):
            off = np.array([c * (w // n), r * (h // n)] * 2)
            people.append(scene.people * [sx, sy, sx, sy] + off)
            partial.append(scene.partial * [sx, sy, sx, sy] + off)
    return Scene(f"{scene.name}-mosaic{n}", image, np.concatenate(people),
                 np.concatenate(partial))


def empty_scene(bus: Scene) -> Scene:
    """The facade above the people in bus.jpg, scaled to 1280x720: no person."""
    import cv2

    top = cv2.resize(bus.image[:EMPTY_ROWS], (1280, 720), interpolation=cv2.INTER_LINEAR)
    return Scene("no-person", top, np.zeros((0, 4)), np.zeros((0, 4)))


def scenes(bus_path: Path, zidane_path: Path) -> list[Scene]:
    """Every test picture: both photos, rotated, mirrored, the bus mosaic, and no person."""
    bus, zidane = photo_scene("bus", bus_path), photo_scene("zidane", zidane_path)
    return [bus, rotated(bus), mirrored(bus), mosaic(bus), zidane, rotated(zidane),
            mirrored(zidane), empty_scene(bus)]


@dataclass(frozen=True)
class Match:
    """found: per person whether a detection stood on them; false: detections on no one."""

    found: np.ndarray
    false: int

    @property
    def recall(self) -> float:
        return float(self.found.mean()) if len(self.found) else 1.0


def _inside(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(D, P) whether each point lies in each box."""
    x, y = points[:, None, 0], points[:, None, 1]
    return (x >= boxes[None, :, 0]) & (x <= boxes[None, :, 2]) & (y >= boxes[None, :, 1]) & (
        y <= boxes[None, :, 3])


def match(dets: np.ndarray, scene: Scene) -> Match:
    """One detection per person: a detection stands on a person when its box centre lies in the
    person's box (one to one, nearest centre first); a detection on neither a person nor a
    partly visible one, or a second detection on a person, counts as false."""
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    centres = (dets[:, :2] + dets[:, 2:4]) / 2
    found = np.zeros(len(scene.people), bool)
    on_person = _inside(centres, scene.people)
    on_partial = _inside(centres, scene.partial).any(axis=1)
    person_centres = (scene.people[:, :2] + scene.people[:, 2:]) / 2
    false = 0
    for d in range(len(dets)):
        cands = [p for p in np.flatnonzero(on_person[d]) if not found[p]]
        if cands:
            dist = np.linalg.norm(person_centres[cands] - centres[d], axis=1)
            found[cands[int(np.argmin(dist))]] = True
        elif not (on_partial[d] or on_person[d].any() and False):
            false += 1
    return Match(found, false)


#: the bus.jpg video of the lite tests: the lower part of the photo (full bodies, people
#: ~60% of the frame height, large enough for OpenCV's HOG detector) with a slow zoom and pan
BUS_VIDEO_FRAMES = 30
BUS_VIDEO_SIZE = (640, 616)
BUS_VIDEO_REGION = (0, 300, 810, 1080)  # x0, y0, x1, y1 of bus.jpg
BUS_VIDEO_ZOOM_PER_FRAME = 0.002
BUS_VIDEO_PAN_PX_PER_FRAME = 1.0


def write_bus_video(photo: Path, path: Path, frames: int = BUS_VIDEO_FRAMES) -> Path:
    """``frames`` frames of 640x616 from bus.jpg, written with OpenCV's mp4v codec at 30 fps."""
    import cv2

    x0, y0, x1, y1 = BUS_VIDEO_REGION
    region = cv2.imread(str(photo))[y0:y1, x0:x1]
    h, w = region.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, BUS_VIDEO_SIZE)
    for i in range(frames):
        s = 1.0 + BUS_VIDEO_ZOOM_PER_FRAME * i
        warp = np.array([[s, 0.0, -BUS_VIDEO_PAN_PX_PER_FRAME * i], [0.0, s, 0.0]])
        frame = cv2.warpAffine(region, warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
        writer.write(cv2.resize(frame, BUS_VIDEO_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    return path
