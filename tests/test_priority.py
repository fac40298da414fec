"""Background threads below the request path (`honcho_local/runtime.py`): the lexical index's tantivy
threads run at a lower priority, the threads that serve requests and hold the GIL do not."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from honcho_local.runtime import BACKGROUND_NICE, lower_this_thread
from honcho_local.store import Store, WriteContext
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.message_rows import MessageRows
from honcho_local.store.search import LexicalIndex

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice(tid: int) -> int:
    return int(Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _threads() -> dict[int, str]:
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            out[int(task.name)] = (task / "comm").read_text().strip()
        except OSError:  # a thread that ended meanwhile
            pass
    return out


def test_lowering_a_thread_leaves_the_caller_and_passes_to_the_threads_it_starts() -> None:
    mine = _nice(threading.get_native_id())
    seen: dict[str, int] = {}

    def child() -> None:
        seen["child"] = _nice(threading.get_native_id())

    def background() -> None:
        assert lower_this_thread()
        seen["lowered"] = _nice(threading.get_native_id())
        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen == {"lowered": min(19, mine + BACKGROUND_NICE), "child": min(19, mine + BACKGROUND_NICE)}
    assert _nice(threading.get_native_id()) == mine


def test_tantivys_threads_run_below_the_request_path_also_after_commits(tmp_home: Path) -> None:
    store = Store.open(tmp_home / "honcho.duckdb")
    mine = _nice(threading.get_native_id())
    before = set(_threads())
    index = LexicalIndex(store, tmp_home / "lexical-index", MessageRows(store))
    try:
        for n in range(3):  # each commit starts new indexing threads, in the thread that commits
            def op(ctx: WriteContext, n: int = n) -> None:
                workspaces_db.ensure_workspace(ctx, "w")
                sessions_db.ensure_session(ctx, "w", "s")
                peers_db.ensure_peer(ctx, "w", "alice")
                event_log.append(ctx, "w", "s", [event_log.NewEvent("alice", f"walrus {n}", "message", {}, None, 2, None)])

            store.write(op, scoped=True)
            assert index.wait_fresh(timeout=30)
        new = {tid: name for tid, name in _threads().items() if tid not in before}
        tantivy = {tid: name for tid, name in new.items()
                   if name.startswith(("thrd-tantivy", "segment_updater", "merge_thread"))}
        assert {name.split("_")[0] for name in tantivy.values()} >= {"segment", "merge"}
        assert any(name.startswith("thrd-tantivy") for name in tantivy.values())
        assert all(_nice(tid) == min(19, mine + BACKGROUND_NICE) for tid in tantivy), {
            name: _nice(tid) for tid, name in tantivy.items()}
        # the indexer's Python thread holds the GIL while it builds documents: it keeps the priority
        assert _nice(index._thread.native_id) == mine
        assert index.search("walrus", 10, "w") != []
    finally:
        index.close()
        store.close()
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine
