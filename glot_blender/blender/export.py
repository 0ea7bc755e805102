"""Export an animated armature (and the meshes it deforms) to FBX or BVH.

FBX presets carry the settings each target pipeline expects (axes, scale, leaf bones,
baking); only the chosen armature and its meshes are written. Selection, active object and
the scene frame range are restored afterwards, so an export never changes the scene.

Several people: one FBX per armature (:func:`export_fbx_per_armature`, files named by person
id, as mocap services deliver them) is the default; :func:`export_fbx_armatures` with
``unique_bones=True`` writes them all into one file with each armature's bones prefixed by
its person (``P3_pelvis``), because readers other than Blender's (assimp, game engines)
merge same-named bones of different armatures into one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bpy

from ..core.person_files import person_file_path, person_label
from ..core.safe_files import OutputPathError, check_output, display, publishing
from .actions import action_fcurves
from .armature import TRACK_ID_PROP
from .errors import ExportError

#: (label, path) pairs of inputs an export must never replace (the video, the motion clip)
Protected = Iterable[tuple[str, "str | Path"]]


@dataclass(frozen=True)
class FbxPreset:
    """Keyword arguments of ``bpy.ops.export_scene.fbx`` that differ between pipelines."""

    axis_forward: str = "-Z"
    axis_up: str = "Y"
    global_scale: float = 1.0
    apply_unit_scale: bool = True
    apply_scale_options: str = "FBX_SCALE_NONE"
    add_leaf_bones: bool = False
    primary_bone_axis: str = "Y"
    secondary_bone_axis: str = "X"
    armature_nodetype: str = "NULL"
    use_armature_deform_only: bool = False
    mesh_smooth_type: str = "OFF"
    bake_anim_simplify_factor: float = 0.0  # keep every key: mocap has no redundant keys


#: Unity: all scalings applied to the FBX so the rig imports at scale 1 with no 100x/0.01x
#: transforms; -Z forward / Y up is what Unity's importer converts from.
UNITY = FbxPreset(apply_scale_options="FBX_SCALE_ALL", mesh_smooth_type="FACE")
#: Unreal: unit scale left in the file (UE converts metres to its centimetres itself),
#: no leaf bones (UE would import them as real bones), smoothing groups for the mesh.
UNREAL = FbxPreset(apply_scale_options="FBX_SCALE_NONE", mesh_smooth_type="FACE")
#: Mixamo-style: end ("leaf") bones like Mixamo's own files, deform bones only.
MIXAMO = FbxPreset(add_leaf_bones=True, use_armature_deform_only=True)

FBX_PRESETS: dict[str, FbxPreset] = {"unity": UNITY, "unreal": UNREAL, "mixamo": MIXAMO}
_DESCRIPTIONS: dict[str, str] = {
    "unity": "Unity: -Z forward, Y up, all scalings applied, no leaf bones, baked keys",
    "unreal": "Unreal Engine: unit scale kept for UE's importer, no leaf bones, baked keys",
    "mixamo": "Mixamo-style: leaf (end) bones added, deform bones only, baked keys",
}


def preset_descriptions() -> dict[str, str]:
    """FBX preset name -> one-line description (for the export menu)."""
    return {name: _DESCRIPTIONS[name] for name in FBX_PRESETS}

#: object types written alongside the armature
EXPORT_OBJECT_TYPES = {"ARMATURE", "MESH"}


def _check_armature(obj: Any) -> None:
    if obj is None or getattr(obj, "type", None) != "ARMATURE":
        name = getattr(obj, "name", None)
        raise ExportError(f"nothing to export: '{name}' is not an armature; select the animated armature")
    anim = obj.animation_data
    if anim is None or anim.action is None or not action_fcurves(anim.action):
        raise ExportError(
            f"armature '{obj.name}' has no animation: apply a motion clip to it before exporting"
        )


def _check_camera(obj: Any) -> None:
    if obj is not None and getattr(obj, "type", None) != "CAMERA":
        raise ExportError(f"'{getattr(obj, 'name', obj)}' is not a camera object")


def deformed_meshes(armature_obj: Any) -> list[Any]:
    """Mesh objects with an Armature modifier pointing at ``armature_obj``."""
    return [
        o for o in bpy.data.objects
        if o.type == "MESH"
        and any(m.type == "ARMATURE" and m.object == armature_obj for m in o.modifiers)
    ]


@contextmanager
def _selected_only(objects: list[Any], scene: Any) -> Iterator[None]:
    """Select exactly ``objects`` (first one active) and the frame range covering the
    armatures' actions; restore."""
    view_layer = bpy.context.view_layer
    before = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    frames = (scene.frame_start, scene.frame_end)
    try:
        for o in before:
            o.select_set(False)
        for o in objects:
            o.select_set(True)
        view_layer.objects.active = objects[0]
        ranges = [o.animation_data.action.frame_range for o in objects
                  if o.type == "ARMATURE" and o.animation_data and o.animation_data.action]
        scene.frame_start = int(min(r[0] for r in ranges))
        scene.frame_end = round(max(r[1] for r in ranges))
        yield
    finally:
        for o in view_layer.objects:
            o.select_set(o in before)
        view_layer.objects.active = active
        scene.frame_start, scene.frame_end = frames


def _target_path(filepath: str | Path, suffix: str, protect: Protected = ()) -> Path:
    """The export file, checked: the right extension, an existing folder, not one of the
    ``protect``ed inputs ((label, path) pairs: the video, the motion clip) and writable."""
    path = Path(filepath)
    if path.suffix.lower() != suffix:
        raise ExportError(f"export file '{display(path.name)}' must end in {suffix}")
    if not path.parent.is_dir():
        raise ExportError(f"folder '{display(path.parent)}' does not exist: choose an existing folder")
    try:
        check_output(path, protect, what="export file")
    except OutputPathError as exc:
        raise ExportError(str(exc)) from exc
    return path


def _write_atomically(path: Path, exporter: Callable[[str], set[str]], kind: str,
                      may_publish: Callable[[], bool] | None = None) -> Path:
    """Run Blender's ``exporter`` on a temporary file beside ``path`` and rename it over
    ``path`` only when the export completed: an interrupted or failed export leaves the
    previous file as it was."""
    with publishing(path, suffix=path.suffix, may_publish=may_publish) as temp:
        result = exporter(str(temp))
        if "FINISHED" not in result or temp.stat().st_size == 0:
            raise ExportError(f"Blender's {kind} exporter did not write '{display(path)}'")
    return path


def armature_label(armature_obj: Any) -> str:
    """``P<id>`` for a rig made for a person of a motion clip, else the object's name made
    safe for file and bone names."""
    if TRACK_ID_PROP in armature_obj:
        return person_label(int(armature_obj[TRACK_ID_PROP]))
    return bpy.path.clean_name(armature_obj.name)


def person_labels(armature_objs: Sequence[Any]) -> list[str]:
    """:func:`armature_label` of each armature, or their object names where two would share a
    label (two rigs of one person), so that labels are unique."""
    labels = [armature_label(o) for o in armature_objs]
    if len(set(labels)) == len(labels):
        return labels
    return [bpy.path.clean_name(o.name) for o in armature_objs]


@contextmanager
def _unique_bone_names(armature_objs: Sequence[Any]) -> Iterator[None]:
    """Prefix every bone with its armature's label (:func:`person_labels`; Blender renames the
    action's channels and the meshes' vertex groups with it); the old names come back."""
    renamed: list[tuple[Any, str, str]] = []
    try:
        for obj, prefix in zip(armature_objs, person_labels(armature_objs)):
            for bone in list(obj.data.bones):
                old = bone.name
                bone.name = f"{prefix}_{old}"
                renamed.append((obj, bone.name, old))
        yield
    finally:
        for obj, new, old in reversed(renamed):
            obj.data.bones[new].name = old


def export_fbx(
    armature_obj: Any, filepath: str | Path, preset: str | FbxPreset = "unity", scene: Any = None,
    protect: Protected = (), camera: Any = None,
) -> Path:
    """Write the armature, its deformed meshes and its active action to an FBX file (and
    ``camera``, a camera object with its animation, when given)."""
    return export_fbx_armatures([armature_obj], filepath, preset, scene, protect=protect,
                                camera=camera)


def export_fbx_per_armature(
    armature_objs: Sequence[Any], filepath: str | Path, preset: str | FbxPreset = "unity",
    scene: Any = None, protect: Protected = (), may_publish: Callable[[], bool] | None = None,
    camera: Any = None,
) -> list[Path]:
    """One FBX per armature, named by :func:`~glot_blender.core.person_files.person_file_path` (``walk_P3.fbx``); a single
    armature is written to ``filepath`` itself; ``camera`` goes into each file. Everything
    (each file against ``protect`` too) is checked before the first write."""
    if not armature_objs:
        raise ExportError("nothing to export: no armature was given")
    for obj in armature_objs:
        _check_armature(obj)
    _check_camera(camera)
    _target_path(filepath, ".fbx", protect)
    if len(armature_objs) == 1:
        paths = [Path(filepath)]
    else:
        paths = [person_file_path(filepath, label) for label in person_labels(armature_objs)]
    for path in paths:
        _target_path(path, ".fbx", protect)
    return [export_fbx_armatures([o], path, preset, scene, protect=protect,
                                 may_publish=may_publish, camera=camera)
            for o, path in zip(armature_objs, paths)]


def export_fbx_armatures(
    armature_objs: Sequence[Any], filepath: str | Path, preset: str | FbxPreset = "unity",
    scene: Any = None, unique_bones: bool = False, protect: Protected = (),
    may_publish: Callable[[], bool] | None = None, camera: Any = None,
) -> Path:
    """Write several animated armatures (one per person), their deformed meshes and each
    one's active action to ONE FBX file; the frame range covers all actions.

    unique_bones: prefix every bone with its person (``P3_pelvis``) in the file (the scene
    keeps its names), so that readers which match bones by name keep the people apart.
    protect: (label, path) inputs the file must not replace; may_publish: asked before the
    finished file replaces ``filepath`` (see :func:`..core.safe_files.publishing`).
    camera: a camera object written too, with its animation (Set Up Camera's solved path).
    """
    if isinstance(preset, str):
        if preset not in FBX_PRESETS:
            raise ExportError(f"unknown FBX preset '{preset}'; use one of {sorted(FBX_PRESETS)}")
        preset = FBX_PRESETS[preset]
    if not armature_objs:
        raise ExportError("nothing to export: no armature was given")
    for obj in armature_objs:
        _check_armature(obj)
    _check_camera(camera)
    path = _target_path(filepath, ".fbx", protect)
    scene = scene or bpy.context.scene
    objects = [*armature_objs, *(m for a in armature_objs for m in deformed_meshes(a))]
    types = EXPORT_OBJECT_TYPES
    if camera is not None:
        objects.append(camera)
        types = types | {"CAMERA"}
    renaming = _unique_bone_names(armature_objs) if unique_bones else nullcontext()
    with renaming, _selected_only(objects, scene):
        return _write_atomically(path, lambda temp: _fbx_operator(temp, preset, types), "FBX",
                                 may_publish)


def _fbx_operator(filepath: str, preset: FbxPreset,
                  object_types: set[str] = EXPORT_OBJECT_TYPES) -> set[str]:
    return bpy.ops.export_scene.fbx(
        filepath=filepath,
        use_selection=True,
        object_types=object_types,
        bake_anim=True,
        bake_anim_use_all_bones=True,
        bake_anim_use_nla_strips=False,
        bake_anim_use_all_actions=False,
        bake_anim_force_startend_keying=True,
        bake_anim_step=1.0,
        path_mode="AUTO",
        **asdict(preset),
    )


def export_bvh(
    armature_obj: Any, filepath: str | Path, scene: Any = None, global_scale: float = 1.0,
    protect: Protected = (),
) -> Path:
    """Write the armature's active action to a BVH file with Blender's exporter."""
    _check_armature(armature_obj)
    path = _target_path(filepath, ".bvh", protect)
    scene = scene or bpy.context.scene
    with _selected_only([armature_obj], scene):
        return _write_atomically(path, lambda temp: bpy.ops.export_anim.bvh(
            filepath=temp,
            frame_start=scene.frame_start,
            frame_end=scene.frame_end,
            rotate_mode="NATIVE",
            root_transform_only=False,
            global_scale=global_scale,
        ), "BVH")
