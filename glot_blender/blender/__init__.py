"""Blender (bpy) library code: SMPL armatures and meshes, fast keyframes, retargeting, export.

No operators here: the extension's operators gather options and call these functions.
Import this package only inside Blender (it imports ``bpy``).
"""
