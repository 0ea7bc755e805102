"""Pose-bone values (the basis under any action): snapshot, restore, reset to rest.

Blender keeps a bone's last evaluated value on the pose bone when the F-curve that drove it
goes away, so an armature re-applied with a smaller bone map would otherwise keep the old
pose (or an old NaN) on bones that are no longer keyed. :func:`stale_bones` finds them and
:func:`reset_to_rest` puts them back; :class:`PoseSnapshot` undoes either on failure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .actions import action_fcurves

#: pose-bone channels a snapshot keeps (rotation_mode first: it decides which one is used)
CHANNELS = ("rotation_mode", "location", "rotation_quaternion", "rotation_euler",
            "rotation_axis_angle", "scale")
REST_VALUES = {"location": (0.0, 0.0, 0.0), "rotation_quaternion": (1.0, 0.0, 0.0, 0.0),
               "rotation_euler": (0.0, 0.0, 0.0), "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0),
               "scale": (1.0, 1.0, 1.0)}
_BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.')


def _value(pose_bone: Any, channel: str) -> Any:
    value = getattr(pose_bone, channel)
    return value if isinstance(value, str) else tuple(value)


@dataclass
class PoseSnapshot:
    """The channels of some pose bones and some custom properties of one armature object."""

    obj: Any
    bones: dict[str, dict[str, Any]] = field(default_factory=dict)
    props: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def take(cls, obj: Any, bone_names: Iterable[str] = (),
             props: Iterable[tuple[str, str]] = ()) -> PoseSnapshot:
        """Remember ``bone_names``' channels and the custom properties ``(bone, name)``."""
        snap = cls(obj)
        for name in bone_names:
            pb = obj.pose.bones[name]
            snap.bones[name] = {c: _value(pb, c) for c in CHANNELS}
        for bone, prop in props:
            snap.props[(bone, prop)] = obj.pose.bones[bone].get(prop)
        return snap

    def restore(self) -> None:
        for name, values in self.bones.items():
            pb = self.obj.pose.bones.get(name)
            if pb is not None:
                for channel, value in values.items():
                    setattr(pb, channel, value)
        for (bone, prop), value in self.props.items():
            pb = self.obj.pose.bones.get(bone)
            if pb is not None and value is not None:
                pb[prop] = value


def keyed_bones(action: Any | None) -> set[str]:
    """Names of the pose bones ``action`` has F-curves for (any slot)."""
    if action is None:
        return set()
    out = set()
    for fc in action_fcurves(action):
        m = _BONE_PATH.match(fc.data_path)
        if m:
            out.add(m.group(1).replace('\\"', '"').replace("\\\\", "\\"))
    return out


def non_finite_bones(obj: Any) -> set[str]:
    """Pose bones whose current basis holds a NaN or infinite value."""
    out = set()
    for pb in obj.pose.bones:
        for channel in REST_VALUES:
            if not all(math.isfinite(v) for v in getattr(pb, channel)):
                out.add(pb.name)
                break
    return out


def stale_bones(obj: Any, keyed_now: Iterable[str]) -> set[str]:
    """Bones the object's current action keys but ``keyed_now`` does not, plus any bone
    whose pose holds a non-finite value: what a new action must put back to rest."""
    anim = obj.animation_data
    previous = keyed_bones(anim.action if anim is not None else None)
    return ((previous - set(keyed_now)) | non_finite_bones(obj)) & set(obj.pose.bones.keys())


def reset_to_rest(obj: Any, bone_names: Iterable[str]) -> None:
    """Identity location/rotation/scale on ``bone_names`` (their rotation mode is kept)."""
    for name in bone_names:
        pb = obj.pose.bones[name]
        for channel, value in REST_VALUES.items():
            setattr(pb, channel, value)
