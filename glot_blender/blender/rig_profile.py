"""What an armature's rig preset says beyond the bone map, and the detected map itself.

A preset (``rigs/*.json``, :mod:`glot_blender.core.bone_maps`) may carry, for rigs whose
deform bones follow controls through constraints: ``deform_bones`` (which deform bone each
mapped control moves: its evaluated rest head is used for the rest correction and the
achieved-error check), ``extra_bones`` (bones that take an SMPL joint's world rotation
besides its own bone) and ``properties`` (pose-bone custom properties set and keyed on
Apply, e.g. Rigify's IK/FK switches). :func:`detect_bone_map` is the one place that picks a
preset for an armature: the rig-type rules (:mod:`.rigify`) first, then name scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core import bone_maps
from . import rigify
from .errors import AnimError
from .keyframes import ChannelKeys


@dataclass(frozen=True)
class RigProfile:
    """The non-map part of the preset that fits an armature (empty for plain rigs)."""

    key: str = ""
    rig_type: str = ""
    deform_bones: dict[str, str] = field(default_factory=dict)
    extra_bones: dict[str, str] = field(default_factory=dict)
    properties: dict[str, float] = field(default_factory=dict)

    def property_targets(self, obj: Any) -> list[tuple[str, str]]:
        """(pose bone, property) pairs of the armature that carry one of ``properties``."""
        return [(pb.name, prop) for pb in obj.pose.bones for prop in self.properties if prop in pb]

    def switch(self, obj: Any) -> None:
        """Set every listed property where the armature has it (e.g. limbs to FK)."""
        for bone, prop in self.property_targets(obj):
            obj.pose.bones[bone][prop] = type(obj.pose.bones[bone][prop])(self.properties[prop])

    def keys(self, obj: Any, num_frames: int) -> list[ChannelKeys]:
        """Constant keys holding the properties over the action, so it plays back the same
        whatever the switches are set to later."""
        from bpy.utils import escape_identifier

        return [ChannelKeys(f'pose.bones["{escape_identifier(bone)}"]["{escape_identifier(prop)}"]',
                            np.full((num_frames, 1), self.properties[prop]), bone)
                for bone, prop in self.property_targets(obj)]


def _preset_for(obj: Any, names: list[str]) -> bone_maps.RigPreset | None:
    key = rigify.preset_key(obj)
    if key is not None:
        return bone_maps.load_preset(key)
    return bone_maps.detect_preset(names)


def detect_bone_map(obj: Any) -> bone_maps.BoneMapResult:
    """The bone map Detect fills in and Apply uses when none is given: the rig-type rules'
    preset, else the best-scoring preset, else name patterns (raises AnimError when the
    preset files cannot be read)."""
    names = [b.name for b in obj.data.bones]
    try:
        preset = _preset_for(obj, names)
    except bone_maps.PresetError as exc:
        raise AnimError(f"Cannot read the bone-map presets: {exc}") from exc
    return bone_maps.resolve(preset, names) if preset is not None else bone_maps.auto_map(names)


def rig_profile(obj: Any, preset_key: str | Path | None = None) -> RigProfile:
    """The profile of ``preset_key`` (a preset key or file), else of the preset that fits
    ``obj``, restricted to its bones; an empty profile when no preset fits."""
    names = [b.name for b in obj.data.bones]
    try:
        preset = (bone_maps.load_preset(preset_key) if preset_key is not None
                  else _preset_for(obj, names))
    except bone_maps.PresetError as exc:
        raise AnimError(f"Cannot read the bone-map presets: {exc}") from exc
    if preset is None:
        return RigProfile()
    have = set(names)
    return RigProfile(
        key=preset.key, rig_type=preset.rig_type,
        deform_bones={b: d for b, d in preset.deform_bones.items() if b in have and d in have},
        extra_bones={b: j for b, j in preset.extra_bones.items() if b in have},
        properties=dict(preset.properties),
    )
