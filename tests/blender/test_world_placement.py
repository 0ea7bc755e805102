"""World placement in Blender (motion clip version 2): people on the clip's floor, Set Up
Camera flying the solved camera path so the rigs overlay the footage, FBX with the camera,
re-apply, and version-1 clips applied as before.

The clip: a procedural SMPL walk with exactly planted feet (tests/world/walker.py) filmed by
a camera that pans to follow it, pitched down; its world motion is the walk itself.
"""

from __future__ import annotations

import dataclasses

import bpy
import numpy as np
import pytest
from anim_support import scene_snapshot
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
from world.walker import camera_track, following_camera, walk

from glot_blender.blender.apply_clip import ApplyRequest, apply_motion, reapply_motion
from glot_blender.blender.camera import CameraRequest, setup_camera_as_filmed
from glot_blender.blender.errors import AnimError
from glot_blender.blender.export import export_fbx_per_armature
from glot_blender.core.kinematics import forward_kinematics
from glot_blender.core.motion_clip import CameraTrajectory, MotionClip, read_clip, write_clip

FRAMES = 30
SIZE = (640, 480)
FOCAL = 500.0


def _write_clip(path, world: bool = True):
    walker = walk(FRAMES)
    rot, pos = following_camera(walker, height=1.5, pitch_deg=10.0)
    track = camera_track(walker, rot, pos)
    camera = None
    if world:
        track = dataclasses.replace(track, world_transl=walker.transl,
                                    world_orient=walker.poses[:, 0])
        camera = CameraTrajectory(rot, pos, "turning", 30.0, "floor", 0.01)
    clip = MotionClip(fps=30.0, frame_count=FRAMES, width=SIZE[0], height=SIZE[1],
                      tracks=[track], focal_px=FOCAL, source_name="walk.mp4", camera=camera)
    write_clip(path, clip)
    if not world:  # the same file as a version-1 writer made it
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["schema"] = np.array("glot-motion/1")
        np.savez_compressed(path, **arrays)
    return walker, read_clip(path)


def _bone_heads(rig, names, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([list(rig.matrix_world @ rig.pose.bones[n].head) for n in names])


def test_world_placement_puts_the_walk_on_the_floor_where_it_walked(tmp_path):
    walker, clip = _write_clip(tmp_path / "walk.npz")
    request = ApplyRequest(clip_path=str(tmp_path / "walk.npz"), track_ids=(1,), smoothing=0.0,
                           root_placement="world", body_mesh=False)
    (rig,) = apply_motion(bpy.context.scene, request)
    for k in (0, 11, 29):
        got = _bone_heads(rig, ["pelvis", "left_foot", "right_foot"], k + 1)
        want = walker.joints[k][[0, 10, 11]]
        assert np.abs(got - want).max() < 2e-3, k
    # re-apply with smoothing and foot lock keeps the person in the world
    reapply_motion(bpy.context.scene, dataclasses.replace(request, smoothing=0.5, foot_lock=True))
    got = _bone_heads(rig, ["pelvis"], 15)[0]
    assert np.linalg.norm(got - walker.joints[14, 0]) < 0.08


def test_set_up_camera_flies_the_solved_path_and_the_rig_overlays_the_video(tmp_path):
    walker, clip = _write_clip(tmp_path / "walk.npz")
    scene = bpy.context.scene
    request = ApplyRequest(clip_path=str(tmp_path / "walk.npz"), track_ids=(1,), smoothing=0.0,
                           root_placement="world", body_mesh=False)
    (rig,) = apply_motion(scene, request)
    cam_request = CameraRequest(SIZE[0], SIZE[1], FOCAL, "", 0, 0, trajectory=clip.camera)
    cam, moved = setup_camera_as_filmed(scene, cam_request, request)
    assert moved == [] and cam.animation_data and cam.animation_data.action
    track = clip.tracks[0]
    cam_joints = forward_kinematics(track.rest_joints, track.poses, track.transl).joints
    for k in (0, 9, 20, 29):
        pelvis = Vector(_bone_heads(rig, ["pelvis"], k + 1)[0])
        view = world_to_camera_view(scene, cam, pelvis)
        x, y, z = cam_joints[k, 0]  # where the video shows the pelvis (camera frame)
        u = (FOCAL * x / z + SIZE[0] / 2) / SIZE[0]
        v = 1.0 - (FOCAL * y / z + SIZE[1] / 2) / SIZE[1]
        assert view.x == pytest.approx(u, abs=2e-3) and view.y == pytest.approx(v, abs=2e-3), k
        assert np.allclose(cam.matrix_world.translation, clip.camera.position[k], atol=1e-4)
    # the FBX can carry the camera with its flight
    paths = export_fbx_per_armature([rig], tmp_path / "walk.fbx", "unity", camera=cam)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(paths[0]), anim_offset=0.0)
    cams = [o for o in bpy.data.objects if o.type == "CAMERA"]
    assert len(cams) == 1 and cams[0].animation_data and cams[0].animation_data.action
    for k in (0, 15, 29):
        bpy.context.scene.frame_set(k + 1)
        view = cams[0].matrix_world.to_3x3() @ Vector((0.0, 0.0, -1.0))
        want = clip.camera.rotation[k][:, 2]  # the video camera's forward axis in the world
        assert np.degrees(np.arccos(np.clip(np.dot(view, want), -1, 1))) < 0.5, k


def test_version_1_clip_applies_as_before_and_refuses_world(tmp_path):
    _walker, clip = _write_clip(tmp_path / "old.npz", world=False)
    assert not clip.has_world
    scene = bpy.context.scene
    before = scene_snapshot()
    world = ApplyRequest(clip_path=str(tmp_path / "old.npz"), track_ids=(1,),
                         root_placement="world", body_mesh=False)
    with pytest.raises(AnimError, match="no world motion"):
        apply_motion(scene, world)
    assert scene_snapshot() == before
    (rig,) = apply_motion(scene, dataclasses.replace(world, root_placement="camera",
                                                     smoothing=0.0))
    track = clip.tracks[0]
    cam_joints = forward_kinematics(track.rest_joints, track.poses, track.transl).joints
    pelvis = _bone_heads(rig, ["pelvis"], 5)[0]
    c2b = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert np.abs(pelvis - c2b @ cam_joints[4, 0]).max() < 2e-3
