"""``python -m glot_blender.build``: a zip Blender's own validator accepts, with the add-on at
its root and the server inside; a broken manifest is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from glot_blender.build import BuildError, build_extension, server_pyproject_text, validate_zip

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "glot_blender.build", "--output-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "built and validated" in proc.stdout
    zips = list(out.glob("glot_mocap-*.zip"))
    assert len(zips) == 1
    return zips[0]


def test_zip_layout(built: Path) -> None:
    names = set(zipfile.ZipFile(built).namelist())
    for required in (
        "blender_manifest.toml",
        "__init__.py",
        "preferences.py",
        "operators/__init__.py",
        "operators/analyze.py",
        "core/motion_clip.py",
        "blender/apply.py",
        "client.py",
        "server/pyproject.toml",
        "server/inference_server/__main__.py",
        "server/glot_blender/core/motion_clip.py",
    ):
        assert required in names, required
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "build.py" not in names  # the build tool is not part of the add-on
    rigs = [p.relative_to(REPO).as_posix() for p in (REPO / "rigs").rglob("*") if p.is_file()]
    assert all(r in names for r in rigs)


def test_manifest_in_zip_is_the_repository_one(built: Path) -> None:
    manifest = tomllib.loads(zipfile.ZipFile(built).read("blender_manifest.toml").decode())
    assert manifest["id"] == "glot_mocap" and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert len(manifest["tagline"]) < 64 and not manifest["tagline"].endswith(".")
    assert built.name == f"glot_mocap-{manifest['version']}.zip"


def test_bundled_server_pyproject_installs_the_server() -> None:
    data = tomllib.loads(server_pyproject_text(REPO))
    repo = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert (
        data["project"]["optional-dependencies"]["server"]
        == repo["project"]["optional-dependencies"]["server"]
    )
    assert "inference_server*" in data["tool"]["setuptools"]["packages"]["find"]["include"]
    assert data["project"]["scripts"]["glot-mocap"] == "inference_server.cli:main"


def test_validator_refuses_a_broken_manifest(built: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "blender_manifest.toml":
                data = data.replace(
                    b'blender_version_min = "4.2.0"', b'blender_version_min = "four"'
                )
            dst.writestr(item, data)
    assert "Success" in validate_zip(built)
    with pytest.raises(BuildError, match="blender_version_min"):
        validate_zip(broken)


def test_build_function_matches_command(tmp_path: Path) -> None:
    result = build_extension(tmp_path)
    assert result.zip_path.is_file() and result.zip_path.parent == tmp_path.resolve()
    assert zipfile.ZipFile(result.zip_path).testzip() is None


def _extract(built: Path, folder: Path) -> Path:
    """The zip unpacked the way Blender installs it: ``<extensions>/glot_mocap/``."""
    ext = folder / "glot_mocap"
    with zipfile.ZipFile(built) as zf:
        zf.extractall(ext)
    return ext


def test_environment_setup_from_the_zip_layout(built: Path, tmp_path: Path) -> None:
    """The installed extension's own server_env (what Create Environment runs) works with only
    the zip's files: its command line answers, and its default server source is the bundled
    ``server/`` folder; the bundled server's CLI points to it in one sentence."""
    ext = _extract(built, tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import glot_mocap.server_env as se\n"
        "print('SOURCE', se.server_source_dir())\n"
        "sys.exit(se.main(['--help']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "glot-mocap-env" in proc.stdout and "--cuda" in proc.stdout
    assert f"SOURCE {ext / 'server'}" in proc.stdout
    assert (ext / "server" / "pyproject.toml").is_file()

    env = {"PYTHONPATH": str(ext / "server"), "PATH": "/usr/bin:/bin"}
    cli = subprocess.run([sys.executable, "-m", "inference_server.cli", "setup-env", "--help"],
                         capture_output=True, text=True, timeout=120, check=False, env=env,
                         cwd=tmp_path)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr, cli.stderr
    assert "glot-mocap-env" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1


def test_bundled_server_reaches_into_core_only(built: Path, tmp_path: Path) -> None:
    """Every module of the bundled server imports from the zip's ``server/`` folder, and the
    only add-on modules it loads are ``glot_blender`` and ``glot_blender.core.*`` from there."""
    ext = _extract(built, tmp_path)
    server = ext / "server"
    modules = sorted(
        ".".join(p.relative_to(server).with_suffix("").parts).removesuffix(".__init__")
        for p in (server / "inference_server").rglob("*.py")
        if p.name != "__main__.py"
    )
    code = (
        "import importlib, json, sys\n"
        "for m in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except ModuleNotFoundError as exc:  # an optional third-party package is fine\n"
        "        if (exc.name or '').split('.')[0] in ('glot_blender', 'inference_server'):\n"
        "            raise\n"
        "print(json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items()\n"
        "                  if n == 'glot_blender' or n.startswith('glot_blender.')}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(modules)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={"PYTHONPATH": str(server), "PATH": "/usr/bin:/bin",
                               "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "glot_blender.core.motion_clip" in loaded
    for name, file in loaded.items():
        assert name == "glot_blender" or name.startswith("glot_blender.core"), name
        assert Path(file).resolve().is_relative_to(server.resolve()), (name, file)
