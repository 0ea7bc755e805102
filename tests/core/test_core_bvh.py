"""The BVH writer: write, parse back with a tiny independent parser, compare joint positions."""

from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import smooth_random_motion

from glot_blender.core.bvh import BvhSkeleton, write_bvh, write_smpl_bvh
from glot_blender.core.kinematics import forward_kinematics
from glot_blender.core.rotations import axis_angle_to_matrix
from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, JOINT_NAMES

FPS = 30.0
AXES = {"X": np.array([1.0, 0, 0]), "Y": np.array([0, 1.0, 0]), "Z": np.array([0, 0, 1.0])}


def parse_bvh(text: str):
    """Joints (name, parent, offset, channels), frame time and (F, C) motion data."""
    tokens = text.split()
    joints, stack, i = [], [], 0
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            joints.append({"name": tokens[i + 1], "parent": stack[-1] if stack else -1,
                           "offset": None, "channels": []})
            stack.append(len(joints) - 1)
            i += 2
        elif tok == "End":
            stack.append(None)
            i += 2
        elif tok == "OFFSET":
            if stack[-1] is not None:
                joints[stack[-1]]["offset"] = np.array([float(x) for x in tokens[i + 1:i + 4]])
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            joints[stack[-1]]["channels"] = tokens[i + 2:i + 2 + n]
            i += 2 + n
        elif tok == "}":
            stack.pop()
            i += 1
        else:
            i += 1
    frames = int(tokens[i + 2])
    frame_time = float(tokens[i + 5])
    data = np.array([float(x) for x in tokens[i + 6:]]).reshape(frames, -1)
    return joints, frame_time, data


def bvh_positions(joints, data) -> np.ndarray:
    """(F, J, 3) world joint positions from parsed BVH data (intrinsic channel order)."""
    num_frames = data.shape[0]
    world_rot = [None] * len(joints)
    pos = np.zeros((num_frames, len(joints), 3))
    col = 0
    for j, joint in enumerate(joints):
        rot = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
        trans = np.zeros((num_frames, 3))
        for ch in joint["channels"]:
            values = data[:, col]
            col += 1
            if ch.endswith("position"):
                trans[:, "XYZ".index(ch[0])] = values
            else:
                rot = rot @ axis_angle_to_matrix(np.radians(values)[:, None] * AXES[ch[0]])
        p = joint["parent"]
        if p < 0:
            world_rot[j] = rot
            pos[:, j] = joint["offset"] + trans
        else:
            world_rot[j] = world_rot[p] @ rot
            pos[:, j] = pos[:, p] + np.einsum("fij,j->fi", world_rot[p], joint["offset"])
    return pos


def test_smpl_bvh_round_trip(tmp_path):
    poses, transl = smooth_random_motion(50, FPS, seed=3, amplitude=1.2)
    path = write_smpl_bvh(tmp_path / "clip.bvh", poses, transl, DEFAULT_REST_JOINTS, FPS, scale=100.0)
    joints, frame_time, data = parse_bvh(path.read_text())
    assert frame_time == pytest.approx(1 / FPS)
    assert [j["name"] for j in joints] != list(JOINT_NAMES)  # depth-first, not SMPL index order
    assert sorted(j["name"] for j in joints) == sorted(JOINT_NAMES)
    assert data.shape == (50, 6 + 3 * 23)
    got = bvh_positions(joints, data) / 100.0
    order = [JOINT_NAMES.index(j["name"]) for j in joints]
    cam = forward_kinematics(DEFAULT_REST_JOINTS, poses, transl).joints[:, order]
    want = cam * [1.0, -1.0, -1.0]  # camera -> y up
    assert np.abs(got - want).max() < 1e-5
    assert not list(tmp_path.glob(".*.tmp"))


def test_any_skeleton_and_end_sites(tmp_path):
    skel = BvhSkeleton(("hips", "spine", "head", "leg"), (-1, 0, 1, 0),
                       np.array([[0, 0, 0], [0, 0.3, 0], [0, 0.4, 0], [0.1, -0.5, 0]]))
    rng = np.random.default_rng(0)
    rot = axis_angle_to_matrix(rng.normal(scale=0.7, size=(5, 4, 3)))
    root = rng.normal(size=(5, 3))
    path = write_bvh(tmp_path / "tiny.bvh", skel, rot, root, 0.04)
    text = path.read_text()
    assert text.count("End Site") == 2
    joints, frame_time, data = parse_bvh(text)
    assert frame_time == pytest.approx(0.04)
    got = bvh_positions(joints, data)
    rest = np.array([[0, 0, 0], [0, 0.3, 0], [0, 0.7, 0], [0.1, -0.5, 0]])
    want = forward_kinematics(rest, rot, root, parents=skel.parents).joints
    assert np.abs(got - want).max() < 1e-5


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="one root"):
        BvhSkeleton(("a", "b"), (-1, -1), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="left hand"):
        BvhSkeleton(("a", "left hand"), (-1, 0), np.zeros((2, 3)))
    skel = BvhSkeleton(("a", "b"), (-1, 0), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2-joint"):
        write_bvh(tmp_path / "x.bvh", skel, np.zeros((3, 3, 3, 3)), np.zeros((3, 3)), 0.1)
    assert not (tmp_path / "x.bvh").exists()
