"""One model cache per user: two data homes and both install modes (editable checkout, installed
wheel) find the same model file, so it is fetched once per machine and user (issue 29)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from honcho_local.llm.catalog import find_spec

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """honcho-local installed as a wheel (no deps: they are the venv's) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(REPO)], check=True, cwd=target, capture_output=True)
    return target


@pytest.fixture
def cache(tmp_path: Path, smol_path: Path) -> Path:
    """A fresh per-user cache (XDG_CACHE_HOME) holding one verified model file (hard link or copy)."""
    xdg = tmp_path / "xdg-cache"
    models = xdg / "honcho-local" / "models"
    models.mkdir(parents=True)
    for src in [smol_path, *smol_path.parent.glob(smol_path.name + ".verified")]:
        try:
            os.link(src, models / src.name)
        except OSError:
            shutil.copy2(src, models / src.name)
    return xdg


def _cli(mode: str, site: Path, xdg: Path, cwd: Path, *args: str) -> dict | list:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONCHO_LOCAL_")}
    env["XDG_CACHE_HOME"] = str(xdg)
    if mode == "installed":
        env["PYTHONPATH"] = str(site)
    code = "import honcho_local, sys; print(honcho_local.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert where.startswith(str(site if mode == "installed" else REPO)), (mode, where)
    r = subprocess.run([sys.executable, "-m", "honcho_local.cli", *args], env=env, cwd=cwd, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if "--json" in args else r.stdout


def test_two_homes_and_both_install_modes_share_one_model_file(tmp_path: Path, installed_copy: Path,
                                                               cache: Path) -> None:
    expected = cache / "honcho-local" / "models" / find_spec("smollm2-135m").file
    seen = set()
    for mode in ("editable", "installed"):
        for home in (tmp_path / "home-a", tmp_path / "restore-target"):
            rows = _cli(mode, installed_copy, cache, tmp_path, "models", "list", "--home", str(home), "--json")
            smol = next(r for r in rows if r["name"] == "smollm2-135m")
            assert (smol["status"], smol["path"]) == ("installed", str(expected))
            shown = _cli(mode, installed_copy, cache, tmp_path, "--home", str(home), "config", "show", "--json")
            assert shown["models_dir"]["value"] == str(expected.parent)
            # offline refuses any download: succeeding proves the cached file was reused as it is
            out = _cli(mode, installed_copy, cache, tmp_path, "models", "pull", "smollm2-135m", "--offline",
                       "--home", str(home))
            assert str(expected) in out
            seen.add((mode, home.name))
    assert len(seen) == 4 and sorted(p.name for p in expected.parent.glob("*.gguf")) == [expected.name]
