"""Shared fixtures: a tmp data home, a migrated store, a live `honcho-local serve` on a free
loopback port, raw HTTP and the official honcho-ai SDK pointed at it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from honcho_local.bench.server import Server, free_port
from honcho_local.bench.server import start_server as start_live
from honcho_local.store import Store
from tests.fake_model import FactEcho, FakeModel

REPO_ROOT = Path(__file__).resolve().parents[1]
# Tests check behaviour, not speed: model calls and the clients waiting on them get deadlines no busy
# 2-core machine can miss (pytest-timeout still catches a real hang).
MODEL_DEADLINE_S = 3600
CLIENT_TIMEOUT_S = 900


LiveServer = Server  # the benchmarks' live server (honcho_local/bench/server.py): one implementation


def start_server(home: Path, port: int | None = None, env: dict[str, str] | None = None,
                 timeout: float = 300.0) -> LiveServer:
    """Start `honcho-local serve` as a subprocess and wait until /health answers."""
    port = port or free_port()
    # Tests never pull the 1.5B default: the tiny model, and no reasoning unless a test asks for it.
    defaults = {"HONCHO_LOCAL_REASONING_MODEL": "smollm2-135m", "HONCHO_LOCAL_REASONING_ENABLED": "false",
                "HONCHO_LOCAL_SUMMARY_ENABLED": "false", "HONCHO_LOCAL_MODEL_CONTEXT": "2048"}
    return start_live(home, env={**defaults, **(env or {})}, timeout=timeout, cwd=REPO_ROOT, port=port,
                      log_path=home / f"server-{port}-{uuid.uuid4().hex[:6]}.log")


def stop_server(server: LiveServer) -> None:
    server.stop(timeout=15)


@pytest.fixture
def model() -> Iterator[FakeModel]:
    """A scripted OpenAI-compatible model on 127.0.0.1 (tests/fake_model.py), stopped after the test."""
    fake = FakeModel().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def fact_echo() -> Iterator[FactEcho]:
    """A `FactEcho` model for the module (tests/fake_model.py): a chat answer lists the FACT-* markers its
    prompt held, so it shows what the server recalled."""
    model = FactEcho().start()
    yield model
    model.stop()


@pytest.fixture(scope="module")
def fact_echo_server(tmp_path_factory: pytest.TempPathFactory, fact_echo: FactEcho) -> Iterator[LiveServer]:
    """A live server for the module whose chat model is `fact_echo` (reasoning off: the only conclusions
    are the ones a test writes)."""
    srv = start_server(tmp_path_factory.mktemp("fact-echo"), env=fact_echo.env())
    yield srv
    stop_server(srv)


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def store(tmp_home: Path) -> Iterator[Store]:
    s = Store.open(tmp_home / "honcho.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("server-home"))
    yield srv
    stop_server(srv)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def workspace_id() -> str:
    return f"ws-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def honcho(server: LiveServer, workspace_id: str):
    from honcho import Honcho

    return Honcho(base_url=server.url, workspace_id=workspace_id)


# ---- read path (issue 5): a live server with the small chat model, in-process models ----------
READ_SERVER_ENV = {"HONCHO_LOCAL_REASONING_MODEL": "smollm2-135m", "HONCHO_LOCAL_MODEL_CONTEXT": "2048",
                   "HONCHO_LOCAL_MODEL_TIMEOUT": str(MODEL_DEADLINE_S)}


@pytest.fixture(scope="module")
def read_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server whose chat model is the real SmolLM2-135M (embeddings: the real MiniLM)."""
    srv = start_server(tmp_path_factory.mktemp("read-home"), env=READ_SERVER_ENV, timeout=120)
    yield srv
    stop_server(srv)


@pytest.fixture
def read_honcho(read_server: LiveServer, workspace_id: str):
    from honcho import Honcho

    return Honcho(base_url=read_server.url, workspace_id=workspace_id, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture
def read_http(read_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=read_server.url, timeout=CLIENT_TIMEOUT_S) as client:
        yield client


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory):
    """`wiring.Models` holding the real SmolLM2 chat model and MiniLM embedder (fetched once, cached)."""
    from honcho_local.config import load_settings
    from honcho_local.llm.catalog import find_spec, models_dir
    from honcho_local.llm.fetch import ensure_model
    from honcho_local.wiring import Models

    settings = load_settings(home=tmp_path_factory.mktemp("models-home"), env={}, reasoning_model="smollm2-135m",
                             model_context=2048, model_timeout=MODEL_DEADLINE_S)
    directory = models_dir(settings)
    for name in ("smollm2-135m", "all-minilm-l6-v2"):
        ensure_model(find_spec(name, directory), directory)
    models = Models(settings)
    yield models
    models.close()


@pytest.fixture
def read_app(tmp_home: Path, real_models):
    """(services, Litestar TestClient) on a real DuckDB file, sharing the real models."""
    from litestar.testing import TestClient

    from honcho_local.api import create_app
    from honcho_local.config import load_settings
    from honcho_local.wiring import build_services

    settings = load_settings(home=tmp_home, env={}, reasoning_model="smollm2-135m", model_context=2048)
    services = build_services(settings, models=real_models)
    services.models = None  # shared across tests: closed by `real_models`
    with TestClient(create_app(services)) as client:
        yield services, client
    services.close()


def post_messages(client, workspace_path: str, session: str, items: list[tuple[str, str]]) -> list[dict]:
    """POST (peer, content) pairs to a session of `read_app`'s client; asserts the 201."""
    r = client.post(f"{workspace_path}/sessions/{session}/messages",
                    json={"messages": [{"peer_id": p, "content": c} for p, c in items]})
    assert r.status_code == 201, r.text
    return r.json()


BROWSER_WAIT = 120  # a guard against a hung page, never a speed bound (2 shared cores)


# ---- a real browser (tests/test_docs_page.py, tests/test_ui.py) ----------------------------------
def _browser_paths() -> tuple[str, str]:
    browser = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                    if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
        pytest.skip(f"{missing} not installed (run .ci/setup-browser)")
    return browser, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium through chromedriver. Every host name resolves to nothing, so the page gets
    no more from the network than it would offline; the server is reached by its IP address."""
    browser_path, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1600", f"--user-data-dir={tmp_path / 'profile'}",
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


# ---- tiers --------------------------------------------------------------------------------------
# `live`: a test that runs other processes (a `honcho-local serve` on a loopback port, the CLI, node, a
# browser) or a real model. Everything else is the fast tier: the in-process fake model and a real
# DuckDB file, `pytest -m "not live"`. The full suite (what CI runs) is both.
LIVE_FIXTURES = {"server", "http", "honcho", "read_server", "read_http", "read_honcho", "browser", "real_models",
                 "read_app", "auth_server", "contract_server", "fact_echo_server"}
LIVE_CALLS = ("start_server(", "subprocess.", "LiveServer", "webdriver")


def _live_source(text: str) -> bool:
    return any(call in text for call in LIVE_CALLS)


def _live_helpers(module: object) -> tuple[str, ...]:
    """Calls, as `name(`, of the module's own functions that start processes (one level deep)."""
    import inspect

    names = []
    for name, member in vars(module).items():
        if inspect.isfunction(member) and not name.startswith("test_") and member.__module__ == module.__name__:
            if _live_source(inspect.getsource(member)):
                names.append(f"{name}(")
    return tuple(names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import inspect

    helpers: dict[str, tuple[str, ...]] = {}
    for item in items:
        module = getattr(item, "module", None)
        function = getattr(item, "function", None)
        if module is not None and module.__name__ not in helpers:
            helpers[module.__name__] = _live_helpers(module)
        source = inspect.getsource(function) if function is not None else ""
        calls = helpers.get(module.__name__, ()) if module is not None else ()
        if _live_source(source) or any(call in source for call in calls) or \
                LIVE_FIXTURES & set(getattr(item, "fixturenames", ())) or \
                item.get_closest_marker("slow") or item.get_closest_marker("model"):
            item.add_marker(pytest.mark.live)
