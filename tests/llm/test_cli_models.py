"""`honcho-local models list | pull | add | use | verify` are thin shells over honcho_local.llm.manage."""

from __future__ import annotations

import importlib.util
import tomllib

import pytest
from click.testing import CliRunner

from honcho_local.cli import main
from honcho_local.config import load_settings
from honcho_local.llm.catalog import load_catalog


@pytest.fixture
def run(tmp_path, test_models_dir):
    def invoke(*args: str, models_dir=None):
        env = {"HONCHO_LOCAL_MODELS_DIR": str(models_dir or test_models_dir)}
        return CliRunner().invoke(main, ["--home", str(tmp_path / "home"), "models", *args], env=env)

    return invoke


def test_list_shows_the_catalog_and_what_is_installed(run, smol_path):
    result = run("list")
    assert result.exit_code == 0, result.output
    header, *body = result.output.splitlines()
    assert header.split()[:5] == ["name", "role", "status", "size", "file"]
    lines = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in body}
    assert {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "all-minilm-l6-v2"} <= set(lines)
    assert "installed" in lines["smollm2-135m"]
    assert lines["qwen2.5-coder-1.5b"].startswith("*")  # the configured default


def test_list_in_an_empty_dir_shows_missing(run, tmp_path):
    result = run("list", models_dir=tmp_path / "empty")
    assert result.exit_code == 0 and result.output.count("missing") == len(load_catalog())  # every model


def test_use_writes_the_setting_for_the_role(run, tmp_path):
    assert run("use", "qwen2.5-coder-0.5b").exit_code == 0
    assert run("use", "all-minilm-l6-v2").exit_code == 0
    config = tomllib.loads((tmp_path / "home" / "config.toml").read_text())
    assert config == {"reasoning_model": "qwen2.5-coder-0.5b", "embedding_model": "all-minilm-l6-v2"}
    assert load_settings(home=tmp_path / "home", env={}).reasoning_model == "qwen2.5-coder-0.5b"


def test_use_unknown_model_fails(run):
    result = run("use", "nope")
    assert result.exit_code == 1 and "unknown model" in result.output


def test_add_then_use_then_verify_detects_corruption(run, tmp_path):
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF" + b"x" * 100)
    models = tmp_path / "models"
    result = run("add", str(own), "--name", "mine", models_dir=models)
    assert result.exit_code == 0, result.output
    assert "mine" in run("list", models_dir=models).output
    assert run("use", "mine", models_dir=models).exit_code == 0
    assert run("verify", models_dir=models).exit_code == 0
    own.write_bytes(b"GGUF" + b"y" * 100)
    result = run("verify", models_dir=models)
    assert result.exit_code == 1 and "corrupt" in result.output and str(own) in result.output


def test_add_refuses_a_non_gguf_file(run, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = run("add", str(bad), "--name", "x", models_dir=tmp_path / "m")
    assert result.exit_code == 2 and "not a GGUF" in result.output


def test_pull_offline_says_what_to_run(run, tmp_path):
    result = run("pull", "smollm2-135m", "--offline", models_dir=tmp_path / "empty")
    assert result.exit_code == 1
    assert "offline" in result.output and "honcho-local models pull smollm2-135m" in result.output


def test_pull_of_an_installed_model_is_a_no_op(run, smol_path):
    result = run("pull", "smollm2-135m", "--offline")
    assert result.exit_code == 0 and str(smol_path) in result.output


def test_torch_is_not_installed():
    assert importlib.util.find_spec("torch") is None, "nothing in honcho-local may pull in torch"


def test_serve_offline_refuses_to_fetch_missing_models(tmp_path):
    env = {"HONCHO_LOCAL_MODELS_DIR": str(tmp_path / "empty")}
    result = CliRunner().invoke(main, ["serve", "--home", str(tmp_path / "home"), "--offline"], env=env)
    assert result.exit_code == 1
    assert "offline" in result.output and "honcho-local models pull qwen2.5-coder-1.5b" in result.output
