"""World-space retargeting of SMPL motion onto any armature described by numpy data.

Rule: for every mapped target bone, its world rotation change from its own (corrected) rest
equals the world rotation change of its SMPL joint from SMPL's rest. Before that rule is
applied the target's rest is *corrected* towards SMPL's T-pose, bone group by bone group,
so T-pose and A-pose characters both come out right:

- facing: a yaw about the world up axis turns the target's left-right hip axis onto SMPL's;
- per SMPL joint j mapped to target bones, the minimal rotation Q_j that turns the target
  vector head(first bone of j) -> head(first bone of j's main child) onto the SMPL rest vector
  joint j -> joint child (joints without a mapped child inherit their parent's Q).

Then, per frame, the target bone's world delta is ``T_b = D_j @ Q_j @ Y`` (D_j: SMPL world
delta in Blender world, expressed in armature space). When one SMPL joint drives a chain of k
target bones (spines and necks with other bone counts) the relative rotation from the chain's
parent is spread evenly: bone i of k gets ``T_p @ (T_p^T T_j)^(i/k)``. Unmapped bones stay at rest
relative to their parent. Local pose rotations follow Blender's pose-bone convention
``M_pose = M_parent_pose @ (parent_rest^-1 @ rest) @ R_local``, so
``R_local = A_b^T T_parent^T T_b A_b`` with A_b the bone's rest rotation (matrix_local).

The root (the bone mapped to ``pelvis``) also gets a location in its own rest frame so that its
head follows the SMPL pelvis, with the displacement scaled by target/source leg length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .bone_maps import split_bones
from .kinematics import (
    camera_to_blender,
    forward_kinematics,
    leg_length,
    smpl_rest_to_blender,
    world_deltas_in_blender,
)
from .rotations import (
    axis_angle_to_matrix,
    is_degenerate,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_continuity,
    rotation_between,
)
from .skeleton import RetargetError, TargetSkeleton, pose_matrices
from .smpl_skeleton import JOINT_NAMES, PARENTS

__all__ = [  # TargetSkeleton, RetargetError and pose_matrices live in .skeleton
    "PRIMARY_CHILD", "RetargetError", "RetargetOptions", "RetargetResult", "SourceMotion",
    "TargetSkeleton", "normalize_bone_map", "pose_matrices", "retarget", "smpl_bone_layout",
]

ROOT_JOINT = "pelvis"
#: SMPL joint -> the child joint that defines its bone direction (leaves have none)
PRIMARY_CHILD: dict[str, str] = {
    "left_hip": "left_knee", "right_hip": "right_knee", "spine1": "spine2",
    "left_knee": "left_ankle", "right_knee": "right_ankle", "spine2": "spine3",
    "left_ankle": "left_foot", "right_ankle": "right_foot", "spine3": "neck",
    "neck": "head", "left_collar": "left_shoulder", "right_collar": "right_shoulder",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow",
    "left_elbow": "left_wrist", "right_elbow": "right_wrist",
    "left_wrist": "left_hand", "right_wrist": "right_hand",
}
#: pairs (left, right) whose horizontal difference gives a body's facing, in order of preference
FACING_PAIRS = (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"),
                ("left_collar", "right_collar"))
ROOT_MOTION_MODES = ("camera", "origin", "in_place", "none")
#: below this horizontal left-right length the facing cannot be measured (armature units)
MIN_FACING_LENGTH = 1e-6
#: a rest vector shorter than this share of the rig's size has no direction (bones that
#: share a head differ by float noise, ~1e-9 of a metre, not by exactly zero)
DEGENERATE_SHARE = 1e-4

BoneMap = Mapping[str, "str | Sequence[str]"]


def smpl_bone_layout(rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heads and tails (24, 3) of an SMPL rig in Blender rig space (z up, facing -y).

    Bone i's head is joint i; its tail is its main child joint (spine1 for the pelvis);
    leaves continue their parent's direction for half the parent bone's length.
    """
    heads = smpl_rest_to_blender(rest_joints)
    tails = np.empty_like(heads)
    child = {JOINT_NAMES.index(k): JOINT_NAMES.index(v) for k, v in PRIMARY_CHILD.items()}
    child[0] = JOINT_NAMES.index("spine1")
    for j in range(len(JOINT_NAMES)):
        if j in child:
            tails[j] = heads[child[j]]
        else:
            p = PARENTS[j]
            tails[j] = heads[j] + 0.5 * (heads[j] - heads[p])
    return heads, tails


@dataclass
class SourceMotion:
    """SMPL motion in Blender world (z up, camera at the origin looking along +y).

    rest_joints (24, 3): SMPL rest joints in Blender rig space (SMPL_TO_BLENDER @ model);
    deltas (F, 24, 3, 3): world rotation change of each joint from that rest;
    root (F, 3): world position of the pelvis joint.
    """

    rest_joints: np.ndarray
    deltas: np.ndarray
    root: np.ndarray

    @classmethod
    def from_smpl(cls, poses: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray) -> SourceMotion:
        """poses (F, 24, 3) axis-angle or (F, 24, 3, 3), transl (F, 3) in the video camera
        frame, rest_joints (24, 3) in the SMPL model frame (a motion clip track's fields)."""
        fk = forward_kinematics(rest_joints, poses, transl)
        _, root = camera_to_blender(None, fk.joints[:, 0])
        return cls(smpl_rest_to_blender(rest_joints), world_deltas_in_blender(fk.rotations), root)

    @property
    def num_frames(self) -> int:
        return int(self.deltas.shape[0])


@dataclass(frozen=True)
class RetargetOptions:
    """root_motion: "camera" (pelvis where the video shows it, camera at the origin),
    "origin" (motion relative to the first frame, starting at the target's rest position),
    "in_place" (no horizontal motion, vertical relative to the first frame), "none".
    scale: root displacement factor; None = target leg length / source leg length.
    rest_correction: align the target's rest (T-pose, A-pose, facing) to SMPL's first."""

    root_motion: str = "camera"
    scale: float | None = None
    rest_correction: bool = True

    def __post_init__(self) -> None:
        if self.root_motion not in ROOT_MOTION_MODES:
            raise RetargetError(f"root_motion '{self.root_motion}' is not one of {ROOT_MOTION_MODES}")


@dataclass
class RetargetResult:
    """bone_names (B,) in the skeleton's order; quaternions (F, B, 4) float32 (w, x, y, z)
    pose_bone.rotation_quaternion per frame, sign-continuous over time (identity for bones that
    stay at rest); animated (B,) bool: bones whose rotation is driven; root_bone: name of the
    bone that gets ``root_location`` (F, 3), pose_bone.location in its own rest frame;
    scale: the root displacement factor used; corrections: per mapped SMPL joint, the rest
    correction ``Q_j @ Y`` in armature space (a bone of joint j turns by ``D_j @ Q_j @ Y``)."""

    bone_names: tuple[str, ...]
    quaternions: np.ndarray
    animated: np.ndarray
    root_bone: str
    root_location: np.ndarray
    scale: float
    corrections: dict[str, np.ndarray] = field(default_factory=dict)

    def non_finite_bone(self) -> str | None:
        """The first bone with a NaN or infinite key (rotation of a driven bone, or the root's
        location), or None when every value that would be written is finite."""
        for b in np.nonzero(self.animated)[0]:
            if not np.all(np.isfinite(self.quaternions[:, b])):
                return self.bone_names[b]
        if not np.all(np.isfinite(self.root_location)):
            return self.root_bone
        return None


def normalize_bone_map(bone_map: BoneMap) -> dict[str, tuple[str, ...]]:
    """{smpl joint: bone, [bones] or "bone, bone"} -> {smpl joint: (bones...)}; checks joint
    names, value types and bones used twice."""
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for joint, value in bone_map.items():
        if joint not in JOINT_NAMES:
            raise RetargetError(f"bone map entry '{joint}' is not an SMPL joint name")
        bones = split_bones(value)
        if bones is None:
            raise RetargetError(f"bone map entry '{joint}' must be a bone name or a list of them")
        for b in bones:
            if b in seen:
                raise RetargetError(f"bone '{b}' is mapped twice ('{seen[b]}' and '{joint}')")
            seen[b] = joint
        out[joint] = bones
    return out


def _object_frame(skel: TargetSkeleton) -> tuple[np.ndarray, float]:
    """Rotation (3, 3) and uniform scale of the armature object's matrix_world."""
    lin = skel.object_matrix[:3, :3]
    scale = float(np.cbrt(abs(np.linalg.det(lin))))
    if scale <= 0.0:
        raise RetargetError("the armature object has a zero scale")
    return lin / scale, scale


def _facing_yaw(groups: dict[str, list[int]], skel: TargetSkeleton, obj_rot: np.ndarray,
                src_rest: np.ndarray) -> np.ndarray:
    """World-frame yaw (3, 3) about z turning the target's left-right axis onto SMPL's."""
    for left, right in FACING_PAIRS:
        if left in groups and right in groups:
            tgt = obj_rot @ (skel.rest_points[groups[left][0]] - skel.rest_points[groups[right][0]])
            src = src_rest[JOINT_NAMES.index(left)] - src_rest[JOINT_NAMES.index(right)]
            if np.hypot(*tgt[:2]) > MIN_FACING_LENGTH:
                angle = np.arctan2(src[1], src[0]) - np.arctan2(tgt[1], tgt[0])
                return axis_angle_to_matrix(np.array([0.0, 0.0, angle]))
    return np.eye(3)


def _extent(points: np.ndarray) -> float:
    """Diagonal of the bounding box of (N, 3) points (0 for one point)."""
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def _rest_corrections(groups: dict[str, list[int]], skel: TargetSkeleton, obj_rot: np.ndarray,
                      src_rest: np.ndarray, yaw: np.ndarray) -> dict[str, np.ndarray]:
    """Per mapped SMPL joint: world-frame correction Q_j @ Y (3, 3).

    A joint whose target vector has no length (its bone and its child's share a head, as
    Rigify's FK spine controls do) or whose SMPL vector has none inherits the correction of
    its nearest mapped parent joint (the facing yaw at the root), like a joint without a
    mapped child. "No length" is relative: below DEGENERATE_SHARE of the rig's size."""
    corr: dict[str, np.ndarray] = {}
    points = skel.rest_points
    tgt_min = DEGENERATE_SHARE * _extent(points[[g[0] for g in groups.values()]] @ obj_rot.T)
    src_min = DEGENERATE_SHARE * _extent(src_rest)
    for j, name in enumerate(JOINT_NAMES):
        if name not in groups:
            continue
        child = PRIMARY_CHILD.get(name)
        if child in groups:
            tgt = yaw @ obj_rot @ (points[groups[child][0]] - points[groups[name][0]])
            src = src_rest[JOINT_NAMES.index(child)] - src_rest[j]
            if not (is_degenerate(tgt, tgt_min) or is_degenerate(src, src_min)):
                corr[name] = rotation_between(tgt, src) @ yaw
                continue
        p = PARENTS[j]
        while p >= 0 and JOINT_NAMES[p] not in corr:
            p = PARENTS[p]
        corr[name] = corr[JOINT_NAMES[p]] if p >= 0 else yaw
    return corr


def _fractional(rel: np.ndarray, fraction: float) -> np.ndarray:
    return axis_angle_to_matrix(matrix_to_axis_angle(rel) * fraction)


def _target_leg_length(groups: dict[str, list[int]], skel: TargetSkeleton) -> float | None:
    lengths = []
    for h, k, a in (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle")):
        if h in groups and k in groups and a in groups:
            ph, pk, pa = (skel.rest_points[groups[n][0]] for n in (h, k, a))
            lengths.append(np.linalg.norm(pk - ph) + np.linalg.norm(pa - pk))
    return float(np.mean(lengths)) if lengths else None


def _root_displacement(source: SourceMotion, mode: str) -> np.ndarray:
    """(F, 3) world displacement of the pelvis from its rest position, per root_motion mode."""
    disp = source.root - source.rest_joints[0]
    if mode == "none":
        return np.zeros_like(disp)
    if mode == "origin":
        return disp - disp[:1]
    if mode == "in_place":
        out = np.zeros_like(disp)
        out[:, 2] = disp[:, 2] - disp[0, 2]
        return out
    return disp


def retarget(source: SourceMotion, skel: TargetSkeleton, bone_map: BoneMap,
             options: RetargetOptions | None = None,
             extra_bones: Mapping[str, str] | None = None) -> RetargetResult:
    """Retarget SMPL motion onto ``skel`` (see the module docstring for the rule).

    extra_bones: {bone: SMPL joint} bones that take the same world rotation change as the
    joint's own bone without taking part in the rest correction (a rig that splits one body
    part over two controls, e.g. Rigify's hips FK control under the torso); a joint that is
    not mapped leaves its extra bones at rest."""
    options = options or RetargetOptions()
    groups = {j: [skel.index(b) for b in bones] for j, bones in normalize_bone_map(bone_map).items()}
    if ROOT_JOINT not in groups:
        raise RetargetError("the bone map must map 'pelvis' (the hips bone that carries root motion)")
    obj_rot, obj_scale = _object_frame(skel)
    src_rest = source.rest_joints
    if options.rest_correction:
        yaw = _facing_yaw(groups, skel, obj_rot, src_rest)
        corr = _rest_corrections(groups, skel, obj_rot, src_rest, yaw)
    else:
        corr = {name: np.eye(3) for name in groups}
    # everything below is in armature space: D_arm = O^T D_world O
    num_frames, num_bones = source.num_frames, len(skel.names)
    bone_joint: dict[int, tuple[str, int, int]] = {}
    for name, idx in groups.items():
        for i, b in enumerate(idx):
            bone_joint[b] = (name, i + 1, len(idx))
    for bone, name in (extra_bones or {}).items():
        b = skel.index(bone)
        if b in bone_joint:
            raise RetargetError(f"bone '{bone}' is both mapped and an extra bone of '{name}'")
        if name in groups:
            bone_joint[b] = (name, 1, 1)
    deltas: list[np.ndarray | None] = [None] * num_bones  # None: identity (at rest, no mapped ancestor)
    eye = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
    rest_rot = skel.rest_matrices[:, :3, :3]
    quats = np.zeros((num_frames, num_bones, 4), dtype=np.float32)
    quats[..., 0] = 1.0
    animated = np.zeros(num_bones, dtype=bool)
    for b in skel.order():
        parent_delta = _parent_delta(skel, b, deltas, eye)
        if b not in bone_joint:
            deltas[b] = parent_delta
            continue
        name, i, k = bone_joint[b]
        full = obj_rot.T @ source.deltas[:, JOINT_NAMES.index(name)] @ corr[name] @ obj_rot
        if k > 1:
            base = eye if parent_delta is None else parent_delta
            full = base @ _fractional(np.swapaxes(base, -1, -2) @ full, i / k)
        deltas[b] = full
        rel = full if parent_delta is None else np.swapaxes(parent_delta, -1, -2) @ full
        local = rest_rot[b].T @ rel @ rest_rot[b]
        quats[:, b] = quaternion_continuity(matrix_to_quaternion(local), axis=0)
        animated[b] = True
    root = groups[ROOT_JOINT][0]
    scale = options.scale
    if scale is None:
        tgt_leg = _target_leg_length(groups, skel)
        scale = obj_scale * tgt_leg / leg_length(src_rest) if tgt_leg else obj_scale
    disp_arm = (_root_displacement(source, options.root_motion) @ obj_rot) * (scale / obj_scale)
    location = _root_location(skel, root, deltas, skel.heads[root] + disp_arm)
    result = RetargetResult(skel.names, quats, animated, skel.names[root], location, float(scale),
                            {name: obj_rot.T @ c @ obj_rot for name, c in corr.items()})
    bad = result.non_finite_bone()
    if bad is not None:
        raise RetargetError(
            f"the motion for bone '{bad}' is not finite (NaN or infinite); check the motion clip "
            "and that bone's rest pose")
    return result


def _parent_delta(skel: TargetSkeleton, b: int, deltas: list[np.ndarray | None],
                  eye: np.ndarray) -> np.ndarray | None:
    """World rotation change (F, 3, 3) of bone b's parent frame, None for identity: the
    parent's, turned a fraction of the way towards a partly followed bone's."""
    p, q = int(skel.parents[b]), int(skel.partial[b])
    base = deltas[p] if p >= 0 else None
    if q < 0 or deltas[q] is None:
        return base
    start = eye if base is None else base
    return start @ _fractional(np.swapaxes(start, -1, -2) @ deltas[q], float(skel.partial_weight[b]))


def _root_location(skel: TargetSkeleton, root: int, deltas: list[np.ndarray | None],
                   target_head: np.ndarray) -> np.ndarray:
    """pose_bone.location (F, 3) of ``root`` putting its head at target_head (F, 3, armature).

    The root's ancestors (usually none, or an unmapped "root" bone) only rotate."""
    num_frames = target_head.shape[0]
    mats = skel.rest_matrices

    def delta(i: int) -> np.ndarray:
        d = deltas[i] if i >= 0 else None
        return np.broadcast_to(np.eye(3), (num_frames, 3, 3)) if d is None else d

    chain = []
    p = int(skel.parents[root])
    while p >= 0:
        chain.append(p)
        p = int(skel.parents[p])
    frame = np.broadcast_to(np.eye(4), (num_frames, 4, 4))
    for bone in [*reversed(chain), root]:
        parent = int(skel.parents[bone])
        rest_rel = mats[bone] if parent < 0 else np.linalg.inv(mats[parent]) @ mats[bone]
        frame = frame @ rest_rel
        if bone != root:
            local = np.tile(np.eye(4), (num_frames, 1, 1))
            rel = np.swapaxes(delta(parent), -1, -2) @ delta(bone)
            local[:, :3, :3] = mats[bone, :3, :3].T @ rel @ mats[bone, :3, :3]
            frame = frame @ local
    rot, origin = frame[:, :3, :3], frame[:, :3, 3]
    return np.einsum("fji,fj->fi", rot, target_head - origin)
