"""`/docs` works offline: every asset the Swagger UI page references is served by honcho-local itself
(issue 29, item 5), and a real headless Chromium, cut off from every host but the server, renders it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.conftest import BROWSER_WAIT as _BROWSER_WAIT
from tests.conftest import LiveServer

_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""")
_INLINE = ("data:", "blob:", "about:")


class _References(HTMLParser):
    """Every `src=` / `href=` of the page, with its tag and `rel`."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("src", "href"):
            if values.get(key):
                self.found.append((tag, values.get("rel") or "", values[key] or ""))


def _page_references(html: str) -> list[tuple[str, str, str]]:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


def _is_local(url: str, server: LiveServer) -> bool:
    parts = urlsplit(url)
    if url.startswith(_INLINE):
        return True
    return not parts.scheme and not parts.netloc or f"{parts.scheme}://{parts.netloc}" == server.url


def _expected_type(tag: str, rel: str) -> str:
    if tag == "script":
        return "javascript"
    if "stylesheet" in rel:
        return "text/css"
    if "icon" in rel:
        return "image/"
    return ""


@pytest.fixture
def docs_html(http: httpx.Client) -> str:
    response = http.get("/docs")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_every_docs_asset_is_served_by_the_server_itself(server: LiveServer, http: httpx.Client,
                                                         docs_html: str) -> None:
    references = _page_references(docs_html)
    tags = {(tag, rel) for tag, rel, _ in references}
    assert ("script", "") in tags and ("link", "stylesheet") in tags and ("link", "icon") in tags, references
    external = [url for _, _, url in references if not _is_local(url, server)]
    assert external == [], f"/docs references other hosts: {external}"
    for tag, rel, url in references:
        response = http.get(urljoin(f"{server.url}/docs", url))
        assert response.status_code == 200, (url, response.status_code)
        assert _expected_type(tag, rel) in response.headers["content-type"], (url, response.headers)
        assert response.content, url


def test_docs_stylesheets_load_nothing_from_elsewhere(server: LiveServer, http: httpx.Client,
                                                      docs_html: str) -> None:
    sheets = [url for tag, rel, url in _page_references(docs_html) if tag == "link" and "stylesheet" in rel]
    assert sheets
    for sheet in sheets:
        sheet_url = urljoin(f"{server.url}/docs", sheet)
        css = http.get(sheet_url).text
        for _, target in _CSS_URL.findall(css):
            assert _is_local(target, server), f"{sheet} loads {target[:80]}"
            if not target.startswith(_INLINE):
                assert http.get(urljoin(sheet_url, target)).status_code == 200, target


# ---- a real browser (conftest's `browser` fixture) ------------------------------------------------
def _requested_urls(driver, document_prefix: str) -> list[str]:
    """URLs requested so far by documents under `document_prefix` (the browser's own new-tab page
    loads beside them)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent" and params["documentURL"].startswith(document_prefix):
            urls.append(params["request"]["url"])
    return urls


def test_docs_render_in_a_real_browser_offline(server: LiveServer, browser) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server.url}/docs")
    try:
        WebDriverWait(browser, _BROWSER_WAIT).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock")))
    except TimeoutException:
        pytest.fail(f"Swagger UI did not render; console: {browser.get_log('browser')}\n"
                    f"{browser.page_source[:2000]}")
    title = browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    assert "honcho-local" in title
    paths = {element.get_attribute("data-path")
             for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/health", "/v3/workspaces"} <= paths, paths
    urls = _requested_urls(browser, server.url)
    assert f"{server.url}/docs/assets/swagger-ui-bundle.js" in urls
    assert [url for url in urls if not _is_local(url, server)] == []
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
