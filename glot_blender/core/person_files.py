"""How one person's file is named beside the name the user chose (one owner for the rule).

``walk.fbx`` holds everyone only when asked for; by default each person of a motion clip gets
``walk_P3.fbx`` (person id 3). The exporters (Blender side), the CLI's Ctrl-C report and the
batch runner's "is the FBX current" test all read the rule from here. Stdlib only.
"""

from __future__ import annotations

import re
from pathlib import Path

#: the label of the person with id N, used in file names and as the all-in-one bone prefix
PERSON_LABEL = "P{track_id}"
_LABEL_RE = r"P\d+"


def person_label(track_id: int) -> str:
    """``P<id>`` for the person with this track id."""
    return PERSON_LABEL.format(track_id=int(track_id))


def person_file_path(chosen: str | Path, label: str) -> Path:
    """``walk.fbx`` -> ``walk_P3.fbx``: the file of one person next to the chosen name."""
    path = Path(chosen)
    return path.with_name(f"{path.stem}_{label}{path.suffix}")


def is_person_file_of(chosen: str | Path, candidate: str | Path) -> bool:
    """True when ``candidate`` is (by name) a person's file made from the chosen name:
    same folder, ``<stem>_P<id><suffix>`` (suffix compared without case)."""
    chosen, candidate = Path(chosen), Path(candidate)
    pattern = re.escape(chosen.stem) + "_" + _LABEL_RE + re.escape(chosen.suffix)
    return (re.fullmatch(pattern, candidate.name, re.IGNORECASE) is not None
            and candidate.parent == chosen.parent)


def person_files_beside(chosen: str | Path) -> list[Path]:
    """The persons' files made from the chosen name that exist now (sorted; none when the
    folder cannot be read)."""
    chosen = Path(chosen)
    try:
        return sorted(p for p in chosen.parent.iterdir() if is_person_file_of(chosen, p))
    except OSError:
        return []
