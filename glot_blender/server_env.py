"""The inference server's own Python environment (standard library only): finding one,
and creating one.

:func:`find_server_pythons` / :func:`pick_server_python` list the Pythons that could run the
server (``$GLOT_SERVER_PYTHON``, the environment made here, ``python3`` on PATH), each with
the reason it is or is not usable.

:func:`setup_env` makes a virtual environment from a base Python (3.10+), installs torch and
the server package with its dependencies, streaming pip's output to a log callback and a log
file, then verifies the result by starting the server with the new Python and running the
``initialize`` handshake. The add-on runs it in a background thread from its *Create
Environment* button; the command line ``glot-mocap-env [DIR]`` (:func:`main`, also
``python -m glot_blender.server_env``) runs the same function. The server package is never
asked to set itself up: it imports nothing of ``glot_blender`` but ``core``.

Torch, CPU or CUDA (never chosen silently; the log says which and why):

- ``"cpu"``: on Linux and Windows torch comes from the PyTorch CPU index
  (download.pytorch.org/whl/cpu): about 200 MB instead of several GB of CUDA libraries.
  Runs everywhere; a few seconds per second of video on a recent CPU.
- ``"cuda"``: on Linux the default PyPI wheel, which bundles the CUDA runtime (needs an
  NVIDIA driver, about 3 GB); on Windows the PyTorch CUDA index (``TORCH_CUDA_INDEX``).
  Not available on macOS.
- ``"auto"``: ``cuda`` when ``nvidia-smi`` reports an NVIDIA GPU, else ``cpu``; on macOS the
  PyPI wheel, which uses Apple's Metal (MPS) on Apple silicon.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .core.locations import ENV_COMMAND, default_env_dir

ENV_PYTHON_VAR = "GLOT_SERVER_PYTHON"
TORCH_VERSION = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu128"  # Windows CUDA wheels
TORCH_VARIANTS = ("auto", "cpu", "cuda")
KNOWN_EXTRAS = ("server", "lite")
MIN_PYTHON = (3, 10)
LOG_NAME = "setup-env.log"
#: the one name of the add-on's button that runs :func:`setup_env` (labels, messages, docs)
CREATE_ENV_BUTTON = "Create Environment"
VERIFY_TIMEOUT_S = 300.0  # the first torch import after an install can be slow
NVIDIA_SMI_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 30.0
PATH_PYTHON_NAMES = ("python3", "python3.11", "python")
#: system Pythons to make the environment from, best first (Blender's own is never used)
BASE_PYTHON_NAMES = ("python3.11", "python3.12", "python3.10", "python3", "python")
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)

LogFn = Callable[[str], None]


class SetupError(RuntimeError):
    """Setting up the environment failed; the message says which step and what to do."""


@dataclass
class SetupResult:
    """Outcome of :func:`setup_env`. ``python`` is the new environment's interpreter (give it
    to the add-on's preferences or GLOT_SERVER_PYTHON); ``initialize`` the server's answer."""

    ok: bool
    target_dir: Path
    python: Path
    log_path: Path
    torch_variant: str = ""
    python_version: str = ""
    torch_version: str = ""
    server_version: str = ""
    devices: list = field(default_factory=list)
    message: str = ""
    initialize: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- locations


def venv_python(env_dir: Path) -> Path:
    """The interpreter of the virtual environment at ``env_dir``."""
    if sys.platform.startswith("win"):
        return Path(env_dir) / "Scripts" / "python.exe"
    return Path(env_dir) / "bin" / "python"


def server_source_dir() -> Path:
    """The folder holding the ``inference_server`` package (and its pyproject.toml) that this
    copy of the add-on ships or sits next to: ``<extension>/server`` in the installed
    extension, the repository root in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "server", here.parent):
        if (candidate / "inference_server" / "__init__.py").is_file():
            return candidate
    return here / "server"


def default_base_python() -> Path:
    """The Python to make the environment from: the running one on the command line; inside
    Blender (``bpy`` imported: Blender's bundled Python is never used) the first of
    :data:`BASE_PYTHON_NAMES` on PATH. Raises SetupError when there is none."""
    exe = Path(sys.executable)
    if "bpy" not in sys.modules and exe.name.lower().startswith("python"):
        return exe
    for name in BASE_PYTHON_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise SetupError("No Python 3.10+ found on PATH: install Python 3.11 from python.org, then "
                     "try again (or name the base Python to use)")


# ---------------------------------------------------------------------------- torch choice


def detect_nvidia_gpu() -> str | None:
    """The first line of ``nvidia-smi -L`` (names a GPU), or None when there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-L"], check=False, capture_output=True, text=True,
                             timeout=NVIDIA_SMI_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("GPU")]
    return lines[0] if out.returncode == 0 and lines else None


def choose_torch(variant: str, platform: str | None = None,
                 gpu: str | None = None) -> tuple[str, list[str], str]:
    """Resolve ``variant`` into (variant, pip index arguments, explanation for the log)."""
    if variant not in TORCH_VARIANTS:
        raise SetupError(f"Unknown torch variant '{variant}': use one of "
                         f"{', '.join(TORCH_VARIANTS)}.")
    platform = sys.platform if platform is None else platform
    if platform == "darwin":
        if variant == "cuda":
            raise SetupError("CUDA torch does not exist for macOS; use --cpu (Apple silicon "
                             "still runs on the GPU through Metal/MPS).")
        return "default", [], ("macOS: torch from PyPI; on Apple silicon it uses the GPU "
                               "through Metal (MPS), on Intel Macs the CPU.")
    if variant == "auto":
        if gpu:
            variant, why = "cuda", f"auto: found an NVIDIA GPU ({gpu}), so CUDA torch"
        else:
            variant, why = "cpu", ("auto: no NVIDIA GPU found (nvidia-smi absent or silent), so "
                                   "CPU torch; pass --cuda to force CUDA torch")
    else:
        why = f"{variant} torch as asked"
    if variant == "cpu":
        return "cpu", ["--index-url", TORCH_CPU_INDEX], (
            f"{why}: CPU-only wheel from {TORCH_CPU_INDEX} (~200 MB, runs anywhere, slower).")
    if platform.startswith("win"):
        return "cuda", ["--index-url", TORCH_CUDA_INDEX], (
            f"{why}: CUDA wheel from {TORCH_CUDA_INDEX} (~3 GB, needs a recent NVIDIA driver).")
    return "cuda", [], (f"{why}: PyPI wheel with the CUDA runtime bundled (~3 GB, needs an "
                        "NVIDIA driver); much faster than CPU on a GPU.")


# ---------------------------------------------------------------------------- steps


def _run(cmd: Sequence[str], log: LogFn, step: str, env: dict | None = None,
         should_cancel: Callable[[], bool] | None = None) -> None:
    """Run a command, streaming its output lines to ``log``; raise SetupError on failure."""
    log(f"$ {' '.join(str(c) for c in cmd)}")
    try:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", env=env,
                                creationflags=_NO_WINDOW)
    except OSError as exc:
        raise SetupError(f"{step}: cannot run {cmd[0]} ({exc.strerror or exc}).") from exc
    assert proc.stdout is not None
    for line in proc.stdout:
        log(line.rstrip())
        if should_cancel is not None and should_cancel():
            proc.kill()
            proc.wait()
            raise SetupError(f"{step}: cancelled.")
    if proc.wait() != 0:
        raise SetupError(f"{step} failed (exit code {proc.returncode}); the log above says why.")


def _python_info(python: Path | str) -> dict:
    code = ("import json, sys, platform; print(json.dumps({'version': platform.python_version(),"
            " 'major_minor': list(sys.version_info[:2])}))")
    try:
        out = subprocess.run([str(python), "-c", code], check=False, capture_output=True, text=True,
                             timeout=60)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        raise SetupError(f"Cannot run the base Python {python} ({type(exc).__name__}); choose "
                         "a Python 3.10+ executable.") from exc


def _pip_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([str(python), "-c", code], check=False, capture_output=True, text=True,
                         timeout=60)
    return Path(out.stdout.strip())


def _link_site_packages(python: Path, folders: Sequence[str | os.PathLike[str]],
                        log: LogFn) -> None:
    """Make ``folders`` importable in the new environment through a .pth file (reuse an
    existing torch install instead of downloading it again)."""
    pth = _site_packages(python) / "glot_reuse.pth"
    pth.write_text("".join(f"{Path(f).resolve()}\n" for f in folders), encoding="utf-8")
    log(f"reusing packages from: {', '.join(str(f) for f in folders)} ({pth})")


def verify_env(python: Path, log: LogFn, models_dir: Path | None = None,
               timeout: float = VERIFY_TIMEOUT_S) -> dict:
    """Start the server with ``python`` and run ``initialize``; return its result."""
    from .client import ServerClient
    from .server_errors import ServerCrashed, ServerError

    args = ["--models", str(models_dir)] if models_dir else []
    log_file = python.parent.parent / "verify-server.log"
    log(f"verifying: starting {python} -m inference_server and calling initialize")
    client = ServerClient(python, extra_args=args, log_path=log_file,
                          env={"PYTHONPATH": None}, cwd=python.parent)
    try:
        info = client.start(timeout=timeout)
    except (ServerCrashed, ServerError, TimeoutError) as exc:
        raise SetupError(f"The new environment cannot run the server: {exc}") from exc
    finally:
        client.shutdown()
    log(f"server {info.get('server_version')} answered: torch {info.get('torch_version')}, "
        f"devices {', '.join(d.get('id', '?') for d in info.get('devices', []))}")
    return info


# ---------------------------------------------------------------------------- finding a Python

_PROBE = r"""
import importlib.metadata as md, importlib.util as iu, json, sys
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3],
                  "torch": version("torch") if iu.find_spec("torch") else None,
                  "server": iu.find_spec("inference_server") is not None}))
"""


@dataclass(frozen=True)
class PythonCandidate:
    """A Python that might run the server: where it came from and whether it can."""

    path: str
    source: str  # "GLOT_SERVER_PYTHON" | "setup-env" | "PATH"
    ok: bool
    reason: str
    python_version: str | None = None
    torch_version: str | None = None


def probe_python(path: str, source: str,
                 server_root: str | os.PathLike[str] | None = None) -> PythonCandidate:
    """Run ``path`` briefly to learn its Python and torch versions and whether it finds the
    server package (with ``server_root`` on PYTHONPATH when given)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    if server_root:
        env["PYTHONPATH"] = str(server_root)
    try:
        out = subprocess.run([path, "-c", _PROBE], check=False, capture_output=True, text=True, env=env,
                             timeout=PROBE_TIMEOUT_S, creationflags=_NO_WINDOW)
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return PythonCandidate(path, source, False, f"cannot run it ({type(exc).__name__})")
    py, torch = info.get("python"), info.get("torch")
    problems = []
    if tuple(int(x) for x in py.split(".")[:2]) < MIN_PYTHON:
        problems.append(f"Python {py} is too old (need {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+)")
    if torch is None:
        problems.append(f"torch is not installed (press {CREATE_ENV_BUTTON} in the add-on "
                        f"preferences, or run {ENV_COMMAND})")
    if not info.get("server"):
        problems.append("the inference_server package is not installed")
    reason = "; ".join(problems) or f"Python {py} with torch {torch} and the server package"
    return PythonCandidate(path, source, not problems, reason, py, torch)


def find_server_pythons(server_root: str | os.PathLike[str] | None = None,
                        env_dir: str | os.PathLike[str] | None = None) -> list[PythonCandidate]:
    """Candidates, best first: $GLOT_SERVER_PYTHON, the setup-env venv (``env_dir`` or the
    user data folder), then python3 / python3.11 / python on PATH. Each is probed."""
    found: list[tuple[str, str]] = []
    if os.environ.get(ENV_PYTHON_VAR):
        found.append((os.environ[ENV_PYTHON_VAR], ENV_PYTHON_VAR))
    venv_py = venv_python(Path(env_dir) if env_dir else default_env_dir())
    if venv_py.exists():
        found.append((str(venv_py), "setup-env"))
    for name in PATH_PYTHON_NAMES:
        path = shutil.which(name)
        if path:
            found.append((path, "PATH"))
    seen: set[str] = set()
    result = []
    for path, source in found:
        key = os.path.abspath(path)  # not realpath: a venv's python links to its base
        if key in seen:
            continue
        seen.add(key)
        result.append(probe_python(path, source, server_root))
    return result


def pick_server_python(server_root: str | os.PathLike[str] | None = None,
                       env_dir: str | os.PathLike[str] | None = None) -> PythonCandidate | None:
    """The first usable candidate of :func:`find_server_pythons`, or None."""
    return next((c for c in find_server_pythons(server_root, env_dir) if c.ok), None)


# ---------------------------------------------------------------------------- setup_env


def setup_env(target_dir: str | os.PathLike[str], base_python: str | os.PathLike[str] |
              None = None, source_dir: str | os.PathLike[str] | None = None,
              extras: Sequence[str] = ("server",), torch_variant: str = "auto",
              log: LogFn | None = None, *, install_torch: bool = True,
              pip_args: Sequence[str] = (), reuse_site_packages: Sequence[str] = (),
              venv_args: Sequence[str] = (), verify: bool = True, models_dir: str | os.PathLike[str] | None = None,
              should_cancel: Callable[[], bool] | None = None) -> SetupResult:
    """Create (or update) the server environment in ``target_dir`` and verify it.

    base_python: a Python 3.10+ to make the venv from (default: the running one; inside
    Blender pass a system Python). source_dir: a folder with pyproject.toml and the
    ``inference_server`` package (default: :func:`server_source_dir`). extras: pip extras
    ("server", optionally "lite"). torch_variant: "auto" | "cpu" | "cuda" (module docstring).
    install_torch=False skips the torch step (already present, or provided through
    ``reuse_site_packages``, folders made importable through a .pth file). pip_args are
    added to every pip install (e.g. ``--no-index --find-links DIR`` offline), venv_args to
    ``python -m venv`` (e.g. ``--without-pip`` when pip comes from a reused folder). Never raises
    for a failed step: the result has ok=False and a message naming the step.
    """
    target = Path(target_dir).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    log_path = target / LOG_NAME
    python = venv_python(target)
    result = SetupResult(ok=False, target_dir=target, python=python, log_path=log_path)
    with open(log_path, "a", encoding="utf-8") as log_file:
        def emit(line: str) -> None:
            log_file.write(line + "\n")
            log_file.flush()
            if log is not None:
                log(line)

        emit(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} setting up the server environment "
             f"in {target}")
        try:
            _setup_steps(result, base_python, source_dir, extras, torch_variant, emit,
                         install_torch, pip_args, reuse_site_packages, venv_args, verify,
                         models_dir, should_cancel)
            result.ok = True
            result.message = f"Server environment ready: {python}"
        except SetupError as exc:
            result.message = str(exc)
        emit(result.message)
    return result


def _setup_steps(result: SetupResult, base_python: str | os.PathLike[str] | None,
                 source_dir: str | os.PathLike[str] | None, extras: Sequence[str],
                 torch_variant: str, emit: LogFn, install_torch: bool,
                 pip_args: Sequence[str], reuse_site_packages: Sequence[str],
                 venv_args: Sequence[str], verify: bool,
                 models_dir: str | os.PathLike[str] | None,
                 should_cancel: Callable[[], bool] | None) -> None:
    bad = [e for e in extras if e not in KNOWN_EXTRAS]
    if bad:
        raise SetupError(f"Unknown extra(s) {', '.join(bad)}: use {', '.join(KNOWN_EXTRAS)}.")
    source = Path(source_dir).resolve() if source_dir else server_source_dir()
    if not (source / "pyproject.toml").is_file():
        raise SetupError(f"No server source found at {source}: pass the folder holding "
                         "pyproject.toml and inference_server/.")
    base = Path(base_python) if base_python else default_base_python()
    info = _python_info(base)
    if tuple(info["major_minor"]) < MIN_PYTHON:
        raise SetupError(f"{base} is Python {info['version']}; the server needs "
                         f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer.")
    result.python_version = info["version"]
    env = _pip_env()
    if result.python.exists():
        emit(f"reusing the existing environment {result.target_dir}")
    else:
        _run([base, "-m", "venv", *venv_args, result.target_dir], emit, "Creating the venv", env,
             should_cancel)
    if reuse_site_packages:
        _link_site_packages(result.python, reuse_site_packages, emit)
    pip = [result.python, "-m", "pip", "install", *pip_args]
    if install_torch:
        variant, index_args, why = choose_torch(torch_variant, gpu=detect_nvidia_gpu())
        emit(f"torch {TORCH_VERSION}: {why}")
        result.torch_variant = variant
        _run([*pip, f"torch=={TORCH_VERSION}", *index_args], emit, "Installing torch", env,
             should_cancel)
    else:
        emit("torch: not installed by this step (install_torch=False)")
        result.torch_variant = "existing"
    spec = f"{source}[{','.join(extras)}]" if extras else str(source)
    _run([*pip, spec], emit, "Installing the server package", env, should_cancel)
    if verify:
        init = verify_env(result.python, emit, Path(models_dir) if models_dir else None)
        result.initialize = init
        result.torch_version = str(init.get("torch_version", ""))
        result.server_version = str(init.get("server_version", ""))
        result.devices = list(init.get("devices", []))


# ---------------------------------------------------------------------------- command line


def build_parser(prog: str = ENV_COMMAND) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=(
        "Create the inference server's Python environment: a venv with torch and the server, "
        "verified by starting the server."))
    p.add_argument("folder", type=Path, nargs="?", default=None,
                   help=f"where to create it (default: {default_env_dir()})")
    p.add_argument("--python", default=None, help="base Python 3.10+ (default: this one)")
    p.add_argument("--source", type=Path, default=None,
                   help="folder with pyproject.toml and inference_server/ (default: "
                   f"{server_source_dir()})")
    p.add_argument("--lite", action="store_true", help="also install the lite (BlazePose) backend")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cuda", dest="torch", action="store_const", const="cuda",
                       help="install CUDA torch (NVIDIA GPU)")
    group.add_argument("--cpu", dest="torch", action="store_const", const="cpu",
                       help="install CPU-only torch (smaller download)")
    p.set_defaults(torch="auto")
    p.add_argument("--models", type=Path, default=None, help="models folder for the check")
    p.add_argument("--list-pythons", action="store_true",
                   help="only list the Pythons that could run the server, and why (not) each")
    return p


def main(argv: Sequence[str] | None = None, prog: str = ENV_COMMAND) -> int:
    """``glot-mocap-env [DIR] [--python PY] [--lite] [--cuda|--cpu]``; exit 0 if ready.

    The same :func:`setup_env` as the add-on's button, with the same defaults (the user data
    folder's ``server-env``, the server source this copy ships)."""
    args = build_parser(prog).parse_args(argv)
    if args.list_pythons:
        for cand in find_server_pythons(server_source_dir(), args.folder):
            print(f"{'OK ' if cand.ok else '-- '} {cand.path} [{cand.source}]: {cand.reason}")
        return 0
    extras = ("server", "lite") if args.lite else ("server",)
    result = setup_env(args.folder or default_env_dir(), args.python, args.source, extras,
                       args.torch, log=print, models_dir=args.models)
    if result.ok:
        print(f"\nReady. Use this Python for the server (add-on preferences or "
              f"{ENV_PYTHON_VAR}):\n  {result.python}")
        return 0
    print(f"\nSetup failed: {result.message}\nFull log: {result.log_path}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(prog="python -m glot_blender.server_env"))
