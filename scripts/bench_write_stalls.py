"""Write stalls under load: what the writer's checkpoints cost the clients (issue 36, decisions/005).

One fresh server, seeded as `bench_routes.py` seeds it, then the write scenarios in a row (default:
single, batch, single, batch, single; 16 wrk clients each). Per run: wrk's client p99 and max, the
checkpoints the writer ran (`honcho_store_checkpoint_seconds`: count and time in all), and the WAL's
largest size. With `--packets` (needs tcpdump and root), every request is also timed on `lo` from its
first request packet to its response packet, which shows a stall as N requests, one per connection,
waiting at the same moment; wrk's own p99 counts each stall many times over (it adds samples for the
requests a steady-rate client would have sent meanwhile: coordinated-omission correction).

    python scripts/bench_write_stalls.py [--ref REF] [--duration 10] [--sequence single batch single] [--packets]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_routes  # noqa: E402
from benchlib import REPO, settle, wrk  # noqa: E402

_PACKET = re.compile(r"^(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): .*length (\d+)")


def checkpoints(url: str) -> tuple[float, float]:
    """(checkpoints run, seconds spent in them) since the server started."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        for suffix in ("_count", "_sum"):
            if line.startswith(f"honcho_store_checkpoint_seconds{suffix}"):
                values[suffix] = float(line.split()[-1])
    return values.get("_count", 0.0), values.get("_sum", 0.0)


def packet_latencies(pcap: Path, port: int) -> list[tuple[float, float]]:
    """(start, ms) per request: first request packet to the response's packet, per connection."""
    text = subprocess.run(["tcpdump", "-r", str(pcap), "-nn", "-tt"], capture_output=True, text=True).stdout
    flows: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for line in text.splitlines():
        m = _PACKET.match(line)
        if m is None or m[4] == "0":
            continue
        ts, src, dst = float(m[1]), int(m[2]), int(m[3])
        if dst == port:
            flows[src].append((ts, True))
        elif src == port:
            flows[dst].append((ts, False))
    out = []
    for packets in flows.values():
        started = None
        for ts, is_request in packets:
            if is_request and started is None:
                started = ts
            elif not is_request and started is not None:
                out.append((started, (ts - started) * 1000))
                started = None
    return out


def run(server, scenario: str, seconds: float, packets: bool) -> str:
    wal = server.home / "honcho.duckdb.wal"
    sizes: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            sizes.append(wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.25)

    capture = None
    if packets:
        pcap = Path(tempfile.mkdtemp(prefix="stalls-")) / "lo.pcap"
        capture = subprocess.Popen(["tcpdump", "-i", "lo", "-nn", "-s", "128", "-w", str(pcap), f"tcp port {server.port}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # tcpdump attaches
    watcher = threading.Thread(target=watch)
    watcher.start()
    before = checkpoints(server.url)
    r = wrk(server.url, bench_routes.requests_for(scenario), 16, seconds)
    after = checkpoints(server.url)
    done.set()
    watcher.join()
    line = (f"{scenario:6s} {r['rps'] * (100 if scenario == 'batch' else 1):9,.0f} msg/s; wrk p99 {r['p99'] / 1000:.1f}, "
            f"max {r['max'] / 1000:.0f} ms; checkpoints {after[0] - before[0]:.0f} taking {(after[1] - before[1]) * 1000:.0f} ms; "
            f"WAL at most {max(sizes, default=0) / 1e6:.1f} MB")
    if capture is not None:
        time.sleep(0.5)
        capture.terminate()
        capture.wait()
        timed = packet_latencies(pcap, server.port)
        shutil.rmtree(pcap.parent, ignore_errors=True)
        ms = sorted(t for _, t in timed)
        if len(ms) >= 100:
            slow = [t for t in ms if t > 100]
            line += (f"; packets: {len(ms):,} requests, p99 {statistics.quantiles(ms, n=100)[98]:.1f} ms, "
                     f"max {ms[-1]:.0f} ms, {len(slow)} over 100 ms")
    settle(server.process.pid)
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", help="measure a git worktree of this ref instead of the working tree")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--sequence", nargs="+", choices=("single", "batch"),
                    default=["single", "batch", "single", "batch", "single"])
    ap.add_argument("--packets", action="store_true", help="also time each request on lo (tcpdump, root)")
    args = ap.parse_args()
    tree = bench_routes.worktree(args.ref) if args.ref else None
    server = bench_routes.start(bench_routes.commit(args.ref) if args.ref else "this tree", tree)
    try:
        for scenario in args.sequence:
            print(run(server, scenario, args.duration, args.packets), flush=True)
    finally:
        server.stop()
        if tree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
