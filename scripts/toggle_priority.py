"""Within-run A/B of thread priorities under the write benchmark's single-message load.

This machine's speed drifts by a factor of two within minutes (the same code measured 530 and 1,409
single-message requests/s in back-to-back runs), which drowns a 5-10% effect in run-to-run A/B. Here
one server takes one wrk run (16 clients), and a chosen group of its threads is switched between nice
0 and nice 10 every few seconds; the server's request and group-commit histograms are read at every
switch and summed per condition, so both conditions see the same drift. Needs the right to lower a
nice value again (root or CAP_SYS_NICE) and py-spy (for the Python threads' names).

    python scripts/toggle_priority.py [--seconds 120] [--period 3] [--group tantivy|python|all]

Groups: `tantivy` (the lexical index's indexing, segment-updater and merge threads), `python` (the
indexer's and the worker's Python threads), `all` (both). Prints, per condition: requests, the share of
message posts over 15/20/25/50 ms server-side, and write groups over 10 / 20 ms.
(Measured with it: docs/notes/measurement-log-2026-11.md, session 24.)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_write  # noqa: E402
from benchlib import histogram, start_server  # noqa: E402

TANTIVY = ("thrd-tantivy", "segment_updater", "merge_thread")
PYTHON = ("lexical-indexer", "Scheduler", "Worker-1", "worker-dispatch", "worker-sweep")


def snapshot(url: str) -> dict[str, dict[float, float]]:
    """Cumulative buckets (upper bound -> count) of the message posts' and the group commits' histograms."""
    return {"posts": dict(histogram(url, "create_messages")),
            "groups": dict(histogram(url, None, "honcho_write_group_seconds"))}


def tantivy_threads(pid: int) -> list[int]:
    tids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip().startswith(TANTIVY):
                tids.append(int(task.name))
        except OSError:  # ended meanwhile (tantivy starts new indexing threads at each commit)
            pass
    return tids


def python_threads(pid: int) -> list[int]:
    dump = subprocess.run([shutil.which("py-spy") or "py-spy", "dump", "--pid", str(pid)],
                          capture_output=True, text=True, check=True).stdout
    return [int(m.group(1)) for m in re.finditer(r'^Thread (\d+) \(\w+\): "([^"]+)"', dump, re.M)
            if m.group(2) in PYTHON]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--period", type=float, default=3.0)
    parser.add_argument("--group", choices=("tantivy", "python", "all"), default="tantivy")
    args = parser.parse_args()
    env = {"HONCHO_LOCAL_REASONING_ENABLED": "false", "HONCHO_LOCAL_SUMMARY_ENABLED": "false",
           "HONCHO_LOCAL_EMBEDDING_MODEL": "none"}
    server = start_server(env=env)
    try:
        pid = server.process.pid
        py = python_threads(pid) if args.group in ("python", "all") else []
        bench_write.run_wrk(server.url, "warmup", 1, 16, 3)
        load = threading.Thread(target=bench_write.run_wrk, args=(server.url, "toggle", 1, 16, args.seconds))
        load.start()
        time.sleep(0.5)
        sums = {nice: {"posts": {}, "groups": {}} for nice in (0, 10)}
        spent = {0: 0.0, 10: 0.0}
        nice = 0
        before = snapshot(server.url)
        while load.is_alive():
            nice = 10 if nice == 0 else 0
            for tid in (tantivy_threads(pid) if args.group != "python" else []) + py:
                try:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                except ProcessLookupError:
                    pass
            started = time.monotonic()
            time.sleep(args.period)
            if not load.is_alive():
                break  # a period cut short by the end of the run is not counted
            now = snapshot(server.url)
            spent[nice] += time.monotonic() - started
            for name, buckets in now.items():
                for le, count in buckets.items():
                    total = sums[nice][name]
                    total[le] = total.get(le, 0.0) + count - before[name].get(le, 0.0)
            before = now
        load.join()
        inf = float("inf")
        for nice, d in sums.items():
            posts, groups = d["posts"], d["groups"]
            n, g = posts.get(inf, 0.0), groups.get(inf, 0.0)
            over = [100 * (1 - posts.get(le, 0.0) / n) if n else 0.0 for le in (0.015, 0.02, 0.025, 0.05)]
            print(f"nice {nice:2d}: {n / spent[nice]:6.0f} requests/s over {spent[nice]:.0f} s; posts over "
                  f"15 / 20 / 25 / 50 ms: " + " / ".join(f"{v:.2f}%" for v in over)
                  + f"; groups {g:.0f}, over 10 ms {g - groups.get(0.01, 0.0):.0f}, "
                  f"over 20 ms {g - groups.get(0.02, 0.0):.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
