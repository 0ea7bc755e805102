"""Errors of the Blender animation library; operators catch :class:`AnimError` and report it.

Every message is one sentence that names the object, bone, file or option at fault.
"""

from __future__ import annotations


class AnimError(ValueError):
    """A scene change of this library (motion onto armatures, the video camera, an export)
    cannot be done as asked; the message says what to fix and the scene is unchanged."""


class MissingBonesError(AnimError):
    """The target armature lacks bones the bone map requires (``missing``: bone names), or
    the map gives no bone for required SMPL joints (``unmapped``: joint names)."""

    def __init__(self, armature: str, missing: list[str], unmapped: list[str] | tuple = ()) -> None:
        self.armature = armature
        self.missing = list(missing)
        self.unmapped = list(unmapped)
        parts = []
        if self.missing:
            parts.append(f"is missing the bones the bone map needs: {', '.join(self.missing)}")
        if self.unmapped:
            parts.append(f"has no bone mapped for the SMPL joints {', '.join(self.unmapped)}")
        super().__init__(
            f"armature '{armature}' {' and '.join(parts)}; pick another preset or fix the mapping"
        )


class ExportError(AnimError):
    """An FBX/BVH export that cannot be done as asked."""
