"""One name per button: the add-on's environment button is called the same everywhere (its
label, every message that tells the user to press it, README and docs)."""

from __future__ import annotations

import ast
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


def _message_literals(tree: ast.AST) -> list[ast.Constant]:
    """String constants of a module that are not docstrings (messages, labels)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docstrings]


def test_messages_name_the_button_through_its_constant() -> None:
    """Python code says the name through CREATE_ENV_BUTTON (docstrings aside), so a rename
    reaches every message and label."""
    hits = []
    for path in REPO.glob("glot_blender/**/*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _message_literals(tree):
            if CREATE_ENV_BUTTON in node.value and node.value != CREATE_ENV_BUTTON:
                hits.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not hits, hits
