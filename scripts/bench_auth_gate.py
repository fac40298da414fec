"""What an API key costs a request (issue 30 item 2), in process, no server: the key check in front of the
message fast path (`api.auth.AuthGate.refusal`) for a key it has seen, a first verification (PyJWT's HS256
check, `apikeys.decode`), and, for scale, the fast path's own header scan (`api.fastpath._plain`).

    .venv/bin/python scripts/bench_auth_gate.py
"""

from __future__ import annotations

import timeit
import types

from honcho_local import apikeys
from honcho_local.api.auth import AuthGate, Authority
from honcho_local.api.fastpath import _plain

SECRET = "s" * 40
ROUNDS = 200_000


def main() -> None:
    key = apikeys.mint(SECRET, workspace="w", session="s1")
    app = types.SimpleNamespace(state=types.SimpleNamespace(admin_token="owner-token-" * 4))
    gate = AuthGate(None, Authority(SECRET), app)
    scope = {"type": "http", "method": "POST", "path": "/v3/workspaces/w/sessions/s1/messages", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"python-httpx/0.28"), (b"accept", b"*/*"),
                         (b"content-type", b"application/json"), (b"content-length", b"60"),
                         (b"authorization", f"Bearer {key}".encode())]}
    assert gate.refusal(scope) is None
    for name, call, rounds in (("gate, key seen before", lambda: gate.refusal(scope), ROUNDS),
                               ("first verification (decode)", lambda: apikeys.decode(SECRET, key), ROUNDS // 10),
                               ("fast path's header scan", lambda: _plain(scope), ROUNDS)):
        best = min(timeit.repeat(call, number=rounds, repeat=3)) / rounds
        print(f"{name:30s} {best * 1e6:7.2f} us")


if __name__ == "__main__":
    main()
