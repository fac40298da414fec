"""The official TypeScript SDK (`@honcho-ai/sdk`, pinned in tests/ts/package-lock.json) against a live
server with the fake model: `npm ci` from the lockfile when node_modules lacks the pinned SDK, then
tests/ts/sdk_suite.mjs (plain node) drives every SDK method honcho-local serves and asserts what comes
back. Reasoning is off, so the only conclusions are the ones the suite writes. Skips only where node is
not installed (`.ci/run` installs Debian's nodejs and npm through .ci/setup-node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from honcho_local import apikeys
from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_auth_matrix import AUTH_ENV, SECRET

TS_DIR = Path(__file__).resolve().parent / "ts"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason=(
    "node is not installed (Debian: apt-get install nodejs npm; .ci/setup-node does it)"))


def _installed_sdk() -> str | None:
    manifest = TS_DIR / "node_modules" / "@honcho-ai" / "sdk" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def _ensure_sdk() -> None:
    """`npm ci` (cache first) unless node_modules already holds the version the lockfile pins."""
    lock = json.loads((TS_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@honcho-ai/sdk"]["version"]
    if _installed_sdk() != pinned:
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not (Debian: apt-get install npm; .ci/setup-node does it)"
        done = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=TS_DIR,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    assert _installed_sdk() == pinned == "2.5.0"


def _run_suite(server: LiveServer, **env: str) -> int:
    """Run tests/ts/sdk_suite.mjs against `server`; the number of SDK calls it checked."""
    node = shutil.which("node")
    assert node
    _ensure_sdk()
    done = subprocess.run([node, "sdk_suite.mjs"], cwd=TS_DIR, capture_output=True, text=True, timeout=900,
                          env={"PATH": f"{Path(node).parent}:/usr/bin:/bin", "HONCHO_TEST_URL": server.url, **env})
    print(done.stdout)
    assert done.returncode == 0, f"TypeScript SDK suite failed:\n{done.stdout}\n{done.stderr}\n{server.log()[-4000:]}"
    summary = re.search(r"^ok: (\d+) steps, (\d+) SDK calls checked$", done.stdout, re.M)
    assert summary, done.stdout
    return int(summary.group(2))


@pytest.mark.timeout(900)  # a hang guard: `npm ci` from the network, then some 100 SDK calls
def test_typescript_sdk_suite(fact_echo_server: LiveServer, fact_echo: FakeModel) -> None:
    before = fact_echo.answered
    assert _run_suite(fact_echo_server) >= 108
    assert fact_echo.answered - before >= 11  # every chat the suite asked for reached the model


@pytest.mark.timeout(900)
def test_typescript_sdk_suite_with_api_keys(tmp_path_factory: pytest.TempPathFactory,
                                           fact_echo: FakeModel) -> None:
    """Auth on (Honcho's AUTH_USE_AUTH): the same suite with an admin key as the SDK's `apiKey`, plus a
    keyless and a wrong key refused with 401."""
    server = start_server(tmp_path_factory.mktemp("ts-sdk-auth"), env={**fact_echo.env(), **AUTH_ENV})
    try:
        assert _run_suite(server, HONCHO_TEST_API_KEY=apikeys.mint(SECRET, admin=True)) >= 109
    finally:
        stop_server(server)
