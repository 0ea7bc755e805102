"""setup_env for real: a venv made from this Python, the server package built and installed
from a copy of the source (offline: no index, no dependencies; torch reused from this test
environment through a .pth file), verified by the initialize handshake with the new Python."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from server_testing import REPO_ROOT

from glot_blender.server_env import (
    TORCH_CPU_INDEX,
    TORCH_CUDA_INDEX,
    SetupError,
    choose_torch,
    main,
    setup_env,
    venv_python,
)

OFFLINE_PIP = ("--no-deps", "--no-index", "--no-build-isolation", "--quiet")


def copy_source(dst: Path) -> Path:
    """The installable part of the repository (no .venv, no tests), as a fresh folder."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dst / name)
    for pkg in ("inference_server", "glot_blender"):
        shutil.copytree(REPO_ROOT / pkg, dst / pkg, ignore=ignore)
    return dst


def test_setup_env_creates_installs_and_verifies(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    source = copy_source(tmp_path / "src")
    target = tmp_path / "server env"  # a space in the path, as user folders often have
    lines: list[str] = []
    result = setup_env(target, source_dir=source, log=lines.append, install_torch=False,
                       pip_args=OFFLINE_PIP, venv_args=("--without-pip",),
                       reuse_site_packages=[sysconfig.get_paths()["purelib"]])
    assert result.ok, result.message + "\n" + "\n".join(lines[-30:])
    assert result.python == venv_python(target.resolve()) and result.python.exists()
    assert result.torch_version.startswith("2.")
    assert result.initialize["python_executable"] == str(result.python)
    assert result.devices and result.devices[0]["id"] == "cpu"
    assert any("initialize" in ln for ln in lines)
    assert result.log_path.read_text().count("\n") >= len(lines)

    where = subprocess.run([str(result.python), "-P", "-c",
                            "import inference_server; print(inference_server.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path)
    assert Path(where.stdout.strip()).resolve().is_relative_to(target.resolve())
    env_cmd = subprocess.run([str(result.python.parent / "glot-mocap-env"), "--help"],
                             capture_output=True, text=True, check=False, cwd=tmp_path)
    assert env_cmd.returncode == 0 and "usage: glot-mocap-env" in env_cmd.stdout


def test_setup_env_reports_a_failed_step(tmp_path: Path) -> None:
    result = setup_env(tmp_path / "env", base_python=tmp_path / "no-such-python",
                       source_dir=REPO_ROOT, install_torch=False, verify=False)
    assert not result.ok and "no-such-python" in result.message
    assert "no-such-python" in result.log_path.read_text()
    bad = setup_env(tmp_path / "env2", source_dir=tmp_path, verify=False)
    assert not bad.ok and "pyproject.toml" in bad.message


def test_torch_choice_is_explained() -> None:
    variant, args, why = choose_torch("auto", platform="linux", gpu=None)
    assert variant == "cpu" and args == ["--index-url", TORCH_CPU_INDEX]
    assert "no NVIDIA GPU" in why and "--cuda" in why
    variant, args, why = choose_torch("auto", platform="linux", gpu="GPU 0: NVIDIA H100")
    assert variant == "cuda" and args == [] and "H100" in why
    variant, args, _ = choose_torch("cuda", platform="win32")
    assert args == ["--index-url", TORCH_CUDA_INDEX]
    variant, args, why = choose_torch("auto", platform="darwin")
    assert args == [] and "MPS" in why
    with pytest.raises(SetupError, match="macOS"):
        choose_torch("cuda", platform="darwin")
    with pytest.raises(SetupError, match="rocm"):
        choose_torch("rocm")


def test_command_line_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main([str(tmp_path / "env"), "--python", str(tmp_path / "nope"), "--cpu"])
    assert code == 2
    assert "Setup failed" in capsys.readouterr().err
