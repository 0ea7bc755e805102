"""One name per button: the add-on's environment button is called the same everywhere (its
label, every message that tells the user to press it, README and docs)."""

from __future__ import annotations

import re
from pathlib import Path

from glot_blender.server_env import CREATE_ENV_BUTTON

REPO = Path(__file__).resolve().parents[1]
#: other names the button has had, or that a writer might reach for
OTHER_NAMES = re.compile(
    r"set[ -]?up (the )?(server )?environment\b(?! folder)|create (the |an )?(server )?env\b|"
    r"create (the |a )?(server )?(python )?environment\b",
    re.IGNORECASE,
)


def texts() -> list[Path]:
    files = [*REPO.glob("glot_blender/**/*.py"), REPO / "README.md", *REPO.glob("docs/*.md")]
    return [f for f in files if f.is_file()]


def test_the_environment_button_has_one_name_everywhere() -> None:
    stray = []
    for path in texts():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in OTHER_NAMES.finditer(line):
                if match.group(0).lower() != CREATE_ENV_BUTTON.lower():
                    stray.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not stray, "\n".join(stray)


def test_messages_name_the_button_through_its_constant() -> None:
    """Python code says the name through CREATE_ENV_BUTTON, so a rename reaches every message."""
    literal = re.compile(r"[\"'][^\"']*\b" + re.escape(CREATE_ENV_BUTTON) + r"\b")
    hits = [
        f"{p.relative_to(REPO)}:{n}"
        for p in REPO.glob("glot_blender/**/*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line) and "CREATE_ENV_BUTTON =" not in line
    ]
    assert not hits, hits
