"""Model files each backend needs, where they are looked for, and what is missing.

Nothing here downloads anything: the GLoT, SPIN, SMPL and YOLO files have their own licences
and must be fetched by the user from their official sources. Files are found by their official
names in, in this order: the ``--models`` folder (``models_dir``), the folder named by the
environment variable ``GLOT_MODELS_DIR``, then the user data folder's ``models``
(Linux ``~/.local/share/glot-mocap/models`` or ``$XDG_DATA_HOME/glot-mocap/models``,
macOS ``~/Library/Application Support/glot-mocap/models``, Windows ``%APPDATA%/glot-mocap/models``).
The names and the folders are :mod:`glot_blender.core.locations`' (the add-on uses the same).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from glot_blender.core.locations import (
    GLOT_CHECKPOINTS,
    MODELS_DIR_VAR,
    SMPL_PICKLES,
    SPIN_CHECKPOINT,
    YOLO_CFG,
    YOLO_WEIGHTS,
    find_model_file,
    models_search_dirs,
)

from glot_blender.core.safe_files import display, file_kind

from .errors import InvalidRequestError, ModelFileError

GLOT_SOURCE = (
    "the GLoT README's Google Drive folder "
    "https://drive.google.com/drive/folders/1PXWeHeo1e5gyXqLpEhIpatlNLd-8lpmc"
)
SMPL_SOURCE = (
    "the SMPLify website https://smplify.is.tue.mpg.de (neutral model, "
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl; may be renamed SMPL_NEUTRAL.pkl)"
)
YOLO_SOURCE = "Darknet YOLOv3 https://pjreddie.com/darknet/yolo/ (yolov3.cfg and yolov3.weights)"

#: groups whose files are never needed for an analysis (the body mesh is only for Blender)
OPTIONAL_GROUPS: tuple[str, ...] = ("body",)


@dataclass(frozen=True)
class ModelFile:
    """One file a backend needs; ``names`` are accepted file names, the first is canonical."""

    names: tuple[str, ...]
    purpose: str
    source: str
    required: bool = True

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass(frozen=True)
class FileReport:
    """Where one file was looked for and where (if anywhere) it was found."""

    file: ModelFile
    path: Path | None
    searched: tuple[Path, ...]

    @property
    def present(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class BackendReport:
    """Every file of one backend; ``ready`` when all required files are present."""

    backend: str
    files: tuple[FileReport, ...]

    @property
    def ready(self) -> bool:
        return all(f.present for f in self.files if f.file.required)

    @property
    def missing(self) -> list[str]:
        return [f.file.name for f in self.files if f.file.required and not f.present]


def backend_files(glot_checkpoint: str = GLOT_CHECKPOINTS[0]) -> dict[str, tuple[ModelFile, ...]]:
    """The model files of each backend ("glot", "yolo" detector, optional "body" mesh, "lite")."""
    return {
        "glot": (
            ModelFile((glot_checkpoint,), "GLoT checkpoint", GLOT_SOURCE),
            ModelFile((SPIN_CHECKPOINT,), "SPIN ResNet-50 feature extractor", GLOT_SOURCE),
        ),
        "yolo": (
            ModelFile((YOLO_CFG,), "YOLOv3 network description", YOLO_SOURCE),
            ModelFile((YOLO_WEIGHTS,), "YOLOv3 COCO weights", YOLO_SOURCE),
        ),
        "body": (ModelFile(SMPL_PICKLES, "SMPL neutral body mesh for Blender", SMPL_SOURCE),),
        # BlazePose ships inside the mediapipe package: no file to place
        "lite": (),
    }


class ModelRegistry:
    """Finds model files by their official names in the configured search folders."""

    def __init__(
        self,
        models_dir: str | os.PathLike[str] | None = None,
        *,
        glot_checkpoint: str = GLOT_CHECKPOINTS[0],
        env: Mapping[str, str] | None = None,
    ) -> None:
        if glot_checkpoint not in GLOT_CHECKPOINTS:
            raise InvalidRequestError(
                f"unknown GLoT checkpoint '{glot_checkpoint}': choose one of "
                + ", ".join(GLOT_CHECKPOINTS)
            )
        self.search_dirs: tuple[Path, ...] = models_search_dirs(models_dir, env)
        self.glot_checkpoint = glot_checkpoint
        self.files = backend_files(glot_checkpoint)

    @property
    def primary_dir(self) -> Path:
        """Where the user is told to put missing files (the first search folder)."""
        return self.search_dirs[0]

    def find(self, name: str) -> Path | None:
        """The first existing file called ``name`` in the search folders, else None;
        ModelFileError when none is a file but an entry of that name is something else."""
        return self._found((name,))

    def _locate(self, spec: ModelFile) -> Path | None:
        return self._found(spec.names)

    def _found(self, names: tuple[str, ...]) -> Path | None:
        found = find_model_file(names, self.search_dirs)
        if found is None:
            for folder in self.search_dirs:
                for name in names:
                    kind = file_kind(folder / name)
                    if kind is not None:  # a FIFO, a device, a folder: named, not "missing"
                        raise ModelFileError(
                            f"the model file {display(folder / name)} is {kind}, not a file: "
                            "put the real file there (or remove it).")
        return found

    def _spec(self, backend: str) -> tuple[ModelFile, ...]:
        if backend not in self.files:
            raise InvalidRequestError(
                f"unknown backend '{backend}': known ones are " + ", ".join(self.files)
            )
        return self.files[backend]

    def backend_report(self, backend: str) -> BackendReport:
        return BackendReport(
            backend,
            tuple(FileReport(f, self._locate(f), self.search_dirs) for f in self._spec(backend)),
        )

    def report(self) -> dict[str, BackendReport]:
        """Every backend's files: present or missing, and where they were looked for."""
        return {name: self.backend_report(name) for name in self.files}

    def require(self, backend: str) -> dict[str, Path]:
        """Paths of the backend's files, by canonical name (optional files only when present).

        Raises :class:`ModelFileError` naming every missing required file, where to get it and
        where to put it, in one message.
        """
        rep = self.backend_report(backend)
        missing = [f for f in rep.files if f.file.required and not f.present]
        if missing:
            raise ModelFileError(self.missing_message(backend, [f.file for f in missing]))
        return {f.file.name: f.path for f in rep.files if f.path is not None}

    def missing_message(self, backend: str, missing: list[ModelFile]) -> str:
        items = "; ".join(
            f"{' or '.join(f.names)} ({f.purpose}, from {f.source})" for f in missing
        )
        where = ", ".join(str(d) for d in self.search_dirs)
        return (
            f"the '{backend}' backend is missing {len(missing)} model file(s): {items}. "
            f"Put them in {self.primary_dir} (or pass --models DIR / set {MODELS_DIR_VAR}); "
            f"looked in: {where}."
        )


def format_report(registry: ModelRegistry) -> str:
    """A plain-text table of every backend's files for ``glot-mocap models``."""
    lines = ["Model folders searched, in order:"]
    lines += [f"  {i + 1}. {d}" for i, d in enumerate(registry.search_dirs)]
    for name, rep in registry.report().items():
        state = "ready" if rep.ready else "MISSING FILES"
        if name in OPTIONAL_GROUPS:
            state = "optional: " + ("present" if rep.ready else "absent")
        lines.append("")
        lines.append(f"[{name}] {state}")
        if not rep.files:
            lines.append("  (no model files needed)")
        for f in rep.files:
            tag = "ok     " if f.present else ("missing" if f.file.required else "absent ")
            where = str(f.path) if f.path else f"put it in {registry.primary_dir}"
            names = " or ".join(f.file.names)
            lines.append(f"  {tag} {names}  ({f.file.purpose})")
            lines.append(f"          {where}")
            if not f.present:
                lines.append(f"          get it from {f.file.source}")
    return "\n".join(lines)
