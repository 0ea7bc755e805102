"""Make the README's pictures with the real pipeline (lite backend + Blender Cycles).

Steps: a short video from a real photograph (``bus.jpg``, two people standing, from the
``ultralytics`` wheel on PyPI, AGPL-3.0), the real analysis (``Engine.analyze`` with the
``lite`` MediaPipe BlazePose backend and OpenCV's HOG detector), then, in Blender (bpy, in a
subprocess of this script): one SMPL rig per person (``create_smpl_armature`` +
``apply_track`` with root placement "camera"), the add-on's stand-in capsule body
(``blender/body.py``, what a rig gets without the SMPL file), a
camera matching the video, one frame rendered with Cycles on the CPU; finally the video
frame and the render side by side (OpenCV).

Run: ``.venv/bin/python tools/make_readme_pictures.py [--out docs/images]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
WHEEL = "ultralytics==8.4.190"
MEMBER = "ultralytics/assets/bus.jpg"
FRAMES = 30
FPS = 30
SIZE = (640, 616)
PHOTO_REGION = (0, 300, 810, 1080)  # x0, y0, x1, y1 of bus.jpg: full bodies
ZOOM_PER_FRAME = 0.002
PAN_PX_PER_FRAME = 1.0
MIN_TRACK_LEN = 10
SHOWN_FRAME = 15  # 0-based video frame rendered
RENDER_SAMPLES = 32
#: only people the pose model saw well are drawn (mean per-frame confidence)
MIN_CONFIDENCE = 0.5
JPEG_QUALITY = 85


def fetch_photo(cache: Path) -> Path:
    """bus.jpg extracted from the ultralytics wheel (downloaded once with pip, no deps)."""
    cache.mkdir(parents=True, exist_ok=True)
    photo = cache / "bus.jpg"
    if photo.is_file():
        return photo
    wheels = list(cache.glob("ultralytics-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "--only-binary=:all:", "-q", "-d", str(cache), WHEEL], check=True)
        wheels = list(cache.glob("ultralytics-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        photo.write_bytes(wheel.read(MEMBER))
    return photo


def write_video(photo: Path, path: Path) -> list[np.ndarray]:
    """A gentle zoom/pan over the photo; returns the frames written (BGR)."""
    import cv2

    x0, y0, x1, y1 = PHOTO_REGION
    region = cv2.imread(str(photo))[y0:y1, x0:x1]
    h, w = region.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    frames = []
    for i in range(FRAMES):
        s = 1.0 + ZOOM_PER_FRAME * i
        warp = np.array([[s, 0.0, -PAN_PX_PER_FRAME * i], [0.0, s, 0.0]])
        frame = cv2.warpAffine(region, warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
        frame = cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA)
        writer.write(frame)
        frames.append(frame)
    writer.release()
    return frames


def analyze(video: Path, clip_path: Path) -> None:
    from inference_server.pipeline import AnalyzeOptions, Engine

    result = Engine(device="cpu").analyze(AnalyzeOptions(
        video=video, output=clip_path, backend="lite", detector="hog", device="cpu",
        min_track_len=MIN_TRACK_LEN))
    print("analysed:", result)


BLENDER_SCRIPT = r'''
import sys
import bpy
import numpy as np
from mathutils import Euler
from glot_blender.core.motion_clip import read_clip
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS
from glot_blender.blender.armature import create_smpl_armature
from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.body import create_stand_in_body

args = sys.argv[sys.argv.index("--") + 1:]
clip_path, out_png, frame, samples, min_conf = args
frame, samples = int(frame), int(samples)
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
clip = read_clip(clip_path)

colours = [(0.95, 0.45, 0.1, 1.0), (0.1, 0.55, 0.95, 1.0), (0.3, 0.85, 0.3, 1.0)]
seen = [t.track_id for t in clip.tracks if float(t.confidence.mean()) >= float(min_conf)]
for n, tid in enumerate(seen):
    arm = create_smpl_armature(DEFAULT_REST_JOINTS, name=f"P{tid}",
                               collection=scene.collection)
    apply_track(arm, clip, tid, ApplyOptions(root_placement="camera"), scene=scene)
    mesh = create_stand_in_body(arm, f"P{tid} body")  # the add-on's body without SMPL file
    mat = mesh.data.materials[0]
    mat.diffuse_color = colours[n % len(colours)]
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = colours[n % len(colours)]
    bsdf.inputs["Roughness"].default_value = 0.5

cam_data = bpy.data.cameras.new("Video camera")
cam_data.sensor_fit = "HORIZONTAL"
cam_data.sensor_width = 36.0
cam_data.lens = clip.focal_px * 36.0 / clip.width
cam = bpy.data.objects.new("Video camera", cam_data)
scene.collection.objects.link(cam)
cam.rotation_euler = Euler((np.pi / 2, 0.0, 0.0), "XYZ")
scene.camera = cam
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
sun.data.energy = 4.0
sun.rotation_euler = Euler((np.radians(60), np.radians(-20), np.radians(-30)), "XYZ")
scene.collection.objects.link(sun)
world = bpy.data.worlds.new("World"); scene.world = world
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6

scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = samples
try:
    scene.cycles.use_denoising = True
    scene.cycles.denoiser = "OPENIMAGEDENOISE"
except (AttributeError, TypeError):
    scene.cycles.use_denoising = False
scene.render.threads_mode = "FIXED"
scene.render.threads = 2
scene.render.resolution_x, scene.render.resolution_y = clip.width, clip.height
scene.render.resolution_percentage = 100
scene.render.film_transparent = True
scene.render.image_settings.file_format = "PNG"
scene.render.image_settings.color_mode = "RGBA"
scene.render.filepath = out_png
scene.frame_set(frame)
bpy.ops.render.render(write_still=True)
# a second view: the same frame from the side (three-quarter), to show the rig is 3D
rigs = [o for o in scene.objects if o.type == "ARMATURE"]
if rigs:
    from mathutils import Vector
    rig = rigs[0]
    pelvis = rig.matrix_world @ rig.pose.bones["pelvis"].head
    side = bpy.data.objects.new("Side camera", bpy.data.cameras.new("Side camera"))
    side.data.lens = 50.0
    scene.collection.objects.link(side)
    side.location = pelvis + Vector((-2.4, -2.8, 0.1))
    aim = side.constraints.new("TRACK_TO")
    aim.target = rig
    aim.subtarget = "pelvis"
    aim.track_axis, aim.up_axis = "TRACK_NEGATIVE_Z", "UP_Y"
    scene.camera = side
    scene.render.film_transparent = False
    scene.render.resolution_x, scene.render.resolution_y = 360, 480
    scene.render.filepath = out_png.replace(".png", "_side.png")
    bpy.ops.render.render(write_still=True)
print("rendered frame", frame, "people", seen, "of", clip.track_ids, "focal", clip.focal_px)
'''


def render(clip_path: Path, png: Path, blender_frame: int, work: Path) -> None:
    script = work / "render_rigs.py"
    script.write_text(BLENDER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="2")
    subprocess.run([sys.executable, str(script), "--", str(clip_path), str(png),
                    str(blender_frame), str(RENDER_SAMPLES), str(MIN_CONFIDENCE)],
                   check=True, env=env, cwd=REPO)


def compose(frame: np.ndarray, render_png: Path, out: Path) -> None:
    """Video frame | render over a dimmed frame, side by side, as JPEG."""
    import cv2

    rgba = cv2.imread(str(render_png), cv2.IMREAD_UNCHANGED)
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    base = frame.astype(np.float32) * 0.55
    over = (rgba[:, :, :3].astype(np.float32) * alpha + base * (1.0 - alpha)).astype(np.uint8)
    gap = np.full((frame.shape[0], 8, 3), 255, np.uint8)
    both = np.concatenate([frame, gap, over], axis=1)
    both = cv2.resize(both, (both.shape[1] * 3 // 4, both.shape[0] * 3 // 4),
                      interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out), both, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "glot-mocap-tests")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photo = fetch_photo(args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frames = write_video(photo, work / "bus.mp4")
        analyze(work / "bus.mp4", work / "bus.npz")
        render(work / "bus.npz", work / "render.png", SHOWN_FRAME + 1, work)
        compose(frames[SHOWN_FRAME], work / "render.png", args.out / "lite-rigs-cycles.jpg")
        side = work / "render_side.png"
        if side.is_file():
            import cv2

            cv2.imwrite(str(args.out / "lite-rig-side.jpg"), cv2.imread(str(side)),
                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    print("wrote", sorted(args.out.glob("lite-rig*.jpg")))


if __name__ == "__main__":
    main()
