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
(Measured with it: docs/benchmarks.md, session 24.)
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_write  # noqa: E402
from benchlib import start_server  # noqa: E402

TANTIVY = ("thrd-tantivy", "segment_updater", "merge_thread")
PYTHON = ("lexical-indexer", "Scheduler", "Worker-1", "worker-dispatch", "worker-sweep")
ROUTE = 'route="create_messages"'


def scrape(client: httpx.Client) -> dict[str, float]:
    out = {}
    for line in client.get("/metrics").text.splitlines():
        m = re.match(r"([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


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
        sums: dict[int, dict[str, float]] = {0: {}, 10: {}}
        spent = {0: 0.0, 10: 0.0}
        nice = 0
        with httpx.Client(base_url=server.url, timeout=30) as client:
            before = scrape(client)
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
                now = scrape(client)
                spent[nice] += time.monotonic() - started
                for key, value in now.items():
                    if ((key.startswith("honcho_http_request_seconds_") and ROUTE in key)
                            or key.startswith("honcho_write_group_seconds_")):
                        sums[nice][key] = sums[nice].get(key, 0.0) + value - before.get(key, 0.0)
                before = now
        load.join()
        for nice, d in sums.items():
            n = d.get(f"honcho_http_request_seconds_count{{{ROUTE}}}", 0.0)
            over = {le: 100 * (1 - d.get(f'honcho_http_request_seconds_bucket{{le="{le}",{ROUTE}}}', 0.0) / n)
                    for le in ("0.015", "0.02", "0.025", "0.05")} if n else {}
            groups = d.get("honcho_write_group_seconds_count", 0.0)
            slow = {le: groups - d.get(f'honcho_write_group_seconds_bucket{{le="{le}"}}', 0.0)
                    for le in ("0.01", "0.02")}
            print(f"nice {nice:2d}: {n / spent[nice]:6.0f} requests/s over {spent[nice]:.0f} s; posts over 15 / 20 / 25 / 50 ms: "
                  + " / ".join(f"{v:.2f}%" for v in over.values())
                  + f"; groups {groups:.0f}, over 10 ms {slow['0.01']:.0f}, over 20 ms {slow['0.02']:.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
