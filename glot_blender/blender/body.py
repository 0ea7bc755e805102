"""A light stand-in body for an SMPL rig when the licensed SMPL model file is not there.

Capsules (a tube along each bone, a ball at each joint) sized from the person's rest joints,
each part weighted fully to its bone, so the body follows the motion, renders in any engine
and exports to FBX like the SMPL mesh. Radii are those of an average adult scaled by the
rig's height; the head is a ball around the head bone.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.smpl_skeleton import JOINT_NAMES, PARENTS
from .armature import create_skinned_mesh

#: height the radii below are given for, metres
REFERENCE_HEIGHT_M = 1.7
#: radius (m, at the reference height) of the tube from each joint to its children
SEGMENT_RADIUS_M: dict[str, float] = {
    "pelvis": 0.085, "spine1": 0.09, "spine2": 0.095, "spine3": 0.09, "neck": 0.05,
    "left_hip": 0.075, "right_hip": 0.075, "left_knee": 0.055, "right_knee": 0.055,
    "left_ankle": 0.04, "right_ankle": 0.04, "left_foot": 0.035, "right_foot": 0.035,
    "left_collar": 0.05, "right_collar": 0.05, "left_shoulder": 0.05, "right_shoulder": 0.05,
    "left_elbow": 0.04, "right_elbow": 0.04, "left_wrist": 0.035, "right_wrist": 0.035,
    "left_hand": 0.03, "right_hand": 0.03, "head": 0.1,
}
SPHERE_RINGS = 8
TUBE_SIDES = 12
STAND_IN_COLOUR = (0.8, 0.62, 0.45, 1.0)
#: custom property of a rig naming the body it was given ("SMPL mesh" or "stand-in")
BODY_PROP = "glot_body"
BODY_SMPL = "SMPL mesh"
BODY_STAND_IN = "stand-in"


def _sphere(center: np.ndarray, radius: float, n: int = SPHERE_RINGS) -> tuple[np.ndarray, np.ndarray]:
    theta = np.pi * np.arange(n + 1) / n
    phi = np.pi * np.arange(2 * n) / n
    ring = np.stack([np.outer(np.sin(theta), np.cos(phi)), np.outer(np.sin(theta), np.sin(phi)),
                     np.outer(np.cos(theta), np.ones_like(phi))], axis=-1).reshape(-1, 3)
    faces = []
    for i in range(n):
        for k in range(2 * n):
            a, b = i * 2 * n + k, i * 2 * n + (k + 1) % (2 * n)
            faces += [(a, b, b + 2 * n), (a, b + 2 * n, a + 2 * n)]
    return center + radius * ring, np.array(faces)


def _tube(p0: np.ndarray, p1: np.ndarray, radius: float, n: int = TUBE_SIDES) -> tuple[np.ndarray, np.ndarray]:
    axis = p1 - p0
    d = axis / max(float(np.linalg.norm(axis)), 1e-9)
    u = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(d, u)
    angles = 2 * np.pi * np.arange(n) / n
    ring = radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w)
    faces = []
    for k in range(n):
        a, b = k, (k + 1) % n
        faces += [(a, b, b + n), (a, b + n, a + n)]
    return np.concatenate([p0 + ring, p1 + ring]), np.array(faces)


def stand_in_geometry(
    heads: np.ndarray, tails: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capsule body of the 24 SMPL bones (heads, tails (24,3), armature space): vertices
    (V,3), triangles (F,3) and weights (V,24), each part fully on its bone."""
    heads, tails = np.asarray(heads, float), np.asarray(tails, float)
    height = float(heads[:, 2].max() - heads[:, 2].min()) or REFERENCE_HEIGHT_M
    scale = height / REFERENCE_HEIGHT_M
    verts, faces, weights, count = [], [], [], 0
    for j, name in enumerate(JOINT_NAMES):
        radius = SEGMENT_RADIUS_M[name] * scale
        children = [c for c in range(len(PARENTS)) if PARENTS[c] == j]
        parts = [_sphere(heads[j], radius)]
        ends = [heads[c] for c in children] or [tails[j]]
        for end in ends:
            parts.append(_tube(heads[j], end, radius))
        if not children:
            parts.append(_sphere(tails[j], radius))
        for v, f in parts:
            verts.append(v)
            faces.append(f + count)
            part = np.zeros((len(v), len(JOINT_NAMES)))
            part[:, j] = 1.0
            weights.append(part)
            count += len(v)
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(weights)


def create_stand_in_body(armature_obj: bpy.types.Object, name: str) -> bpy.types.Object:
    """The capsule body skinned to an SMPL armature (bones named as ``JOINT_NAMES``)."""
    bones = armature_obj.data.bones
    heads = np.array([tuple(bones[j].head_local) for j in JOINT_NAMES])
    tails = np.array([tuple(bones[j].tail_local) for j in JOINT_NAMES])
    verts, faces, weights = stand_in_geometry(heads, tails)
    obj = create_skinned_mesh(armature_obj, verts, faces, weights, JOINT_NAMES, name)
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = STAND_IN_COLOUR
    obj.data.materials.append(material)
    for poly in obj.data.polygons:
        poly.use_smooth = True
    return obj
