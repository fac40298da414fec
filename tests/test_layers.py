"""The house rules that tools can check: the layer contracts of DESIGN.md (import-linter, configured in
pyproject.toml), pyflakes' errors (ruff's F rules: undefined names, unused imports) and the package's types
(mypy, `[tool.mypy]` in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def test_layer_contracts_are_kept() -> None:
    r = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_no_pyflakes_errors() -> None:
    r = subprocess.run([_tool("ruff"), "check", "--select", "F", "--output-format", "concise", "--no-cache",
                        "honcho_local", "tests", "scripts"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_package_type_checks() -> None:
    """mypy over the package with pyproject's [tool.mypy] settings: no errors."""
    r = subprocess.run([_tool("mypy"), "honcho_local"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert r.stdout.startswith("Success: no issues found"), r.stdout[-4000:]


def test_only_store_connection_opens_duckdb() -> None:
    """One place opens DuckDB connections (store/connection.py): the store file's ATTACH options and the
    "in use by another process" answer hold for every opener."""
    import ast

    openers = []
    for path in sorted((REPO / "honcho_local").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and node.attr == "connect" and isinstance(node.value, ast.Name)
                    and node.value.id == "duckdb"):
                openers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert openers and all(o.startswith("honcho_local/store/connection.py:") for o in openers), openers
