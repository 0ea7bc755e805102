"""SMPL armatures and body meshes in Blender, and reading any armature's rest skeleton.

The SMPL armature stands in Blender's world the way an upright person faces the camera: z up,
facing -y, feet on z = 0 and the pelvis above the origin (``smpl_rest_in_blender``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.kinematics import SMPL_TO_BLENDER
from ..core.smpl_skeleton import JOINT_NAMES, PARENTS
from .errors import AnimError

#: the child each SMPL joint's bone points at (joints with several children pick one)
PREFERRED_CHILD: dict[int, int] = {0: 3, 9: 12}
#: length of leaf bones (head, hands, feet) relative to their parent bone
LEAF_LENGTH_RATIO = 0.5
MIN_BONE_LENGTH = 0.02  # metres
#: skinning weights below this are not written to vertex groups
MIN_SKIN_WEIGHT = 1e-4
ARMATURE_MODIFIER_NAME = "GLoT Armature"


@dataclass(frozen=True)
class RestSkeleton:
    """The rest pose of an armature, in armature space.

    names: B bone names, parents before children; parents (B,) index or -1;
    rest (B, 4, 4) ``bone.matrix_local``; heads/tails (B, 3).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    rest: np.ndarray
    heads: np.ndarray
    tails: np.ndarray

    def index(self, name: str) -> int:
        return self.names.index(name)


def smpl_ground_offset(rest_joints_model: np.ndarray) -> np.ndarray:
    """(3,) vector subtracted from rotated rest joints: pelvis above the origin, feet at z=0."""
    joints = np.asarray(rest_joints_model, dtype=np.float64) @ SMPL_TO_BLENDER.T
    return np.array([joints[0, 0], joints[0, 1], joints[:, 2].min()])


def smpl_rest_in_blender(rest_joints_model: np.ndarray) -> np.ndarray:
    """SMPL rest joints (24,3), model frame -> Blender armature space (24,3)."""
    joints = np.asarray(rest_joints_model, dtype=np.float64) @ SMPL_TO_BLENDER.T
    return joints - smpl_ground_offset(rest_joints_model)


def smpl_bone_tails(joints: np.ndarray) -> np.ndarray:
    """(24,3) tails: towards the (preferred) child, leaves continue their parent's direction."""
    children: dict[int, list[int]] = {}
    for j, p in enumerate(PARENTS):
        if p >= 0:
            children.setdefault(p, []).append(j)
    tails = np.empty_like(joints)
    for j in range(len(PARENTS)):
        kids = children.get(j, [])
        if kids:
            tails[j] = joints[PREFERRED_CHILD.get(j, kids[0])]
        else:
            seg = joints[j] - joints[PARENTS[j]]
            tails[j] = joints[j] + LEAF_LENGTH_RATIO * seg
        if np.linalg.norm(tails[j] - joints[j]) < MIN_BONE_LENGTH:
            tails[j] = joints[j] + np.array([0.0, 0.0, MIN_BONE_LENGTH])
    return tails


def source_directions(rest_blender: np.ndarray) -> np.ndarray:
    """(24,3) unit rest direction of each SMPL bone (head to tail) in Blender space."""
    d = smpl_bone_tails(rest_blender) - rest_blender
    return d / np.linalg.norm(d, axis=1, keepdims=True)


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
    joints = smpl_rest_in_blender(rest_joints_model)
    tails = smpl_bone_tails(joints)
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


def read_rest_skeleton(armature_obj: object) -> RestSkeleton:
    """Names, parents and rest matrices of any armature (bones ordered parents first)."""
    if armature_obj is None or armature_obj.type != "ARMATURE":
        name = getattr(armature_obj, "name", None)
        raise AnimError(f"'{name}' is not an armature: select an armature object")
    bones = list(armature_obj.data.bones)
    if not bones:
        raise AnimError(f"armature '{armature_obj.name}' has no bones")
    ordered: list[object] = []
    todo = [b for b in bones if b.parent is None]
    while todo:
        bone = todo.pop(0)
        ordered.append(bone)
        todo.extend(bone.children)
    names = tuple(b.name for b in ordered)
    index = {n: i for i, n in enumerate(names)}
    parents = tuple(index[b.parent.name] if b.parent else -1 for b in ordered)
    rest = np.array([np.array(b.matrix_local) for b in ordered], dtype=np.float64)
    heads = np.array([tuple(b.head_local) for b in ordered], dtype=np.float64)
    tails = np.array([tuple(b.tail_local) for b in ordered], dtype=np.float64)
    return RestSkeleton(names, parents, rest, heads, tails)


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
