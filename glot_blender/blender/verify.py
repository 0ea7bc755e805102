"""After Apply: evaluate the rig and measure how far its deform bones are from SMPL.

For a sample of the clip's frames the scene is evaluated (``frame_set``: constraints,
drivers, everything Blender does), and for each mapped SMPL joint the deform bone that
stands for it (the preset's ``deform_bones``, else the mapped bone) is compared with SMPL's
forward kinematics in world space:

- a joint with a mapped child: the direction from its deform bone's head to the child's
  against SMPL's joint -> child direction;
- a joint without one (head, hands, toes): the bone's y axis against its rest y axis turned
  by the intended rotation ``D_j @ Q_j`` (SMPL's world rotation change after rest correction).

Errors are reported per body group (mean and max, degrees) in the result and in the panel.
The scene's current frame is put back afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.retarget import PRIMARY_CHILD, RetargetResult, SourceMotion, TargetSkeleton
from ..core.smpl_skeleton import JOINT_NAMES
from .evaluated import evaluated_matrices

#: body groups of the report, in display order
GROUPS: dict[str, tuple[str, ...]] = {
    "spine": ("pelvis", "spine1", "spine2", "spine3"),
    "head": ("neck", "head"),
    "arms": ("left_collar", "right_collar", "left_shoulder", "right_shoulder", "left_elbow",
             "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"),
    "legs": ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
             "left_foot", "right_foot"),
}
#: at most this many frames are evaluated (evenly spread over the clip)
MAX_SAMPLES = 40
#: custom property on the armature holding the last check: the summary line, then one line
#: per note of the measurement (:meth:`RetargetCheck.text`)
CHECK_PROP = "glot_retarget_check"


@dataclass
class GroupError:
    name: str
    mean_deg: float
    max_deg: float
    worst_joint: str


@dataclass
class RetargetCheck:
    """Achieved error per body group over ``frames`` evaluated frames; notes from the
    measurement (what the retargeter could not model)."""

    groups: list[GroupError]
    frames: int
    per_joint_max: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for reports and the panel: ``legs 0.4°/1.2°, arms …`` (mean/max)."""
        parts = [f"{g.name} {g.mean_deg:.1f}°/{g.max_deg:.1f}°" for g in self.groups]
        return "achieved error (mean/max) " + ", ".join(parts) if parts else "nothing to check"

    def text(self) -> str:
        """The summary, then each note on its own line (what CHECK_PROP holds)."""
        return "\n".join([self.summary(), *self.notes])

    def group(self, name: str) -> GroupError | None:
        return next((g for g in self.groups if g.name == name), None)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 1e-12, n, 1.0)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), -1), -1.0, 1.0)))


def sample_rows(num_frames: int, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    return np.unique(np.linspace(0, num_frames - 1, min(num_frames, max_samples)).round().astype(int))


def check_retarget(obj: Any, scene: Any, source: SourceMotion, result: RetargetResult,
                   skeleton: TargetSkeleton, groups: Mapping[str, Sequence[str]],
                   frames: np.ndarray, deform_bones: Mapping[str, str] | None = None,
                   max_samples: int = MAX_SAMPLES) -> RetargetCheck:
    """Evaluate ``obj`` on up to max_samples of ``frames`` (Blender frame of each source row)
    and compare its deform bones with SMPL (see the module docstring)."""
    deform_bones = deform_bones or {}
    index = {pb.name: i for i, pb in enumerate(obj.pose.bones)}
    stand_in = {j: deform_bones.get(bones[0], bones[0]) for j, bones in groups.items()}
    stand_in = {j: b for j, b in stand_in.items() if b in index}
    rest = {j: skeleton.rest_matrices[skeleton.index(b)] for j, b in stand_in.items()
            if b in skeleton.names}
    src_rest = source.rest_joints
    rows = sample_rows(source.num_frames, max_samples)
    errors: dict[str, list[float]] = {j: [] for j in stand_in}
    current = (scene.frame_current, scene.frame_subframe)
    try:
        for row in rows:
            frame = float(frames[row])
            scene.frame_set(int(np.floor(frame)), subframe=float(frame - np.floor(frame)))
            mats = evaluated_matrices(obj)
            world = np.array(obj.matrix_world)
            obj_rot = world[:3, :3] / np.cbrt(abs(np.linalg.det(world[:3, :3])))
            for j, bone in stand_in.items():
                jj = JOINT_NAMES.index(j)
                delta = source.deltas[row, jj]
                child = PRIMARY_CHILD.get(j)
                m = mats[index[bone]]
                if child in stand_in:
                    got = obj_rot @ (mats[index[stand_in[child]], :3, 3] - m[:3, 3])
                    want = delta @ (src_rest[JOINT_NAMES.index(child)] - src_rest[jj])
                elif j in rest and j in result.corrections:
                    got = obj_rot @ m[:3, 1]
                    want = obj_rot @ (obj_rot.T @ delta @ obj_rot) @ result.corrections[j] @ rest[j][:3, 1]
                else:
                    continue
                errors[j].append(float(_angle_deg(got, want)))
    finally:
        scene.frame_set(current[0], subframe=current[1])
    per_joint = {j: max(e) for j, e in errors.items() if e}
    out = []
    for name, joints in GROUPS.items():
        vals = [v for j in joints for v in errors.get(j, [])]
        if vals:
            worst = max((j for j in joints if j in per_joint), key=per_joint.get)
            out.append(GroupError(name, float(np.mean(vals)), float(np.max(vals)), worst))
    return RetargetCheck(out, len(rows), per_joint)
