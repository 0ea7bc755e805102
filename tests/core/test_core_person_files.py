"""The one naming rule for a person's own file beside the chosen name (walk.fbx -> walk_P3.fbx)."""

from pathlib import Path

from glot_blender.core.person_files import (
    is_person_file_of,
    person_file_path,
    person_files_beside,
    person_label,
)


def test_label_and_path() -> None:
    assert person_label(3) == "P3"
    assert person_file_path("/x/walk.fbx", person_label(12)) == Path("/x/walk_P12.fbx")


def test_only_that_names_files_count(tmp_path: Path) -> None:
    chosen = tmp_path / "walk.fbx"
    for name in ["walk_P1.fbx", "walk_P22.FBX", "walk.fbx", "walk_P.fbx", "walk_Px.fbx",
                 "walker_P1.fbx", "walk_P1.fbx.bak", "walk_P3.npz", "run_P1.fbx"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in person_files_beside(chosen)] == ["walk_P1.fbx", "walk_P22.FBX"]
    assert not is_person_file_of(chosen, tmp_path / "sub" / "walk_P1.fbx")
    # stems with regex characters are taken literally
    assert is_person_file_of(tmp_path / "a+b.fbx", tmp_path / "a+b_P2.fbx")
    assert not is_person_file_of(tmp_path / "a+b.fbx", tmp_path / "aab_P2.fbx")


def test_unreadable_folder_gives_none(tmp_path: Path) -> None:
    assert person_files_beside(tmp_path / "missing" / "walk.fbx") == []
