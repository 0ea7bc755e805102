"""SMPL armatures and body meshes in Blender, and reading any armature's rest skeleton.

The SMPL armature stands in Blender's world the way an upright person faces the camera: z up,
facing -y, feet on z = 0 and the pelvis above the origin (``smpl_rest_in_blender``).
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..core.kinematics import SMPL_TO_BLENDER
from ..core.retarget import TargetSkeleton, smpl_bone_layout
from ..core.smpl_skeleton import JOINT_NAMES, PARENTS
from .errors import AnimError

MIN_BONE_LENGTH = 0.02  # metres
#: skinning weights below this are not written to vertex groups
MIN_SKIN_WEIGHT = 1e-4
ARMATURE_MODIFIER_NAME = "GLoT Armature"
#: custom properties of an armature that received motion: the person id and the motion clip
TRACK_ID_PROP = "glot_track_id"
CLIP_PROP = "glot_clip"


def smpl_ground_offset(rest_joints_model: np.ndarray) -> np.ndarray:
    """(3,) vector subtracted from rotated rest joints: pelvis above the origin, feet at z=0."""
    joints = np.asarray(rest_joints_model, dtype=np.float64) @ SMPL_TO_BLENDER.T
    return np.array([joints[0, 0], joints[0, 1], joints[:, 2].min()])


def smpl_rest_in_blender(rest_joints_model: np.ndarray) -> np.ndarray:
    """SMPL rest joints (24,3), model frame -> Blender armature space (24,3)."""
    joints = np.asarray(rest_joints_model, dtype=np.float64) @ SMPL_TO_BLENDER.T
    return joints - smpl_ground_offset(rest_joints_model)


def smpl_bone_layout_blender(rest_joints_model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heads and tails (24,3) of the SMPL rig in armature space (core layout, feet on z=0)."""
    heads, tails = smpl_bone_layout(rest_joints_model)
    offset = smpl_ground_offset(rest_joints_model)
    heads, tails = heads - offset, tails - offset
    short = np.linalg.norm(tails - heads, axis=1) < MIN_BONE_LENGTH
    tails[short] = heads[short] + np.array([0.0, 0.0, MIN_BONE_LENGTH])
    return heads, tails


def _link(obj: object, collection: object | None) -> None:
    (collection or bpy.context.scene.collection).objects.link(obj)


def _with_edit_mode(obj: object):
    """Context manager entering edit mode on ``obj`` and restoring object mode."""
    from contextlib import contextmanager

    @contextmanager
    def _cm():
        view_layer = bpy.context.view_layer
        previous = view_layer.objects.active
        view_layer.objects.active = obj
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            yield
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
            view_layer.objects.active = previous

    return _cm()


def create_smpl_armature(
    rest_joints_model: np.ndarray, name: str = "SMPL", collection: object | None = None
) -> object:
    """A new armature object with the 24 SMPL bones; rest_joints_model (24,3) SMPL frame."""
    joints, tails = smpl_bone_layout_blender(rest_joints_model)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    try:
        _link(obj, collection)
        with _with_edit_mode(obj):
            for j, joint in enumerate(JOINT_NAMES):
                bone = data.edit_bones.new(joint)
                bone.head = joints[j].tolist()
                bone.tail = tails[j].tolist()
                bone.roll = 0.0
                if PARENTS[j] >= 0:
                    bone.parent = data.edit_bones[JOINT_NAMES[PARENTS[j]]]
                    bone.use_connect = False
        for pb in obj.pose.bones:
            pb.rotation_mode = "QUATERNION"
    except Exception:
        bpy.data.objects.remove(obj)
        bpy.data.armatures.remove(data)
        raise
    return obj


def target_skeleton(armature_obj: object) -> TargetSkeleton:
    """Any armature as :class:`glot_blender.core.retarget.TargetSkeleton` (rest = matrix_local)."""
    if armature_obj is None or getattr(armature_obj, "type", None) != "ARMATURE":
        name = getattr(armature_obj, "name", None)
        raise AnimError(f"'{name}' is not an armature: choose an armature object as the target")
    if armature_obj.mode == "EDIT":
        raise AnimError(f"armature '{armature_obj.name}' is in Edit Mode: switch to Object or Pose Mode")
    bones = list(armature_obj.data.bones)
    if not bones:
        raise AnimError(f"armature '{armature_obj.name}' has no bones")
    index = {b.name: i for i, b in enumerate(bones)}
    return TargetSkeleton(
        names=tuple(b.name for b in bones),
        parents=np.array([index[b.parent.name] if b.parent else -1 for b in bones]),
        rest_matrices=np.array([np.array(b.matrix_local) for b in bones], dtype=np.float64),
        object_matrix=np.array(armature_obj.matrix_world, dtype=np.float64),
    )


def create_smpl_mesh(
    armature_obj: object,
    smpl_pickle: str | Path,
    betas: np.ndarray,
    name: str = "SMPL body",
) -> object:
    """A skinned SMPL body mesh (shape ``betas`` (10,)) parented to an SMPL armature.

    Reads the SMPL pickle through :func:`glot_blender.core.smpl_pickle.load_smpl_pickle`
    (restricted unpickler); the body is placed so that its pelvis joint sits on the armature's
    pelvis bone head; the 24 vertex groups are the SMPL skinning weights.
    """
    from ..core.smpl_pickle import load_smpl_pickle

    model = load_smpl_pickle(Path(smpl_pickle))
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    nb = min(betas.shape[0], model.shapedirs.shape[2])
    verts = model.v_template + model.shapedirs[:, :, :nb] @ betas[:nb]
    pelvis = (np.asarray(model.J_regressor)[0] @ verts) @ SMPL_TO_BLENDER.T
    head = np.array(tuple(armature_obj.data.bones[JOINT_NAMES[0]].head_local))
    verts_b = verts @ SMPL_TO_BLENDER.T - pelvis + head
    return create_skinned_mesh(
        armature_obj, verts_b, np.asarray(model.faces), np.asarray(model.weights),
        JOINT_NAMES, name,
    )


def create_skinned_mesh(
    armature_obj: object,
    verts: np.ndarray,
    faces: np.ndarray,
    weights: np.ndarray,
    groups: tuple[str, ...] | list[str],
    name: str,
) -> object:
    """A mesh deformed by ``armature_obj``: verts (V,3) armature space, faces (F,3),
    weights (V,G) for the vertex groups ``groups`` (bone names); parented to the armature."""
    mesh = bpy.data.meshes.new(name)
    obj = bpy.data.objects.new(name, mesh)
    try:
        mesh.from_pydata(np.asarray(verts, dtype=np.float64).tolist(), [],
                         np.asarray(faces, dtype=np.int64).tolist())
        mesh.update()
        _skin(obj, np.asarray(weights, dtype=np.float64), groups)
        mod = obj.modifiers.new(ARMATURE_MODIFIER_NAME, "ARMATURE")
        mod.object = armature_obj
        obj.parent = armature_obj
        for coll in armature_obj.users_collection:
            coll.objects.link(obj)
    except Exception:
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(mesh)
        raise
    return obj


def _skin(obj: object, weights: np.ndarray, groups: tuple[str, ...] | list[str]) -> None:
    """One vertex group per name in ``groups`` from weights (V, G); tiny weights skipped."""
    for j, joint in enumerate(groups):
        group = obj.vertex_groups.new(name=joint)
        idx = np.nonzero(weights[:, j] > MIN_SKIN_WEIGHT)[0]
        for w in np.unique(np.round(weights[idx, j], 6)):
            same = idx[np.round(weights[idx, j], 6) == w]
            group.add(same.tolist(), float(w), "REPLACE")
