"""Drive-by writes and DNS rebinding (issue 30, first finding): each attack against a real server on
127.0.0.1 is refused and stores nothing; a local browser client on another port, the official SDK and
plain JSON clients keep working; `serve` refuses a non-loopback bind without an explicit opt-in."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from honcho_local.api.guard import Policy
from honcho_local.bench.server import free_port
from honcho_local.config import load_settings
from honcho_local.errors import InvalidInput
from honcho_local.localnet import check_bind
from tests.conftest import REPO_ROOT, LiveServer

EVIL = "http://evil.example"
LOCAL_APP = "http://127.0.0.1:5173"  # a legitimate browser client on another loopback port
_BROWSER_WAIT = 120  # a guard against a hung page, never a speed bound (2 shared cores)
_RESOLVER_RULES = "MAP attacker.test 127.0.0.1, MAP rebind.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture
def session_path(http: httpx.Client, workspace_id: str) -> str:
    assert http.post("/v3/workspaces", json={"id": workspace_id}).status_code == 201
    assert http.post(f"/v3/workspaces/{workspace_id}/sessions", json={"id": "s"}).status_code == 201
    return f"/v3/workspaces/{workspace_id}/sessions/s"


def _stored(http: httpx.Client, session_path: str) -> list[str]:
    page = http.post(f"{session_path}/messages/list", json={})
    assert page.status_code == 200, page.text
    return [item["content"] for item in page.json()["items"]]


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert "access-control-allow-origin" not in response.headers


MESSAGE = json.dumps({"messages": [{"peer_id": "mallory", "content": "planted"}]})


def test_simple_requests_a_page_sends_without_preflight_are_refused_and_store_nothing(
        http: httpx.Client, session_path: str) -> None:
    url = f"{session_path}/messages"
    _refused(http.post(url, content=MESSAGE, headers={"Content-Type": "text/plain"}), 415)
    _refused(http.post(url, content=MESSAGE, headers={"Content-Type": "text/plain;charset=UTF-8",
                                                      "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}), 403)
    _refused(http.post(url, data={MESSAGE: ""}), 415)  # application/x-www-form-urlencoded
    _refused(http.post(url, files={"file": ("a.txt", b"planted")}), 415)  # multipart/form-data
    _refused(http.post(url, content=MESSAGE, headers={"Content-Type": ""}), 415)
    _refused(http.post(url, content=MESSAGE.encode()), 415)  # a Blob body: no Content-Type at all
    _refused(http.put(f"{session_path}", content=b'{"metadata": {"x": 1}}',
                      headers={"Content-Type": "text/plain"}), 415)
    _refused(http.post(f"{session_path}/messages/list", content=b"{}",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert _stored(http, session_path) == []
    assert http.post(url, content=MESSAGE, headers={"Content-Type": "application/json"}).status_code == 201
    assert _stored(http, session_path) == ["planted"]  # the same write, as JSON, is stored


def test_a_foreign_host_name_is_refused_on_reads_and_writes(server: LiveServer, http: httpx.Client,
                                                            session_path: str) -> None:
    for host in ("attacker.example", f"attacker.example:{server.port}", "127.0.0.1.nip.io", "localhost.evil"):
        _refused(http.get("/health", headers={"Host": host}), 421)
        _refused(http.post(f"{session_path}/messages/list", json={}, headers={"Host": host}), 421)
        _refused(http.post(f"{session_path}/messages", content=MESSAGE,
                           headers={"Host": host, "Content-Type": "application/json"}), 421)
        _refused(http.get("/docs", headers={"Host": host}), 421)
    assert _stored(http, session_path) == []
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"[::1]:{server.port}", "localhost",
                 f"LOCALHOST:{server.port}", f"127.0.0.2:{server.port}"):
        assert http.get("/health", headers={"Host": host}).status_code == 200, host


def test_a_request_without_host_is_served(server: LiveServer) -> None:
    """HTTP/1.0 without Host: no browser sends one, so it cannot be a rebinding page (docs/security.md)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"status":"ok"}'), answer


def test_cross_origin_writes_are_refused_whatever_the_content_type(http: httpx.Client, session_path: str) -> None:
    url = f"{session_path}/messages"
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Origin": f"{LOCAL_APP}.evil.example"},
                    {"Origin": "http://127.0.0.1:5173@evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": EVIL, "Sec-Fetch-Site": "same-origin"}):
        _refused(http.post(url, content=MESSAGE, headers={**headers, "Content-Type": "application/json"}), 403)
        _refused(http.delete(session_path, headers=headers), 403)
    assert _stored(http, session_path) == []
    # reads from that origin are answered, but without CORS headers: the browser hides them from the page
    read = http.post(f"{url}/list", json={}, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert read.status_code == 403  # a POST read is refused like any POST
    read = http.get("/health", headers={"Origin": EVIL})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
    preflight = http.options(url, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                                           "Access-Control-Request-Headers": "content-type"})
    assert "access-control-allow-origin" not in preflight.headers


def test_a_local_client_on_another_port_gets_cors_and_writes(http: httpx.Client, session_path: str) -> None:
    url = f"{session_path}/messages"
    preflight = http.options(url, headers={"Origin": LOCAL_APP, "Access-Control-Request-Method": "POST",
                                           "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers["access-control-allow-origin"] == LOCAL_APP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    r = http.post(url, content=MESSAGE, headers={"Origin": LOCAL_APP, "Content-Type": "application/json",
                                                 "Sec-Fetch-Site": "same-site"})
    assert r.status_code == 201, r.text
    assert r.headers["access-control-allow-origin"] == LOCAL_APP
    for origin in ("http://localhost:3000", "http://[::1]:8080", "https://localhost"):
        assert http.get("/health", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin
    assert _stored(http, session_path) == ["planted"]


def test_the_servers_own_pages_may_write(server: LiveServer, http: httpx.Client, session_path: str) -> None:
    """Same origin (the /docs page's "Try it out"): allowed even when cors_origins leaves loopback out."""
    settings = load_settings(server.home, env={"HONCHO_LOCAL_CORS_ORIGINS": "https://app.example"})
    policy = Policy.from_settings(settings)
    same = {"type": "http", "method": "POST", "scheme": "http", "path": "/x",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000"),
                        (b"content-type", b"application/json")]}
    assert policy.refusal(same) is None
    other = {**same, "headers": [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:9000")]}
    assert policy.refusal(other)[0] == 403  # type: ignore[index]
    r = http.post(f"{session_path}/messages", content=MESSAGE, headers={
        "Origin": server.url, "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201, r.text


def test_the_official_sdk_still_works(honcho) -> None:
    alice = honcho.peer("alice", metadata={"role": "user"})
    session = honcho.session("s1", peers=[alice], metadata={"topic": "bees"})
    session.add_messages([alice.message("I keep bees."), alice.message("And a small garden.")])
    assert [m.content for m in session.messages()] == ["I keep bees.", "And a small garden."]
    session.set_metadata({"topic": "garden"})
    assert session.get_metadata() == {"topic": "garden"}
    assert [p.id for p in honcho.peers()] == ["alice"]


# ---- settings and the policy's other cases (no server needed) --------------------------------------
def _scope(host: str, method: str = "GET") -> dict:
    return {"type": "http", "method": method, "scheme": "http", "path": "/", "headers": [(b"host", host.encode())]}


def test_allowed_hosts_and_wildcard_binds(tmp_path: Path) -> None:
    policy = Policy.from_settings(load_settings(tmp_path, env={"ALLOWED_HOSTS": "Memory.Internal,10.1.2.3"}))
    assert policy.refusal(_scope("memory.internal:8000")) is None
    assert policy.refusal(_scope("10.1.2.3")) is None
    assert policy.refusal(_scope("10.1.2.4"))[0] == 421  # type: ignore[index]
    wildcard = Policy.from_settings(load_settings(tmp_path, env={}, host="0.0.0.0", allow_remote=True))
    assert wildcard.refusal(_scope("192.168.1.20:8000")) is None  # an IP literal is never a rebinding name
    assert wildcard.refusal(_scope("[fe80::1]:8000")) is None
    assert wildcard.refusal(_scope("attacker.example:8000"))[0] == 421  # type: ignore[index]
    named = Policy.from_settings(load_settings(tmp_path, env={}, host="192.168.1.20", allow_remote=True))
    assert named.refusal(_scope("192.168.1.20:8000")) is None
    assert named.refusal(_scope("192.168.1.21:8000"))[0] == 421  # type: ignore[index]
    anything = Policy.from_settings(load_settings(tmp_path, env={"ALLOWED_HOSTS": "*"}))
    assert anything.refusal(_scope("whatever.example")) is None


def test_bad_security_settings_are_refused(tmp_path: Path) -> None:
    for env in ({"CORS_ORIGINS": "evil.example"}, {"CORS_ORIGINS": "http://x.example/path"},
                {"ALLOWED_HOSTS": "http://x.example"}, {"ALLOWED_HOSTS": "x.example:80"}):
        with pytest.raises(InvalidInput):
            load_settings(tmp_path, env=env)
    (tmp_path / "config.toml").write_text('cors_origins = ["http://app.example:*", "HTTPS://Other.Example", '
                                          '"chrome-extension://abcdef"]\n')
    settings = load_settings(tmp_path, env={})
    assert settings.cors_origins == ["http://app.example:*", "https://other.example", "chrome-extension://abcdef"]
    allowed = Policy.from_settings(settings).origins
    assert [bool(allowed.fullmatch(o)) for o in ("http://app.example", "http://app.example:81", "https://app.example",
                                                 "https://other.example", "https://other.example:444",
                                                 "chrome-extension://abcdef")] == [True, True, False, True, False, True]


def test_serve_refuses_a_non_loopback_address_without_opt_in(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        r = subprocess.run([sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(tmp_path),
                            "--host", host, "--port", str(free_port()), "--offline"],
                           capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=300, check=False)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "refusing to serve" in lines[0] and "--allow-remote" in lines[0], r.stderr
        assert not (tmp_path / "honcho.duckdb").exists()  # nothing was opened, fetched or bound
    with pytest.raises(InvalidInput, match="allow-remote"):
        check_bind("0.0.0.0", allow_remote=False)
    with pytest.raises(InvalidInput, match="insecure-no-auth"):  # the opt-in alone is not enough: auth too
        check_bind("0.0.0.0", allow_remote=True)
    assert "without authentication" in (check_bind("0.0.0.0", allow_remote=True, insecure_no_auth=True) or "")
    assert check_bind("0.0.0.0", allow_remote=True, auth=True) is None
    assert check_bind("127.0.0.1", allow_remote=False) is None and check_bind("::1", allow_remote=False) is None


# ---- a real browser --------------------------------------------------------------------------------
ATTACK_PAGE = """<!doctype html><html><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe>
<form id="plain" method="POST" action="TARGET" enctype="text/plain" target="f1">
<input name='{"messages": [{"peer_id": "mallory", "content": "form' value='"}]}'></form>
<form id="urlenc" method="POST" action="TARGET" target="f2"><input name="content" value="form"></form>
<script>
const target = "TARGET", body = JSON.stringify({messages: [{peer_id: "mallory", content: "fetch"}]});
const results = {};
async function attempt(name, init) {
  try { const r = await fetch(target, init); results[name] = r.type + ":" + r.status; }
  catch (e) { results[name] = "blocked"; }
}
function submitted(form, frame) {
  return new Promise(done => {
    document.querySelector(`iframe[name=${frame}]`).onload = done;
    document.getElementById(form).submit();
  });
}
(async () => {
  await attempt("text_plain", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
  await attempt("blob", {method: "POST", mode: "no-cors", body: new Blob([body])});
  await attempt("json_cors", {method: "POST", headers: {"Content-Type": "application/json"}, body});
  await submitted("plain", "f1");
  await submitted("urlenc", "f2");
  document.title = "done " + JSON.stringify(results);
})();
</script></body></html>"""

LOCAL_PAGE = """<!doctype html><html><body><script>
fetch("TARGET", {method: "POST", headers: {"Content-Type": "application/json"},
                 body: JSON.stringify({messages: [{peer_id: "me", content: "from my local app"}]})})
  .then(r => r.json().then(j => { document.title = "done " + r.status + " " + j[0].content; }))
  .catch(e => { document.title = "done error " + e; });
</script></body></html>"""


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A static web server on another loopback port: the pages a browser would load from elsewhere."""
    root = tmp_path / "pages"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium; `attacker.test` and `rebind.test` resolve to 127.0.0.1, every other name to nothing."""
    chromium = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                     if (found := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("chromium or chromedriver not installed (run .ci/setup-browser)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--user-data-dir={tmp_path / 'profile'}",
                     "--host-resolver-rules=" + _RESOLVER_RULES):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def _title_when_done(driver) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, _BROWSER_WAIT).until(lambda d: d.title.startswith("done"))
    return driver.title


def test_a_web_page_in_a_real_browser_cannot_write(server: LiveServer, http: httpx.Client, session_path: str,
                                                   page_server: tuple[Path, int], browser) -> None:
    root, page_port = page_server
    target = f"{server.url}{session_path}/messages"
    (root / "attack.html").write_text(ATTACK_PAGE.replace("TARGET", target))
    (root / "local.html").write_text(LOCAL_PAGE.replace("TARGET", target))
    browser.get(f"http://attacker.test:{page_port}/attack.html")
    results = json.loads(_title_when_done(browser).removeprefix("done "))
    assert results["text_plain"] == "opaque:0" and results["blob"] == "opaque:0", results  # sent, answer hidden
    assert results["json_cors"] == "blocked", results  # the preflight got no CORS headers
    assert _stored(http, session_path) == []
    # after a DNS rebinding the page's own name reaches the server: refused
    browser.get(f"http://rebind.test:{server.port}/health")
    assert "not a name of this server" in browser.page_source
    # the same browser, a page on another loopback port: a legitimate local client
    browser.get(f"http://127.0.0.1:{page_port}/local.html")
    assert _title_when_done(browser) == "done 201 from my local app"
    assert _stored(http, session_path) == ["from my local app"]
