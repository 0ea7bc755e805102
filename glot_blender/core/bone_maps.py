"""Bone-map presets (data files in ``rigs/``), their validation, preset detection and
name-pattern auto-mapping (numpy-free, stdlib only).

A bone map sends SMPL joint names to target bone names: ``{"left_knee": "mixamorig:LeftLeg"}``.
A value may be a list of bones (a chain, root to tip: one SMPL joint drives several bones,
e.g. UE5's five spine bones); a string with commas (``"spine_01, spine_02"``) means the same.
The preset file format is documented in docs/rigs.md.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .smpl_skeleton import JOINT_NAMES

SCHEMA = "glot-rig/1"
PRESET_SUFFIX = ".json"
_FIELDS = {"schema", "name", "description", "bones", "notes", "priority", "rig_type",
           "deform_bones", "extra_bones", "properties"}
_REQUIRED_FIELDS = ("schema", "name", "bones")
#: joints a map must cover for retargeting to make sense ("spine" = any of spine1..3)
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "spine", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
SPINE_JOINTS = ("spine1", "spine2", "spine3")
#: a preset is detected when at least this share of its joints find their bones
DETECT_MIN_COVERAGE = 0.75


class PresetError(ValueError):
    """A rig preset file that cannot be used; the message names the file and the bad entry."""


@dataclass(frozen=True)
class RigPreset:
    """A bone-map preset. key: file stem ("mixamo"); name: display name; bones: SMPL joint ->
    tuple of target bones (one, or a chain root to tip); source: the file it came from;
    priority: breaks ties in detection when several presets fit equally well."""

    key: str
    name: str
    bones: dict[str, tuple[str, ...]]
    description: str = ""
    source: Path | None = None
    priority: int = 0
    #: for rigs that drive deform bones through constraints (docs/rigs.md): the rules module
    #: (``"rigify"``), mapped bone -> the deform bone it moves, extra bone -> SMPL joint whose
    #: world rotation it takes, pose-bone custom property -> value set (and keyed) on Apply
    rig_type: str = ""
    deform_bones: dict[str, str] = field(default_factory=dict)
    extra_bones: dict[str, str] = field(default_factory=dict)
    properties: dict[str, float] = field(default_factory=dict)

    @property
    def mapping(self) -> dict[str, str | list[str]]:
        """The map with single bones as strings and chains as lists (JSON form)."""
        return {j: b[0] if len(b) == 1 else list(b) for j, b in self.bones.items()}


class BoneMapResult(dict):
    """A bone map (dict: SMPL joint -> bone name, or list of names for a chain) that also
    says where it came from (``source``: "preset:<key>" or "auto") and which required joints
    it lacks (``missing``)."""

    def __init__(self, mapping: Mapping[str, Any], source: str, missing: Sequence[str]):
        super().__init__(mapping)
        self.source = source
        self.missing = list(missing)


# ----------------------------------------------------------------------------- files


def rigs_dir() -> Path:
    """The folder holding the preset files.

    Inside the installed extension it is ``glot_blender/rigs`` (the build copies it there);
    in a source checkout it is ``<repo>/rigs``. The first that exists wins."""
    here = Path(__file__).resolve().parent  # glot_blender/core
    for candidate in (here.parent / "rigs", here.parent.parent / "rigs"):
        if candidate.is_dir():
            return candidate
    raise PresetError(f"no 'rigs' folder next to {here.parent}: the installation is incomplete")


def list_presets(folder: Path | None = None) -> list[str]:
    """Keys (file stems) of the preset files, sorted."""
    folder = folder or rigs_dir()
    return sorted(p.stem for p in folder.glob(f"*{PRESET_SUFFIX}"))


def load_preset(path_or_name: str | os.PathLike[str]) -> RigPreset:
    """Load and validate a preset by key ("mixamo") or by file path."""
    text = str(path_or_name)
    path = Path(text)
    if not path.suffix and os.sep not in text and "/" not in text:
        path = rigs_dir() / f"{text}{PRESET_SUFFIX}"
        if not path.is_file():
            raise PresetError(f"no rig preset named '{text}' (known: {', '.join(list_presets())})")
    if not path.is_file():
        raise PresetError(f"rig preset file '{path}' does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PresetError(f"rig preset '{path.name}' is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise PresetError(
            f"rig preset '{path.name}' is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    return preset_from_dict(data, key=path.stem, source=path)


def load_all_presets(folder: Path | None = None) -> list[RigPreset]:
    folder = folder or rigs_dir()
    return [load_preset(folder / f"{k}{PRESET_SUFFIX}") for k in list_presets(folder)]


def preset_from_dict(data: Any, key: str = "custom", source: Path | None = None) -> RigPreset:
    """Validate parsed preset data; every error names the file and the bad entry."""
    where = f"rig preset '{source.name if source else key}'"
    if not isinstance(data, dict):
        raise PresetError(f"{where} must be a JSON object")
    for name in _REQUIRED_FIELDS:
        if name not in data:
            raise PresetError(f"{where} is missing the field '{name}'")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise PresetError(f"{where} has the unknown field '{unknown[0]}' (fields: {sorted(_FIELDS)})")
    if data["schema"] != SCHEMA:
        raise PresetError(f"{where} has schema {data['schema']!r}; this version reads '{SCHEMA}'")
    for name in ("name", "description", "notes"):
        if name in data and not isinstance(data[name], str):
            raise PresetError(f"{where}: the field '{name}' must be a string")
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise PresetError(f"{where}: the field 'priority' must be an integer")
    if not isinstance(data["bones"], dict) or not data["bones"]:
        raise PresetError(f"{where}: 'bones' must be a non-empty object of SMPL joint -> bone")
    bones = _validate_bones(data["bones"], where)
    if "rig_type" in data and not isinstance(data["rig_type"], str):
        raise PresetError(f"{where}: the field 'rig_type' must be a string")
    deform = _string_dict(data.get("deform_bones", {}), "deform_bones", where)
    extra = _string_dict(data.get("extra_bones", {}), "extra_bones", where)
    for bone, joint in extra.items():
        if joint not in JOINT_NAMES:
            raise PresetError(f"{where}: extra bone '{bone}' names '{joint}', not an SMPL joint")
        if any(bone in b for b in bones.values()):
            raise PresetError(f"{where}: the bone '{bone}' is both mapped and an extra bone")
    props = data.get("properties", {})
    if not isinstance(props, dict) or not all(
            isinstance(k, str) and k and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in props.items()):
        raise PresetError(f"{where}: 'properties' must be an object of property name -> number")
    return RigPreset(key=key, name=data["name"], bones=bones,
                     description=data.get("description", ""), source=source, priority=priority,
                     rig_type=data.get("rig_type", ""), deform_bones=deform, extra_bones=extra,
                     properties={k: float(v) for k, v in props.items()})


def _string_dict(raw: Any, name: str, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in raw.items()):
        raise PresetError(f"{where}: '{name}' must be an object of bone name -> name")
    return dict(raw)


def _validate_bones(raw: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for joint, value in raw.items():
        if joint not in JOINT_NAMES:
            close = difflib.get_close_matches(joint, JOINT_NAMES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise PresetError(f"{where}: '{joint}' is not an SMPL joint name{hint}")
        bones = split_bones(value)
        if bones is None:
            raise PresetError(
                f"{where}: the entry '{joint}' must be a bone name or a list of bone names, "
                f"got {type(value).__name__} {value!r}")
        for b in bones:
            if b in owner:
                raise PresetError(f"{where}: the bone '{b}' is used twice ('{owner[b]}' and '{joint}')")
            owner[b] = joint
        out[joint] = bones
    return out


def split_bones(value: Any) -> tuple[str, ...] | None:
    """A map value as a tuple of bone names: "a", "a, b" or ["a", "b"]; None if malformed."""
    if isinstance(value, str):
        parts = tuple(p.strip() for p in value.split(","))
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        parts = tuple(v.strip() for v in value)
    else:
        return None
    return parts if parts and all(parts) else None


def as_text(value: str | Sequence[str]) -> str:
    """A map value as one editable string (chains joined with ", ")."""
    return value if isinstance(value, str) else ", ".join(value)


def missing_joints(bone_map: Mapping[str, Any]) -> list[str]:
    """Required joints (REQUIRED_JOINTS) the map does not cover."""
    mapped = {j for j, v in bone_map.items() if v}
    out = []
    for joint in REQUIRED_JOINTS:
        if joint == "spine":
            if not mapped.intersection(SPINE_JOINTS):
                out.append("spine (spine1, spine2 or spine3)")
        elif joint not in mapped:
            out.append(joint)
    return out


# ----------------------------------------------------------------------------- presets


def _strip_namespace(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def resolve(preset: RigPreset, bone_names: Iterable[str]) -> BoneMapResult:
    """The preset's map restricted to the bones an armature has (chains keep the bones that
    exist). Names match exactly, or after dropping a namespace prefix on either side
    ("mixamorig1:Hips" matches the preset's "mixamorig:Hips")."""
    names = list(bone_names)
    exact = set(names)
    by_base: dict[str, str] = {}
    for n in names:
        by_base.setdefault(_strip_namespace(n), n)
    out: dict[str, str | list[str]] = {}
    for joint, bones in preset.bones.items():
        found = [b if b in exact else by_base.get(_strip_namespace(b)) for b in bones]
        found = [f for f in found if f]
        if found:
            out[joint] = found[0] if len(found) == 1 else found
    return BoneMapResult(out, f"preset:{preset.key}", missing_joints(out))


def _score(preset: RigPreset, bone_names: Sequence[str]) -> tuple[float, int, int]:
    """(share of the preset's joints found, priority, number of bones found)."""
    resolved = resolve(preset, bone_names)
    found = sum(1 if isinstance(v, str) else len(v) for v in resolved.values())
    return len(resolved) / max(len(preset.bones), 1), preset.priority, found


def detect_preset(bone_names: Iterable[str], presets: Sequence[RigPreset] | None = None) -> RigPreset | None:
    """The preset whose bones the armature has best (at least DETECT_MIN_COVERAGE of its
    joints found; ties broken by the preset's priority, then by the number of bones found),
    or None."""
    names = list(bone_names)
    best, best_score = None, (DETECT_MIN_COVERAGE - 1e-9, -(10**9), 0)
    for preset in presets if presets is not None else load_all_presets():
        score = _score(preset, names)
        if score > best_score:
            best, best_score = preset, score
    return best


def resolve_bone_map(bone_names: Iterable[str], presets: Sequence[RigPreset] | None = None) -> BoneMapResult:
    """The best map for an armature: a detected preset, else the name-pattern auto map."""
    names = list(bone_names)
    preset = detect_preset(names, presets)
    return resolve(preset, names) if preset is not None else auto_map(names)


# ----------------------------------------------------------------------------- auto map

_SIDE_TOKENS = {"l": "left", "left": "left", "r": "right", "right": "right"}
_NOISE_TOKENS = {"mixamorig", "def", "org", "j", "bip", "c", "cc", "base", "b", "bone", "jnt",
                 "joint", "sk", "jt", "deform"}
_SKIP_TOKENS = {"twist", "roll", "ik", "pole", "mch", "tweak", "end", "nub", "ctrl", "target",
                "helper", "corrective", "fk", "share", "top", "tip", "null", "ref", "socket"}
#: core name (lower case, no separators, no side) -> SMPL joint name without "left_"/"right_"
_SIDED = {
    "hip": "hip", "upleg": "hip", "upperleg": "hip", "thigh": "hip", "legupper": "hip",
    "knee": "knee", "leg": "knee", "lowerleg": "knee", "calf": "knee", "shin": "knee",
    "leglower": "knee",
    "ankle": "ankle", "foot": "ankle",
    "toebase": "foot", "toe": "foot", "toes": "foot", "ball": "foot", "toe0": "foot",
    "shoulder": "collar", "clavicle": "collar", "collar": "collar", "collarbone": "collar",
    "arm": "shoulder", "upperarm": "shoulder", "uparm": "shoulder", "armupper": "shoulder",
    "forearm": "elbow", "lowerarm": "elbow", "elbow": "elbow", "armlower": "elbow",
    "hand": "wrist", "wrist": "wrist",
}
_CENTER = {"hips": "pelvis", "pelvis": "pelvis", "hip": "pelvis", "head": "head"}
_SPINE_RE = re.compile(r"^(spine|chest|upperchest|torso)(\d*)$")
_NECK_RE = re.compile(r"^neck(\d*)$")
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_tokens(name: str) -> tuple[str | None, str, bool]:
    """(side "left"/"right"/None, core name, skip) of a bone name.

    ``mixamorig:LeftUpLeg`` -> ("left", "upleg"); ``thigh.L`` -> ("left", "thigh");
    ``J_Bip_L_UpperArm`` -> ("left", "upperarm"); ``upperarm_twist_01_l`` -> skip."""
    words: list[str] = []
    for part in re.split(r"[\s._\-]+", _strip_namespace(name)):
        words.extend(w.lower() for w in _WORD_RE.findall(part))
    side = None
    kept: list[str] = []
    dropped_noise = False
    for w in words:
        if side is None and w in _SIDE_TOKENS:
            side = _SIDE_TOKENS[w]
            continue
        if w in _NOISE_TOKENS:
            dropped_noise = True
            continue
        if dropped_noise and w.isdigit() and not kept:
            continue  # "Bip01": the number belongs to the prefix
        kept.append(w)
    skip = any(w in _SKIP_TOKENS for w in kept)
    return side, "".join(kept), skip


def _spine_rank(core: str) -> float | None:
    m = _SPINE_RE.match(core)
    if not m:
        return None
    word, num = m.groups()
    base = {"spine": 0.0, "torso": 0.0, "chest": 100.0, "upperchest": 200.0}[word]
    return base + (float(num) if num else 0.0)


def auto_map(bone_names: Iterable[str]) -> BoneMapResult:
    """Map SMPL joints to bones by name patterns (left/right variants ``.L``, ``_L``, ``Left``,
    ``l_``, ``_l``; prefixes such as ``mixamorig:``, ``DEF-``, ``J_Bip_``, ``Bip01``).

    Spine bones (spine, spine1.., spine_01.., chest, upperChest) are ordered and split over
    spine1..spine3 (chains when there are more than three); several neck bones form a chain.
    Twist, roll, IK, helper and end bones are never mapped. Bones named exactly like the SMPL
    joints map one to one."""
    names = list(bone_names)
    if all(j in names for j in JOINT_NAMES):
        return BoneMapResult({j: j for j in JOINT_NAMES}, "auto", [])
    out: dict[str, str | list[str]] = {}
    spines: list[tuple[float, str]] = []
    necks: list[tuple[float, str]] = []
    for name in names:
        side, core, skip = name_tokens(name)
        if skip or not core:
            continue
        joint = None
        if side is not None and core in _SIDED:
            joint = f"{side}_{_SIDED[core]}"
        elif side is None and core in _CENTER:
            joint = _CENTER[core]
        elif side is None and _spine_rank(core) is not None:
            spines.append((_spine_rank(core), name))
        elif side is None and _NECK_RE.match(core):
            num = _NECK_RE.match(core).group(1)
            necks.append((float(num) if num else 0.0, name))
        if joint is not None and joint not in out:
            out[joint] = name
    out.update(_split_spine([n for _r, n in sorted(spines)]))
    if necks:
        chain = [n for _r, n in sorted(necks)]
        out["neck"] = chain[0] if len(chain) == 1 else chain
    return BoneMapResult(out, "auto", missing_joints(out))


def _split_spine(chain: list[str]) -> dict[str, str | list[str]]:
    """Spread n ordered spine bones over spine1..spine3."""
    n = len(chain)
    if n == 0:
        return {}
    if n == 1:
        return {"spine3": chain[0]}
    if n == 2:
        return {"spine1": chain[0], "spine3": chain[1]}
    sizes = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]
    out: dict[str, str | list[str]] = {}
    start = 0
    for joint, size in zip(SPINE_JOINTS, sizes):
        part = chain[start:start + size]
        start += size
        out[joint] = part[0] if len(part) == 1 else part
    return out
