"""Rig presets: every shipped file validates, errors name the bad entry, detection and
name-pattern auto-mapping pick the right bones."""

from __future__ import annotations

import json

import pytest

from glot_blender.core import bone_maps as bm
from glot_blender.core.retarget import normalize_bone_map
from glot_blender.core.smpl_skeleton import JOINT_NAMES

SHIPPED = ("smpl", "mixamo", "rigify_deform", "rigify_fk", "ue5_manny", "ue4_mannequin",
           "vroid", "vrm_humanoid")


def _bones(preset: bm.RigPreset) -> list[str]:
    return [b for bones in preset.bones.values() for b in bones]


def test_rigs_dir_and_all_presets_validate(repo_root):
    assert bm.rigs_dir() == repo_root / "rigs"
    assert set(SHIPPED) <= set(bm.list_presets())
    for key in SHIPPED:
        preset = bm.load_preset(key)
        assert preset.key == key and preset.name
        assert not bm.missing_joints(preset.bones), key
        normalize_bone_map(preset.mapping)  # the retargeter accepts it as is
    ue5 = bm.load_preset("ue5_manny")
    assert ue5.bones["spine1"] == ("spine_01", "spine_02")
    assert bm.load_preset(bm.rigs_dir() / "mixamo.json").bones["pelvis"] == ("mixamorig:Hips",)


def _write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


GOOD = {"schema": "glot-rig/1", "name": "Mine", "bones": {"pelvis": "Hips", "neck": ["N1", "N2"]}}


@pytest.mark.parametrize(("change", "message"), [
    ({"bones": {"pelvis": "Hips", "left_kneee": "Knee"}}, "'left_kneee' is not an SMPL joint.*left_knee"),
    ({"bones": {"pelvis": "Hips", "head": "Hips"}}, "'Hips' is used twice"),
    ({"bones": {"pelvis": 42}}, "entry 'pelvis' must be a bone name"),
    ({"bones": {"pelvis": ["Hips", 3]}}, "entry 'pelvis'"),
    ({"bones": {"pelvis": ""}}, "entry 'pelvis'"),
    ({"bones": []}, "'bones' must be a non-empty object"),
    ({"name": 5}, "'name' must be a string"),
    ({"priority": "high"}, "'priority' must be an integer"),
    ({"schema": "glot-rig/9"}, "schema 'glot-rig/9'"),
    ({"bonez": {}}, "unknown field 'bonez'"),
])
def test_validation_errors_name_the_bad_entry(tmp_path, change, message):
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(bm.PresetError, match=message) as info:
        bm.load_preset(path)
    assert "bad.json" in str(info.value)


def test_missing_field_bad_json_and_unknown_name(tmp_path):
    data = dict(GOOD)
    data.pop("bones")
    with pytest.raises(bm.PresetError, match="missing the field 'bones'"):
        bm.load_preset(_write(tmp_path, data))
    with pytest.raises(bm.PresetError, match=r"not valid JSON \(line 1"):
        bm.load_preset(_write(tmp_path, '{"schema": '))
    with pytest.raises(bm.PresetError, match="no rig preset named 'nope'.*mixamo"):
        bm.load_preset("nope")
    good = bm.load_preset(_write(tmp_path, GOOD, "good.json"))
    assert good.bones == {"pelvis": ("Hips",), "neck": ("N1", "N2")}
    assert good.mapping == {"pelvis": "Hips", "neck": ["N1", "N2"]}


@pytest.mark.parametrize("key", SHIPPED)
def test_detect_preset_finds_each_shipped_rig(key):
    preset = bm.load_preset(key)
    names = _bones(preset) + ["root", "extra_bone", "IK_helper"]
    found = bm.detect_preset(names)
    assert found is not None and found.key == key
    resolved = bm.resolve(found, names)
    assert resolved.source == f"preset:{key}" and not resolved.missing


def test_detection_prefers_fk_controls_and_other_namespaces():
    fk, deform = bm.load_preset("rigify_fk"), bm.load_preset("rigify_deform")
    assert bm.detect_preset(_bones(fk) + _bones(deform)).key == "rigify_fk"
    assert bm.detect_preset(_bones(deform) + ["DEF-thigh.L.001"]).key == "rigify_deform"
    names = [b.replace("mixamorig:", "mixamorig1:") for b in _bones(bm.load_preset("mixamo"))]
    resolved = bm.resolve_bone_map(names)
    assert resolved.source == "preset:mixamo" and resolved["pelvis"] == "mixamorig1:Hips"
    assert bm.detect_preset(["Bone", "Bone.001", "Cube"]) is None


def test_missing_bones_are_reported():
    names = [b for b in _bones(bm.load_preset("mixamo")) if "LeftForeArm" not in b]
    resolved = bm.resolve(bm.load_preset("mixamo"), names)
    assert resolved.missing == ["left_elbow"]


MIXAMO_NO_PREFIX = ["Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End",
                    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandIndex1",
                    "RightShoulder", "RightArm", "RightForeArm", "RightHand",
                    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToe_End",
                    "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase"]


def test_auto_map_mixamo_style_names():
    m = bm.auto_map(MIXAMO_NO_PREFIX)
    assert m.source == "auto" and not m.missing
    assert m["pelvis"] == "Hips" and m["left_hip"] == "LeftUpLeg" and m["left_knee"] == "LeftLeg"
    assert m["left_collar"] == "LeftShoulder" and m["left_shoulder"] == "LeftArm"
    assert m["left_elbow"] == "LeftForeArm" and m["right_wrist"] == "RightHand"
    assert m["left_foot"] == "LeftToeBase" and m["head"] == "Head"
    assert (m["spine1"], m["spine2"], m["spine3"]) == ("Spine", "Spine1", "Spine2")
    assert "HeadTop_End" not in m.values() and "LeftToe_End" not in m.values()


@pytest.mark.parametrize(("names", "expect"), [
    (["pelvis", "spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_01", "neck_02",
      "head", "thigh_l", "calf_l", "foot_l", "ball_l", "upperarm_l", "lowerarm_l", "hand_l",
      "upperarm_twist_01_l", "ik_foot_l", "clavicle_l"],
     {"spine1": ["spine_01", "spine_02"], "spine2": ["spine_03", "spine_04"], "spine3": "spine_05",
      "neck": ["neck_01", "neck_02"], "left_knee": "calf_l", "left_foot": "ball_l",
      "left_shoulder": "upperarm_l", "left_collar": "clavicle_l"}),
    (["hips", "torso", "chest", "neck", "head", "thigh.L", "shin.L", "foot.L", "toe.L",
      "upper_arm.L", "forearm.L", "hand.L", "shoulder.L", "thigh.L.001", "thigh.R"],
     {"pelvis": "hips", "spine1": "torso", "spine3": "chest", "left_hip": "thigh.L",
      "left_knee": "shin.L", "left_shoulder": "upper_arm.L", "right_hip": "thigh.R"}),
    (["Bip01 Pelvis", "Bip01 Spine", "Bip01 Spine1", "Bip01 Spine2", "Bip01 Neck", "Bip01 Head",
      "Bip01 L Thigh", "Bip01 L Calf", "Bip01 L Foot", "Bip01 L Toe0", "Bip01 L Clavicle",
      "Bip01 L UpperArm", "Bip01 L Forearm", "Bip01 L Hand", "Bip01 R Thigh"],
     {"pelvis": "Bip01 Pelvis", "spine1": "Bip01 Spine", "spine3": "Bip01 Spine2",
      "left_foot": "Bip01 L Toe0", "left_elbow": "Bip01 L Forearm", "right_hip": "Bip01 R Thigh"}),
    (["J_Bip_C_Hips", "J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest", "J_Bip_L_UpperLeg",
      "J_Bip_L_LowerLeg", "J_Bip_L_UpperArm", "J_Bip_L_LowerArm", "leftHand", "RightHand"],
     {"pelvis": "J_Bip_C_Hips", "spine1": "J_Bip_C_Spine", "spine2": "J_Bip_C_Chest",
      "spine3": "J_Bip_C_UpperChest", "left_hip": "J_Bip_L_UpperLeg",
      "left_elbow": "J_Bip_L_LowerArm", "left_wrist": "leftHand", "right_wrist": "RightHand"}),
    (["Hips", "Spine", "L_Thigh", "l_shin", "Thigh_R", "hand-L"],
     {"pelvis": "Hips", "spine3": "Spine", "left_hip": "L_Thigh", "left_knee": "l_shin",
      "right_hip": "Thigh_R", "left_wrist": "hand-L"}),
])
def test_auto_map_name_patterns(names, expect):
    m = bm.auto_map(names)
    for joint, bone in expect.items():
        assert m.get(joint) == bone, (joint, m.get(joint))
    assert not any(v in ("upperarm_twist_01_l", "ik_foot_l", "thigh.L.001") for v in m.values())


def test_auto_map_reports_missing_and_smpl_names():
    m = bm.auto_map(["Hips", "LeftUpLeg", "Head"])
    assert "right_hip" in m.missing and "spine (spine1, spine2 or spine3)" in m.missing
    smpl = bm.auto_map(list(JOINT_NAMES))
    assert smpl == {j: j for j in JOINT_NAMES} and not smpl.missing


def test_comma_chains_and_text_form():
    assert bm.split_bones("spine_01, spine_02") == ("spine_01", "spine_02")
    assert bm.split_bones(["a", "b"]) == ("a", "b")
    assert bm.split_bones(3) is None and bm.split_bones("a,,b") is None
    assert bm.as_text(["a", "b"]) == "a, b" and bm.as_text("a") == "a"
    assert normalize_bone_map({"neck": "n1, n2"}) == {"neck": ("n1", "n2")}


def test_rig_fields_of_presets_are_validated(tmp_path):
    """rig_type / deform_bones / extra_bones / properties (docs/rigs.md): read from the
    shipped Rigify preset, and a bad value names the file and the field."""
    from glot_blender.core.bone_maps import PresetError, load_preset, preset_from_dict

    rigify = load_preset("rigify_fk")
    assert rigify.rig_type == "rigify" and rigify.extra_bones == {"spine_fk": "pelvis"}
    assert rigify.properties == {"IK_FK": 1.0, "neck_follow": 1.0, "head_follow": 1.0}
    assert rigify.deform_bones["upper_arm_fk.L"] == "DEF-upper_arm.L"
    base = {"schema": "glot-rig/1", "name": "x", "bones": {"pelvis": "hips", "spine1": "s1"}}
    for extra, match in (({"extra_bones": {"b": "hip"}}, "not an SMPL joint"),
                         ({"extra_bones": {"s1": "spine2"}}, "both mapped and an extra"),
                         ({"deform_bones": {"hips": 3}}, "'deform_bones' must be"),
                         ({"properties": {"IK_FK": "1"}}, "'properties' must be"),
                         ({"properties": {"IK_FK": True}}, "'properties' must be"),
                         ({"rig_type": 1}, "'rig_type' must be")):
        with pytest.raises(PresetError, match=match):
            preset_from_dict({**base, **extra}, key="bad")
