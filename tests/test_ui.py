"""The memory inspector at `/ui` (issue 32, item 2) in a real headless Chromium: the worker (fake model)
derives conclusions from a peer's messages, the page lists them with the messages they came from, a
deletion through the page is gone from the page and from the API, and stored markup stays text.
With HONCHO_LOCAL_UI_SCREENSHOTS=<folder> the browser test saves its screenshots there (docs/images)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BROWSER_WAIT, LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_docs_page import _is_local, _page_references
from tests.test_worker_live import reasoning_env, wait_idle

W, S = "ui-ws", "ui-s1"
XSS = "I play the cello <img id=xss src=x onerror=\"window.xss=1\"><script>window.xss=2</script>"
MESSAGES = [("alice", "I keep bees on the roof"), ("alice", XSS), ("bob", "bees are nice")]


@pytest.fixture
def reasoning_server(tmp_path: Path, model: FakeModel) -> Iterator[LiveServer]:
    srv = start_server(tmp_path / "home", env=reasoning_env(model))
    yield srv
    stop_server(srv)


def _post(server: LiveServer) -> dict[str, dict]:
    """The messages written (by id); the worker starts on them."""
    r = httpx.post(f"{server.url}/v3/workspaces/{W}/sessions/{S}/messages",
                   json={"messages": [{"peer_id": p, "content": c} for p, c in MESSAGES]})
    assert r.status_code == 201, r.text
    return {m["id"]: m for m in r.json()}


def _drained_conclusions(server: LiveServer) -> dict[str, dict]:
    """Once the worker is done: alice's conclusions by id, each drawn from messages."""
    wait_idle(server, W, timeout=300)
    listed = httpx.post(f"{server.url}/v3/workspaces/{W}/conclusions/list", json={"filters": {"observed_id": "alice"}})
    conclusions = {c["id"]: c for c in listed.json()["items"]}
    assert len(conclusions) >= 2 and all(c["message_ids"] for c in conclusions.values()), conclusions
    return conclusions


def _wait(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, BROWSER_WAIT).until(condition)


_CONTENT_BOTTOM = ("return Math.max(...[...document.querySelectorAll('#main > *, #sidebar > *, header')]"
                   ".map((e) => e.getBoundingClientRect().bottom))")


def _shot(driver, name: str) -> None:
    """A screenshot for docs/ when HONCHO_LOCAL_UI_SCREENSHOTS names a folder, cut below the content."""
    folder = os.environ.get("HONCHO_LOCAL_UI_SCREENSHOTS")
    if not folder:
        return
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(driver.get_screenshot_as_png()))
    scale = image.width / driver.execute_script("return window.innerWidth")
    bottom = min(image.height, int((driver.execute_script(_CONTENT_BOTTOM) + 24) * scale))
    Path(folder).mkdir(parents=True, exist_ok=True)
    image.crop((0, 0, image.width, bottom)).save(Path(folder) / f"ui-{name}.png", optimize=True)


def _open_peer(driver, expected: int) -> list:
    """Workspace, then peer, by clicking; waits until every conclusion shows its provenance."""
    from selenium.webdriver.common.by import By

    _wait(driver, lambda d: d.find_elements(By.LINK_TEXT, W))[0].click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#peers a[href$='/peer/alice']"))[0].click()
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conclusions li.conclusion")) == expected
          and not d.find_elements(By.CSS_SELECTOR, "#conclusions .provenance.pending"))
    return driver.find_elements(By.CSS_SELECTOR, "#conclusions li.conclusion")


def _check_provenance(items: list, conclusions: dict[str, dict], messages: dict[str, dict]) -> None:
    from selenium.webdriver.common.by import By

    assert {item.get_attribute("data-id") for item in items} == set(conclusions)
    for item in items:
        conclusion = conclusions[item.get_attribute("data-id")]
        assert item.find_element(By.CSS_SELECTOR, "p.content").text == conclusion["content"]
        assert item.find_element(By.CSS_SELECTOR, ".level").text == conclusion["level"]
        assert item.find_element(By.CSS_SELECTOR, ".version").text == "v1"
        shown = [q.text.strip("\u201c\u201d\"") for q in item.find_elements(By.CSS_SELECTOR, "li.source q")]
        assert shown == [messages[i]["content"] for i in conclusion["message_ids"]]


def _delete_through_page(driver, server: LiveServer, conclusion_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    item = driver.find_element(By.CSS_SELECTOR, f"li.conclusion[data-id='{conclusion_id}']")
    button = item.find_element(By.CSS_SELECTOR, "button.danger")
    button.click()
    _wait(driver, lambda d: "armed" in button.get_attribute("class"))
    button.click()
    _wait(driver, ec.staleness_of(item))
    assert httpx.get(f"{server.url}/v3/workspaces/{W}/conclusions/{conclusion_id}").status_code == 404


def _versions_with_admin_token(driver, server: LiveServer) -> None:
    """The admin routes answer 401 without the token: the page asks for it, keeps it in sessionStorage."""
    from selenium.webdriver.common.by import By

    token = json.loads((server.home / "server.json").read_text())["token"]
    driver.find_element(By.ID, "versions-load").click()
    field = _wait(driver, lambda d: d.find_element(By.ID, "secret-input").is_displayed()
                  and d.find_element(By.ID, "secret-input"))
    field.send_keys(token)
    driver.find_element(By.ID, "secret-ok").click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#versions li.version.default[data-name='v1']"))
    assert driver.execute_script("return sessionStorage.getItem('honcho-local.admin-token')") == token


def _watch_the_running_unit(driver, server: LiveServer, model: FakeModel) -> None:
    """While the model holds the worker's call, the live queue shows the unit running and its step."""
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/ui/#/{W}")
    unit = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue li.unit"))[0]
    assert W in unit.text and S in unit.text
    _shot(driver, "queue")
    model.release()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue .idle"))


def _check_text_only(driver) -> None:
    from selenium.webdriver.common.by import By

    assert XSS in driver.find_element(By.ID, "main").text  # markup shown as text, never parsed
    assert driver.find_elements(By.CSS_SELECTOR, "#xss, main img, main script") == []
    assert driver.execute_script("return window.xss === undefined")


def _edit_card(driver, server: LiveServer) -> None:
    """The card's text area, saved through the page, is what the card API answers."""
    from selenium.webdriver.common.by import By

    text = driver.find_element(By.ID, "card-text")
    text.clear()
    text.send_keys("NAME: Alice\nHOBBY: beekeeping <b>on roofs</b>")
    driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    _wait(driver, lambda d: "saved" in d.find_element(By.ID, "notice").text)
    card = httpx.get(f"{server.url}/v3/workspaces/{W}/peers/alice/card").json()["peer_card"]
    assert card == ["NAME: Alice", "HOBBY: beekeeping <b>on roofs</b>"]


def _delete_message_through_page(driver, server: LiveServer, message_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    item = driver.find_element(By.CSS_SELECTOR, f"#messages li.event[data-id='{message_id}']")
    button = item.find_element(By.CSS_SELECTOR, "button.danger")
    button.click()
    _wait(driver, lambda d: "armed" in button.get_attribute("class"))
    button.click()
    _wait(driver, ec.staleness_of(item))
    left = len(MESSAGES) - 1  # the page is read again: its count and list follow
    _wait(driver, lambda d: f"({left} events)" in d.find_element(By.CSS_SELECTOR, ".pager").text)
    shown = [e.get_attribute("data-id") for e in driver.find_elements(By.CSS_SELECTOR, "#messages li.event")]
    assert len(shown) == left and message_id not in shown
    assert httpx.get(f"{server.url}/v3/workspaces/{W}/sessions/{S}/messages/{message_id}").status_code == 404


def _page_through_conclusions(driver, server: LiveServer) -> None:
    """More conclusions than a page: "Show more" appends the next page, none twice."""
    from selenium.webdriver.common.by import By

    facts = [f"bob {verb} {thing}" for verb in ("owns", "paints", "fixes", "sells", "collects", "hates", "bakes",
                                                "repairs", "studies", "photographs")
             for thing in ("old bicycles", "blue teapots", "jazz records", "oak tables", "wool sweaters",
                           "steam engines", "rare stamps", "paper kites", "clay pots", "model trains")]
    made = httpx.post(f"{server.url}/v3/workspaces/{W}/conclusions/", timeout=600, json={"conclusions": [
        {"content": fact, "observer_id": "bob", "observed_id": "bob"} for fact in facts]})
    assert made.status_code == 201, made.text
    total = httpx.post(f"{server.url}/v3/workspaces/{W}/conclusions/list",
                       json={"filters": {"observed_id": "bob"}}).json()["total"]
    driver.get(f"{server.url}/ui/#/{W}/peer/bob")
    def shown(d) -> int:
        return len(d.find_elements(By.CSS_SELECTOR, "#conclusions li.conclusion"))

    _wait(driver, lambda d: shown(d) == 50)
    while (before := shown(driver)) < total:
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".pager button"))[0].click()
        _wait(driver, lambda d, before=before: shown(d) > before)
    assert shown(driver) == total and not driver.find_elements(By.CSS_SELECTOR, ".pager button")
    ids = [item.get_attribute("data-id") for item in driver.find_elements(By.CSS_SELECTOR, "li.conclusion")]
    assert len(set(ids)) == total > 50


@pytest.mark.slow
def test_inspector_lists_provenance_and_deletes_in_a_real_browser(reasoning_server: LiveServer, model: FakeModel,
                                                                 browser) -> None:
    from selenium.webdriver.common.by import By

    model.hold()
    messages = _post(reasoning_server)
    _watch_the_running_unit(browser, reasoning_server, model)
    conclusions = _drained_conclusions(reasoning_server)
    _check_provenance(_open_peer(browser, len(conclusions)), conclusions, messages)
    _check_text_only(browser)
    _shot(browser, "peer")
    _edit_card(browser, reasoning_server)
    xss_id = next(i for i, m in messages.items() if m["content"] == XSS)
    gone = next(i for i, c in conclusions.items() if c["message_ids"] == [xss_id])
    _delete_through_page(browser, reasoning_server, gone)
    left = httpx.post(f"{reasoning_server.url}/v3/workspaces/{W}/conclusions/list", json={}).json()["items"]
    assert gone not in {c["id"] for c in left} and left
    browser.refresh()
    items = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#conclusions li.conclusion"))
    assert gone not in {item.get_attribute("data-id") for item in items}
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    browser.get(f"{reasoning_server.url}/ui/#/{W}/session/{S}")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#messages li.event")) == len(MESSAGES))
    _delete_message_through_page(browser, reasoning_server, xss_id)
    _versions_with_admin_token(browser, reasoning_server)
    _shot(browser, "versions")
    browser.get(f"{reasoning_server.url}/ui/#/{W}/search/bees")
    hits = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-messages li.event p.content"))
    assert "I keep bees on the roof" in [hit.text for hit in hits]
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-conclusions li.conclusion"))
    _shot(browser, "search")
    _page_through_conclusions(browser, reasoning_server)


def test_ui_files_are_local_and_served_under_a_strict_policy(server: LiveServer, http: httpx.Client) -> None:
    page = http.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    references = _page_references(page.text)
    assert ("script", "", "/ui/js/main.js") in references
    assert [url for _, _, url in references if not _is_local(url, server)] == []
    modules = [f"/ui/js/{name}" for name in ("main.js", "api.js", "dom.js", "peer.js", "session.js",
                                              "conclusions.js", "search.js", "queue.js", "versions.js")]
    for path in ["/ui", "/ui/", "/ui/ui.css", *modules, "/ui/nothing-here.js"]:
        response = http.get(path)
        assert response.status_code == (404 if "nothing" in path else 200), path
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    for path in modules:
        script = http.get(path).text
        assert "javascript" in http.get(path).headers["content-type"], path
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script, path


def test_sources_extension_answers_version_and_provenance(http: httpx.Client, workspace_id: str) -> None:
    created = http.post(f"/v3/workspaces/{workspace_id}/conclusions/",
                        json={"conclusions": [{"content": "likes tea", "observer_id": "a", "observed_id": "a"}]})
    assert created.status_code == 201, created.text
    conclusion = created.json()[0]
    found = http.get(f"/v3/workspaces/{workspace_id}/conclusions/{conclusion['id']}/sources")
    assert found.status_code == 200, found.text
    assert found.json() == {"conclusion": {**conclusion, "version": "v1"}, "messages": [], "premises": [],
                            "missing_source_ids": [], "missing_premise_ids": []}
    missing = http.get(f"/v3/workspaces/{workspace_id}/conclusions/nope/sources")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert http.delete(f"/v3/workspaces/{workspace_id}/conclusions/{conclusion['id']}").status_code == 204
    assert http.get(f"/v3/workspaces/{workspace_id}/conclusions/{conclusion['id']}/sources").status_code == 404


@pytest.mark.slow
def test_inspector_asks_for_an_api_key_when_auth_is_on(tmp_path: Path, browser) -> None:
    """With AUTH_USE_AUTH the page's own files load without a key; the API answers 401, the page asks for a
    key once, keeps it in sessionStorage and sends it as a Bearer token from then on."""
    from selenium.webdriver.common.by import By

    pytest.importorskip("honcho_local.api.auth", reason="API keys (AUTH_USE_AUTH) are not in this tree")
    srv = start_server(tmp_path / "home", env={"AUTH_USE_AUTH": "true", "AUTH_JWT_SECRET": "ui-test-secret-" * 3})
    try:
        token = json.loads((srv.home / "server.json").read_text())["token"]  # the owner token: an admin key
        assert httpx.post(f"{srv.url}/v3/workspaces/list", json={}).status_code == 401
        made = httpx.post(f"{srv.url}/v3/workspaces", json={"id": W}, headers={"Authorization": f"Bearer {token}"})
        assert made.status_code in (200, 201), made.text
        browser.get(f"{srv.url}/ui")
        field = _wait(browser, lambda d: d.find_element(By.ID, "secret-input").is_displayed()
                      and d.find_element(By.ID, "secret-input"))
        field.send_keys(token)
        browser.find_element(By.ID, "secret-ok").click()
        _wait(browser, lambda d: d.find_elements(By.LINK_TEXT, W))
        assert browser.execute_script("return sessionStorage.getItem('honcho-local.api-key')") == token
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue .counts"))
        assert not browser.find_element(By.ID, "secret-dialog").is_displayed()
    finally:
        stop_server(srv)
