"""Measure an armature the way Blender evaluates it (depsgraph), for constraint-driven rigs.

Plain armatures are read from their edit bones (:func:`.armature.target_skeleton`). In a
rig like Rigify the keyed controls move the deform bones through ORG/MCH bones and
constraints, so a control's edit-bone parent says little about what turns it: the arm
control hangs under an MCH bone that copies ``ORG-shoulder``, which copies the collar
control; an FK spine control's parent copies the hips control at influence 0.5. Here the rig
is measured instead, with its action set aside and every pose bone at rest:

1. the evaluated rest pose (``pose_bone.matrix`` of the evaluated object);
2. one evaluation per driven bone turned by a test rotation: how every bone's world
   rotation responds. A driven bone's *frame* (its world rotation while its own key is the
   identity: what its parent, or its own Child Of-like constraint, makes of it) then follows
   the deepest driven bone it turns with exactly (rigid), and possibly a deeper one by a
   fraction ``w`` (a constraint at partial influence: the response is the test rotation's
   ``w`` power, as Blender blends rotations by slerp).
   :class:`glot_blender.core.skeleton.TargetSkeleton` carries both.

The pose, rotation modes and action are restored afterwards; nothing in the scene changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from ..core.rotations import axis_angle_to_matrix, matrix_to_axis_angle, orthonormalize
from ..core.skeleton import TargetSkeleton
from .pose import PoseSnapshot, reset_to_rest

#: the test rotation (rotation vector, radians): an axis along no bone, 23 degrees
TEST_ROTATION = 0.4 * np.array([0.36, 0.48, 0.8]) / np.linalg.norm([0.36, 0.48, 0.8])
#: a response below this angle (radians) is "does not move"
MOVED = 1e-3
#: a response that differs from the modelled one by more than this (radians) is not modelled
FIT = 1e-2
#: a follow fraction this close to 1 is rigid, this close to 0 is none
RIGID_TOL = 0.02


def needs_measurement(obj: Any) -> bool:
    """True when some pose bone has a constraint or the armature has drivers: its edit bones
    alone do not tell how keys move it."""
    anim = obj.animation_data
    if anim is not None and len(anim.drivers):
        return True
    return any(len(pb.constraints) for pb in obj.pose.bones)


def is_evaluated(obj: Any) -> bool:
    """False for an armature the depsgraph leaves out (disabled in the viewport, or in an
    excluded collection): its pose bones would show no constraint at work."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    # not ``evaluated_get(...).is_evaluated``: a disabled rig that other objects depend on is
    # "evaluated" for their sake, but its pose is not (its constraints do not run)
    return any(o.original == obj for o in depsgraph.objects)


@dataclass
class Measurement:
    """The measured skeleton and what the measurement could not model (one line each)."""

    skeleton: TargetSkeleton
    notes: list[str] = field(default_factory=list)


def evaluated_matrices(obj: Any) -> np.ndarray:
    """(B, 4, 4) armature-space ``pose_bone.matrix`` of the evaluated object, in the order of
    ``obj.pose.bones``, after a depsgraph update."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    ev = obj.evaluated_get(depsgraph)
    buf = np.empty(len(ev.pose.bones) * 16, dtype=np.float32)
    ev.pose.bones.foreach_get("matrix", buf)
    return buf.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)


@contextmanager
def neutral_pose(obj: Any) -> Iterator[None]:
    """Every pose bone at rest and the action (and NLA) set aside; all restored on exit."""
    names = [pb.name for pb in obj.pose.bones]
    snapshot = PoseSnapshot.take(obj, names)
    anim = obj.animation_data
    saved = None
    if anim is not None:
        saved = (anim.action, getattr(anim, "action_slot", None), anim.use_nla)
        anim.action = None
        anim.use_nla = False
    try:
        reset_to_rest(obj, names)
        yield
    finally:
        snapshot.restore()
        if anim is not None and saved is not None:
            anim.action = saved[0]
            if saved[1] is not None and saved[0] is not None:
                anim.action_slot = saved[1]
            anim.use_nla = saved[2]
        bpy.context.evaluated_depsgraph_get().update()


def _rotations(mats: np.ndarray) -> np.ndarray:
    return orthonormalize(mats[..., :3, :3])


def _angle(rot: np.ndarray) -> np.ndarray:
    return np.linalg.norm(matrix_to_axis_angle(rot), axis=-1)


def _responses(obj: Any, driven: Sequence[int], rest_rot: np.ndarray) -> np.ndarray:
    """(len(driven), B, 3, 3) world rotation change of every bone when one driven bone is
    turned by the test rotation (in its own local frame, quaternion mode)."""
    bones = obj.pose.bones
    test = tuple(np.concatenate([[np.cos(np.linalg.norm(TEST_ROTATION) / 2)],
                                 np.sin(np.linalg.norm(TEST_ROTATION) / 2)
                                 * TEST_ROTATION / np.linalg.norm(TEST_ROTATION)]))
    out = []
    for i in driven:
        pb = bones[i]
        mode = pb.rotation_mode
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = test
        try:
            moved = _rotations(evaluated_matrices(obj))
        finally:
            pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
            pb.rotation_mode = mode
        out.append(moved @ np.swapaxes(rest_rot, -1, -2))
    return np.array(out)


@dataclass
class _Follow:
    base: int = -1
    partial: int = -1
    weight: float = 0.0
    note: str = ""


def _follow(own: int, driven: Sequence[int], resp: np.ndarray, moves: np.ndarray,
            names: Sequence[str]) -> _Follow:
    """How the frame of driven bone ``own`` (its world rotation while its own key is the
    identity: its parent's, or what its own Child Of-like constraints make of it) follows the
    other driven bones. ``moves[a, b]``: turning driven a moves driven b."""
    k_own = driven.index(own)
    rigid, partial, odd = [], [], []
    for k, m in enumerate(driven):
        if m == own or moves[k_own, k]:
            continue  # the bone itself, or one it moves (downstream)
        x = resp[k, own]
        if _angle(x) < MOVED:
            continue
        lw = matrix_to_axis_angle(resp[k, m])
        if np.linalg.norm(lw) < MOVED:
            continue
        w = float(matrix_to_axis_angle(x) @ lw / (lw @ lw))
        fit = _angle(np.swapaxes(x, -1, -2) @ axis_angle_to_matrix(w * lw))
        if fit > FIT or w < RIGID_TOL or w > 1.0 + RIGID_TOL:
            odd.append(m)
        elif abs(w - 1.0) <= RIGID_TOL:
            rigid.append(m)
        else:
            partial.append((m, w))
    depth = moves.sum(axis=0)  # how many driven bones move each driven bone

    def deepest(cands: Iterable[int]) -> int:
        cands = list(cands)
        return max(cands, key=lambda m: depth[driven.index(m)]) if cands else -1

    out = _Follow(base=deepest(rigid))
    if partial:
        m, w = max(partial, key=lambda mw: depth[driven.index(mw[0])])
        out.partial, out.weight = m, w
    deeper_odd = [m for m in odd if out.base < 0 or moves[driven.index(out.base), driven.index(m)]]
    if deeper_odd:
        out.note = (f"'{names[own]}' follows '{names[deeper_odd[0]]}' in a way the retargeter "
                    "does not model (the achieved error shows how much it matters)")
    return out


def measure_skeleton(obj: Any, driven_names: Iterable[str],
                     points_from: Mapping[str, str] | None = None) -> Measurement:
    """The evaluated skeleton of ``obj`` for keying ``driven_names`` (see the module
    docstring). points_from: driven bone -> the (deform) bone whose evaluated rest head
    stands for it in the rest correction."""
    names = [pb.name for pb in obj.pose.bones]
    index = {n: i for i, n in enumerate(names)}
    driven = [index[n] for n in dict.fromkeys(driven_names) if n in index]
    edit_parent = np.array([index[pb.parent.name] if pb.parent else -1 for pb in obj.pose.bones])
    notes: list[str] = []
    with neutral_pose(obj):
        rest = evaluated_matrices(obj)
        rest_rot = _rotations(rest)
        resp = _responses(obj, driven, rest_rot)
    moves = _angle(resp[:, driven]) > MOVED  # (K, K): turning a moves b
    np.fill_diagonal(moves, False)
    parents = edit_parent.copy()
    partial = np.full(len(names), -1)
    weight = np.zeros(len(names))
    for k, b in enumerate(driven):
        if _angle(resp[k, b]) < MOVED:
            notes.append(f"keys on '{names[b]}' do not turn it (a constraint overrides it)")
        f = _follow(b, driven, resp, moves, names)
        parents[b], partial[b], weight[b] = f.base, f.partial, f.weight
        if f.note:
            notes.append(f.note)
    points = rest[:, :3, 3].copy()
    for bone, deform in (points_from or {}).items():
        if bone in index and deform in index:
            points[index[bone]] = rest[index[deform], :3, 3]
    rest_clean = rest.copy()
    rest_clean[:, :3, :3] = rest_rot
    skeleton = TargetSkeleton(tuple(names), parents, rest_clean, np.array(obj.matrix_world),
                              partial=partial, partial_weight=weight, points=points)
    return Measurement(skeleton, notes)
