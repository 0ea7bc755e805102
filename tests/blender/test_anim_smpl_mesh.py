"""The SMPL body mesh from an SMPL pickle, skinned to the SMPL rig, follows SMPL skinning."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from anim_support import evaluated_vertices, make_clip, make_track

from glot_blender.blender.apply import ApplyOptions, apply_track
from glot_blender.blender.armature import create_smpl_armature, create_smpl_mesh
from glot_blender.core.kinematics import CAMERA_TO_BLENDER, forward_kinematics
from glot_blender.core.smpl_pickle import load_smpl_pickle
from glot_blender.core.smpl_skeleton import JOINT_NAMES

SKIN_TOL_M = 1e-4  # measured ~6e-6 m (weights under 1e-4 are not written to vertex groups)
SMPL_FILE = "SMPL_NEUTRAL.pkl"


def shaped(model, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    verts = model.v_template + model.shapedirs @ betas
    return verts, model.J_regressor @ verts


def lbs_blender(model, verts, joints, track, row) -> np.ndarray:
    """Linear blend skinning (no pose correctives, like Blender's Armature modifier), camera
    placement, in Blender's world: sum_j w_ij (G_j (v - J_j) + FK_j + T)."""
    fk = forward_kinematics(joints, track.poses[row:row + 1], track.transl[row:row + 1])
    rot, pos = fk.rotations[0], fk.joints[0]
    per_joint = np.einsum("jab,vjb->vja", rot, verts[:, None, :] - joints[None]) + pos[None]
    cam = np.einsum("vj,vja->va", model.weights, per_joint)
    return cam @ CAMERA_TO_BLENDER.T


def test_anim_smpl_mesh_follows_smpl_skinning(synthetic_models: Path) -> None:
    pkl = synthetic_models / SMPL_FILE
    model = load_smpl_pickle(pkl)
    betas = np.random.default_rng(0).normal(0.0, 0.5, 10)
    verts, joints = shaped(model, betas)
    track = make_track(num_frames=3, seed=12)
    track.rest_joints[:] = joints
    arm = create_smpl_armature(joints, name="Body rig")
    body = create_smpl_mesh(arm, pkl, betas)
    assert len(body.data.vertices) == verts.shape[0] and len(body.data.polygons) == model.faces.shape[0]
    assert [g.name for g in body.vertex_groups] == list(JOINT_NAMES)
    assert body.parent == arm and body.modifiers[0].object == arm
    apply_track(arm, make_clip([track]), 1, ApplyOptions(root_placement="camera"))
    for row in range(track.num_frames):
        bpy.context.scene.frame_set(row + 1)
        got = evaluated_vertices(body)
        want = lbs_blender(model, verts, joints, track, row)
        assert np.abs(got - want).max() < SKIN_TOL_M
