"""Rigify rules: recognising a generated Rigify rig and its meta-rig.

What Apply does to a Rigify rig is data in ``rigs/rigify_fk.json`` (bone map, the deform
bones each control moves, the hips FK control as an extra pelvis bone, the custom properties
``IK_FK``, ``neck_follow``, ``head_follow`` set to 1). The rules here are what data cannot
say: *which* armature is a Rigify rig. A generated rig carries ``rig_id`` on its armature data
and ``IK_FK`` switches on its limb parent bones; a meta-rig has ``rigify_type`` set on its
pose bones (with the bundled Rigify add-on enabled) or the meta-rig's bone names. Name scoring
alone could pick the DEF-bone preset for a generated rig, whose DEF bones only copy others.
"""

from __future__ import annotations

from typing import Any

#: preset keys (files in rigs/) for the two kinds of Rigify armature
GENERATED_PRESET = "rigify_fk"
METARIG_PRESET = "rigify_metarig"
#: the custom property Rigify puts on each limb's parent control (0 = IK, 1 = FK)
LIMB_SWITCH = "IK_FK"
#: bones every Rigify human meta-rig has (the basic spine and limb rig types start there)
_METARIG_BONES = ("spine", "spine.006", "thigh.L", "upper_arm.L", "shoulder.L")


def is_generated_rig(obj: Any) -> bool:
    """A rig made by Rigify's Generate Rig: ``rig_id`` on the data and IK/FK switches."""
    if obj is None or getattr(obj, "type", None) != "ARMATURE" or "rig_id" not in obj.data:
        return False
    return any(LIMB_SWITCH in pb for pb in obj.pose.bones)


def is_metarig(obj: Any) -> bool:
    """A Rigify meta-rig: rig types on its pose bones, or the human meta-rig's bone names."""
    if obj is None or getattr(obj, "type", None) != "ARMATURE" or "rig_id" in obj.data:
        return False
    if any(getattr(pb, "rigify_type", "") for pb in obj.pose.bones):
        return True
    return all(name in obj.data.bones for name in _METARIG_BONES)


def preset_key(obj: Any) -> str | None:
    """The preset for a Rigify armature (generated rig or meta-rig), None for other rigs."""
    if is_generated_rig(obj):
        return GENERATED_PRESET
    if is_metarig(obj):
        return METARIG_PRESET
    return None
