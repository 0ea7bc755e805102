"""The three rooms, guarded on every module that exists (found by walking the packages,
never from a hand-kept list):

- ``glot_blender/core`` imports numpy and the standard library only (Blender ships numpy but
  no scipy/torch/OpenCV; the server imports core without bpy);
- ``glot_blender`` outside core never imports torch, OpenCV, scipy, smplx or the server;
- ``inference_server`` imports nothing of ``glot_blender`` but ``core``.

Imports are read from the source (every ``import`` statement, module level or inside a
function, relative ones resolved), and core's modules are also imported for real in a fresh
interpreter to see what they pull in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ADDON_FORBIDDEN = ("torch", "torchvision", "cv2", "scipy", "smplx", "mediapipe", "inference_server")
CORE_ALLOWED_THIRD_PARTY = ("numpy",)
#: made by numpy's compiled extensions when it loads; not a package anyone imports
INTERPRETER_MODULES = ("cython_runtime",)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(package: str) -> list[Path]:
    files = sorted((REPO / package.replace(".", "/")).rglob("*.py"))
    assert files, package
    return files


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)  # maybe submodules
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_package_module(name: str) -> bool:
    """True when ``name`` is a module or package of this repository (not a class or function
    brought in by ``from x import y``)."""
    path = REPO / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_walk_finds_every_module() -> None:
    core = {module_name(p) for p in modules_of("glot_blender.core")}
    assert {"glot_blender.core.motion_clip", "glot_blender.core.protocol",
            "glot_blender.core.locations", "glot_blender.core.smpl_pickle"} <= core
    server = {module_name(p) for p in modules_of("inference_server")}
    assert {"inference_server.server", "inference_server.pipeline",
            "inference_server.stages.people"} <= server


@pytest.mark.parametrize("path", modules_of("glot_blender.core"), ids=module_name)
def test_core_reads_numpy_and_stdlib_only(path: Path) -> None:
    stdlib = sys.stdlib_module_names
    bad = sorted(
        name for name in imports_of(path)
        if _top(name) not in stdlib and _top(name) not in CORE_ALLOWED_THIRD_PARTY
        and _top(name) != "__future__"
        and not (name == "glot_blender" or name.startswith("glot_blender.core"))
    )
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize(
    "path", [p for p in modules_of("glot_blender") if "core" not in p.relative_to(REPO).parts[1:2]],
    ids=module_name,
)
def test_addon_never_imports_the_server_stack(path: Path) -> None:
    bad = sorted(n for n in imports_of(path) if _top(n) in ADDON_FORBIDDEN)
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("path", modules_of("inference_server"), ids=module_name)
def test_server_reaches_into_core_only(path: Path) -> None:
    bad = sorted(
        n for n in imports_of(path)
        if _top(n) == "glot_blender" and n != "glot_blender"
        and not n.startswith("glot_blender.core") and _is_package_module(n)
    )
    assert not bad, f"{module_name(path)} imports {bad}"


def test_core_modules_import_numpy_and_stdlib_only_for_real() -> None:
    """Importing every core module pulls in nothing but numpy, the standard library and core."""
    names = [module_name(p) for p in modules_of("glot_blender.core")]
    code = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)\n"
        "for name in json.loads(sys.argv[1]): importlib.import_module(name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(names)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = sorted(
        n for n in loaded
        if _top(n) not in sys.stdlib_module_names and _top(n) not in CORE_ALLOWED_THIRD_PARTY
        and not (n == "glot_blender" or n.startswith("glot_blender.core"))
        and not n.startswith("_")  # interpreter internals (_distutils_hack and friends)
        and n not in INTERPRETER_MODULES
    )
    assert not bad, f"importing glot_blender.core pulls in {bad}"
