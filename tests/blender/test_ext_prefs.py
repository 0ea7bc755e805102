"""The preferences' model-file checklist: same names as the server's registry, live by file."""

from __future__ import annotations

from pathlib import Path

from glot_blender.preferences import MODEL_FILES, file_checklist
from inference_server.registry import OPTIONAL_GROUPS, backend_files


def test_fallback_names_match_the_server_registry() -> None:
    registry = backend_files()
    for backend, files in MODEL_FILES.items():
        assert backend in registry, backend
        ours = [(names, required) for names, _purpose, required in files]
        theirs = [
            (f.names, f.required and backend not in OPTIONAL_GROUPS) for f in registry[backend]
        ]
        assert ours == theirs, backend


def test_checklist_follows_the_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GLOT_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # an empty user data folder
    rows = {(b, n): present for b, n, present, _req in file_checklist(str(tmp_path))}
    assert not any(rows.values())
    (tmp_path / "spin_model_checkpoint.pth.tar").write_bytes(b"x")
    (tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl").write_bytes(b"x")  # accepted alias
    rows = {(b, n): present for b, n, present, _req in file_checklist(str(tmp_path))}
    assert rows[("glot", "spin_model_checkpoint.pth.tar")]
    assert not rows[("glot", "table1_3dpw_weights.pth.tar")]
    assert rows[("body", "SMPL_NEUTRAL.pkl")]


def test_checklist_searches_where_the_server_searches(tmp_path: Path, monkeypatch) -> None:
    """The chosen folder, GLOT_MODELS_DIR, then the user data folder's models: an SMPL file
    the server's registry finds there is found by the add-on too."""
    from glot_blender.preferences import models_search_dirs
    from inference_server.registry import ModelRegistry

    chosen, env_dir = tmp_path / "chosen", tmp_path / "env"
    monkeypatch.setenv("GLOT_MODELS_DIR", str(env_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models_search_dirs(str(chosen)) == ModelRegistry(chosen).search_dirs
    user_models = tmp_path / "data" / "glot-mocap" / "models"
    user_models.mkdir(parents=True)
    (user_models / "SMPL_NEUTRAL.pkl").write_bytes(b"x")
    rows = {(b, n): present for b, n, present, _req in file_checklist(str(chosen))}
    assert rows[("body", "SMPL_NEUTRAL.pkl")]
    assert ModelRegistry(chosen).find("SMPL_NEUTRAL.pkl") == user_models / "SMPL_NEUTRAL.pkl"


def test_menus_offer_every_protocol_name() -> None:
    from glot_blender.core.protocol import BACKEND_NAMES, DETECTOR_NAMES
    from glot_blender.properties import BACKENDS, DETECTORS

    assert [b[0] for b in BACKENDS] == list(BACKEND_NAMES)
    assert [d[0] for d in DETECTORS] == list(DETECTOR_NAMES)  # every detector the server has
