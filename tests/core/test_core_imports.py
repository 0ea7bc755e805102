"""glot_blender.core must import with numpy and the standard library only (Blender ships
numpy but not scipy/torch/OpenCV; the server imports core without bpy)."""

from __future__ import annotations

import subprocess
import sys

MODULES = ("rotations", "kinematics", "smoothing", "retarget", "foot_contact", "bvh", "bone_maps")
FORBIDDEN = ("bpy", "mathutils", "torch", "scipy", "cv2", "smplx")


def test_core_modules_import_numpy_and_stdlib_only(repo_root):
    code = (
        "import sys\n"
        + "".join(f"import glot_blender.core.{m}\n" for m in MODULES)
        + f"bad = sorted(set({FORBIDDEN!r}) & set(sys.modules))\n"
        + "print(','.join(bad))\n"
        + "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"forbidden imports: {proc.stdout.strip()} {proc.stderr[-500:]}"
