"""Errors of the Blender animation library; operators catch :class:`AnimError` and report it.

Every message is one sentence that names the object, bone, file or option at fault.
"""

from __future__ import annotations


class AnimError(ValueError):
    """Motion could not be put on an armature or exported; the message says what to fix."""


class MissingBonesError(AnimError):
    """The target armature lacks bones the bone map requires."""

    def __init__(self, armature: str, missing: list[str]) -> None:
        self.armature = armature
        self.missing = list(missing)
        names = ", ".join(self.missing)
        super().__init__(
            f"armature '{armature}' is missing the bones the bone map needs: {names}; "
            "pick another preset or fix the mapping"
        )


class ExportError(AnimError):
    """An FBX/BVH export that cannot be done as asked."""
