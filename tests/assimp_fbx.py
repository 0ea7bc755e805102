"""An independent FBX reader for tests: the Open Asset Import Library (assimp), as many game
engines and tools use it, through the C API of the library that the ``assimp-py`` wheel
(PyPI) ships. ``assimp-py``'s own Python API has no animations, so the few C structs needed
(``aiScene`` -> ``aiAnimation`` -> ``aiNodeAnim``, assimp 5.x layout) are read with ctypes.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

MAXLEN = 1024  # assimp's aiString buffer


class AiString(ctypes.Structure):
    _fields_ = [("length", ctypes.c_uint32), ("data", ctypes.c_char * MAXLEN)]

    def text(self) -> str:
        return self.data[: self.length].decode("utf-8", "replace")


class AiNodeAnim(ctypes.Structure):
    _fields_ = [
        ("mNodeName", AiString),
        ("mNumPositionKeys", ctypes.c_uint),
        ("mPositionKeys", ctypes.c_void_p),
        ("mNumRotationKeys", ctypes.c_uint),
        ("mRotationKeys", ctypes.c_void_p),
        ("mNumScalingKeys", ctypes.c_uint),
        ("mScalingKeys", ctypes.c_void_p),
    ]


class AiAnimation(ctypes.Structure):
    _fields_ = [
        ("mName", AiString),
        ("mDuration", ctypes.c_double),
        ("mTicksPerSecond", ctypes.c_double),
        ("mNumChannels", ctypes.c_uint),
        ("mChannels", ctypes.POINTER(ctypes.POINTER(AiNodeAnim))),
    ]


class AiScene(ctypes.Structure):
    _fields_ = [
        ("mFlags", ctypes.c_uint),
        ("mRootNode", ctypes.c_void_p),
        ("mNumMeshes", ctypes.c_uint),
        ("mMeshes", ctypes.c_void_p),
        ("mNumMaterials", ctypes.c_uint),
        ("mMaterials", ctypes.c_void_p),
        ("mNumAnimations", ctypes.c_uint),
        ("mAnimations", ctypes.POINTER(ctypes.POINTER(AiAnimation))),
    ]


@dataclass(frozen=True)
class Channel:
    """One animated node: its name and how many rotation / position keys it has."""

    node: str
    rotation_keys: int
    position_keys: int


@dataclass(frozen=True)
class FbxAnimations:
    """What assimp reads from a file: per animation, its channels; and the mesh count."""

    animations: list[list[Channel]]
    num_meshes: int


def _library() -> ctypes.CDLL:
    from assimp_py import assimp_py as native  # the wheel's extension links assimp statically

    lib = ctypes.CDLL(native.__file__)
    lib.aiImportFile.restype = ctypes.POINTER(AiScene)
    lib.aiImportFile.argtypes = [ctypes.c_char_p, ctypes.c_uint]
    lib.aiReleaseImport.argtypes = [ctypes.POINTER(AiScene)]
    lib.aiGetErrorString.restype = ctypes.c_char_p
    return lib


def read_fbx(path: str | Path) -> FbxAnimations:
    """Animations and mesh count of ``path`` as assimp reads them (raises OSError)."""
    lib = _library()
    scene_p = lib.aiImportFile(str(path).encode(), 0)
    if not scene_p:
        raise OSError(f"assimp cannot read {path}: {lib.aiGetErrorString().decode()}")
    try:
        scene = scene_p.contents
        animations = []
        for a in range(scene.mNumAnimations):
            anim = scene.mAnimations[a].contents
            channels = []
            for c in range(anim.mNumChannels):
                ch = anim.mChannels[c].contents
                channels.append(
                    Channel(ch.mNodeName.text(), ch.mNumRotationKeys, ch.mNumPositionKeys)
                )
            animations.append(channels)
        return FbxAnimations(animations, int(scene.mNumMeshes))
    finally:
        lib.aiReleaseImport(scene_p)
