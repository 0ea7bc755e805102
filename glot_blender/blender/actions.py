"""One small layer over Blender's two action APIs.

Blender 4.2 and 4.3 keep F-curves on ``Action.fcurves``. Blender 4.4 introduced slotted
actions (F-curves live in ``action.layers[].strips[].channelbag(slot).fcurves``) and kept
``Action.fcurves`` only as a legacy shim; Blender 5.0 removed it. Everything else in this
package goes through :class:`ActionChannels`, so nothing else needs to know which API the
running Blender has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bpy

LAYER_NAME = "Layer"


#: first Blender with slotted actions as THE action API (4.2/4.3 only had an experimental,
#: differently named version of it behind a flag; legacy ``Action.fcurves`` is what they use)
SLOTTED_ACTIONS_VERSION = (4, 4, 0)


def has_slotted_actions() -> bool:
    """True on Blender 4.4+ (actions with slots, layers, strips and channelbags)."""
    return tuple(bpy.app.version) >= SLOTTED_ACTIONS_VERSION


def _fcurves_new_takes_group(fcurves: Any) -> bool:
    """Blender 5.0 added ``group_name`` to channelbag ``fcurves.new``; 4.4/4.5 lack it."""
    return "group_name" in fcurves.bl_rna.functions["new"].parameters


@dataclass
class ActionChannels:
    """The F-curve container of one action as seen by one animated ID.

    ``fcurves`` is ``action.fcurves`` (Blender < 4.4) or the channelbag's ``fcurves``
    (Blender 4.4+); ``slot`` is the action slot (``None`` before 4.4).
    """

    action: Any
    fcurves: Any
    slot: Any = None
    groups: Any = None  # the channelbag's F-curve groups (Blender 4.4+)
    _cache: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    def fcurve(self, data_path: str, index: int = 0, group: str = "") -> Any:
        """Get or create the F-curve for ``(data_path, index)``, in ``group`` when created."""
        key = (data_path, index)
        fc = self._cache.get(key)
        if fc is None:
            fc = self.fcurves.find(data_path, index=index)
            if fc is None:
                fc = self._new_fcurve(data_path, index, group)
            self._cache[key] = fc
        return fc

    def _new_fcurve(self, data_path: str, index: int, group: str) -> Any:
        if self.slot is None:
            return self.fcurves.new(data_path, index=index, action_group=group)
        if _fcurves_new_takes_group(self.fcurves):
            return self.fcurves.new(data_path, index=index, group_name=group)
        fc = self.fcurves.new(data_path, index=index)
        if group and self.groups is not None:
            fc.group = self.groups.get(group) or self.groups.new(group)
        return fc


def new_action_for(id_data: Any, name: str) -> ActionChannels:
    """Create a NEW action called ``name`` and assign it to ``id_data`` (an object).

    The ID's previous action is simply replaced as the active action (its data block, other
    actions and NLA tracks are left alone). Returns the action's F-curve container.
    """
    action = bpy.data.actions.new(name)
    anim = id_data.animation_data or id_data.animation_data_create()
    if not has_slotted_actions():
        anim.action = action
        return ActionChannels(action=action, fcurves=action.fcurves)
    slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
    layer = action.layers.new(LAYER_NAME)
    strip = layer.strips.new(type="KEYFRAME")
    channelbag = strip.channelbag(slot, ensure=True)
    anim.action = action
    anim.action_slot = slot
    return ActionChannels(action=action, fcurves=channelbag.fcurves, slot=slot,
                          groups=channelbag.groups)


def channels_of(id_data: Any) -> ActionChannels | None:
    """The F-curve container of the action assigned to ``id_data``, or ``None`` without one."""
    anim = id_data.animation_data
    action = anim.action if anim is not None else None
    if action is None:
        return None
    if not has_slotted_actions():
        return ActionChannels(action=action, fcurves=action.fcurves)
    slot = anim.action_slot
    if slot is None:
        return None
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return ActionChannels(action=action, fcurves=bag.fcurves, slot=slot,
                                      groups=bag.groups)
    return None


def action_fcurves(action: Any) -> list[Any]:
    """Every F-curve of ``action`` (all slots on Blender 4.4+)."""
    if not has_slotted_actions():
        return list(action.fcurves)
    curves: list[Any] = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", ()):
                curves.extend(bag.fcurves)
    return curves
