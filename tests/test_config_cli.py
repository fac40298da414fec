"""Settings precedence, the CLI entry points, and the README settings table staying true."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from honcho_local import __version__
from honcho_local.config import default_models_dir, load_settings, settings_table_markdown
from honcho_local.errors import InvalidInput

REPO = Path(__file__).resolve().parents[1]


def test_precedence_defaults_toml_env(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).port == 8000
    (tmp_path / "config.toml").write_text('port = 9001\nreasoning_model = "qwen2.5-coder-0.5b"\n')
    s = load_settings(tmp_path, env={})
    assert (s.port, s.reasoning_model) == (9001, "qwen2.5-coder-0.5b")
    s = load_settings(tmp_path, env={"REASONING_MODEL": "smollm2-135m", "HONCHO_LOCAL_PORT": "9002"})
    assert (s.port, s.reasoning_model) == (9002, "smollm2-135m")
    s = load_settings(tmp_path, env={"PORT": "1", "HONCHO_LOCAL_PORT": "9003"})
    assert s.port == 9003  # the prefixed name wins
    assert load_settings(tmp_path, env={"HONCHO_LOCAL_PORT": "9002"}, port=7000).port == 7000


def test_home_resolution(tmp_path: Path) -> None:
    assert load_settings(None, env={"HONCHO_LOCAL_HOME": str(tmp_path)}).home == tmp_path
    assert load_settings(tmp_path / "x", env={"HONCHO_LOCAL_HOME": str(tmp_path)}).home == tmp_path / "x"
    assert load_settings(None, env={}).db_path.name == "honcho.duckdb"


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="port"):
        load_settings(tmp_path, env={"HONCHO_LOCAL_PORT": "not-a-port"})
    (tmp_path / "config.toml").write_text("port = [")
    with pytest.raises(InvalidInput, match="TOML"):
        load_settings(tmp_path, env={})
    (tmp_path / "config.toml").write_text("colour = 'red'\n")
    with pytest.raises(InvalidInput, match="colour"):
        load_settings(tmp_path, env={})


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "honcho_local.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_cli_version_and_config_show(tmp_path: Path) -> None:
    r = _cli("--version")
    assert r.returncode == 0 and __version__ in r.stdout
    (tmp_path / "config.toml").write_text("port = 9100\n")
    r = _cli("--home", str(tmp_path), "config", "show", "--json", env={"WORKER_CONCURRENCY": "3"})
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["port"] == {"value": 9100, "source": "config.toml"}  # typed: a number, not "9100"
    assert shown["worker_concurrency"] == {"value": 3, "source": "env"}
    assert shown["reasoning_enabled"] == {"value": True, "source": "default"}
    assert shown["log_level"]["source"] == "default"
    assert shown["home"] == {"value": str(tmp_path), "source": "cli/env"}
    assert shown["models_dir"] == {"value": str(default_models_dir()), "source": "default (per-user cache)"}
    assert shown["openai_base_url"] == {"value": None, "source": "default"}
    table = _cli("config", "show", "--home", str(tmp_path)).stdout.splitlines()  # --home after the command too
    assert table[0].split() == ["setting", "value", "source"]
    assert any(line.split()[:2] == ["port", "9100"] for line in table)


def test_cli_bad_config_exits_2_with_message(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("port = 'x'\n")
    r = _cli("--home", str(tmp_path), "config", "show")
    assert r.returncode == 2 and "port" in r.stderr and "Traceback" not in r.stderr


def test_settings_doc_table_is_current() -> None:
    doc = (REPO / "docs" / "settings.md").read_text()
    assert settings_table_markdown() in doc, "regenerate with: python -c 'from honcho_local.config " \
        "import settings_table_markdown as t; print(t())'"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- test-command -->", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0].strip()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == block
    assert 'cd "$work/honcho-local"' in ci  # ...run inside a copy with nothing beside it


def test_ci_installs_node_and_copies_no_node_modules() -> None:
    """CI gives the TypeScript SDK suite its node (Debian's, through .ci/setup-node, before the copy) and a
    copy without a stale tests/ts/node_modules: the test installs the lockfile's SDK itself."""
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index('"$src/.ci/setup-node"') < ci.index("tar -C")
    assert "--exclude=node_modules" in ci
    assert (REPO / ".ci" / "setup-node").stat().st_mode & 0o111
    setup = (REPO / ".ci" / "setup-node").read_text()
    assert "apt-get install -y -qq nodejs npm" in setup
    assert "node_modules/" in (REPO / ".gitignore").read_text().splitlines()
