"""What one DuckDB checkpoint costs the writer, by row-group size (decisions/005-checkpoint-stalls.md).

A file with the `events` table's columns and keys starts with `--rows` rows (checkpointed), then takes
20-row commits for `--seconds` and a CHECKPOINT, three rounds; each round prints the commits made and the
checkpoint's time. The file is removed at the end. With `--rows 1100000` the table's last row group (of DuckDB's default 122,880 rows)
fills up during the second round, and that round's checkpoint compresses the whole group while commits
wait; `--row-group-size 16384` is what the store uses.

    python scripts/bench_checkpoint_cost.py [--rows 1100000] [--row-group-size 16384] [--seconds 3]
"""

from __future__ import annotations

import argparse
import datetime
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

EVENTS = """CREATE TABLE events (pk BIGINT PRIMARY KEY, id VARCHAR NOT NULL UNIQUE, workspace_id VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL, peer_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, seq BIGINT NOT NULL,
    content VARCHAR NOT NULL, metadata JSON NOT NULL, configuration JSON, token_count INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP NOT NULL)"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_100_000, help="rows in the table before the rounds")
    ap.add_argument("--row-group-size", type=int, default=None, help="ATTACH's ROW_GROUP_SIZE (default: DuckDB's)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds of 20-row commits per round")
    args = ap.parse_args()
    path = Path(tempfile.mkdtemp(prefix="checkpoint-cost-")) / "events.duckdb"
    conn = duckdb.connect()
    option = f" (ROW_GROUP_SIZE {args.row_group_size})" if args.row_group_size else ""
    conn.execute(f"ATTACH '{path}' AS bench{option}")
    conn.execute("USE bench")
    conn.execute("SET checkpoint_threshold = '1GiB'")  # only the rounds' own checkpoints
    conn.execute(EVENTS)
    conn.execute(f"INSERT INTO events SELECT i, md5(i::VARCHAR)[:21], 'bench', 's' || (i % 20), 'p' || (i % 10), "
                 f"'message', i, 'message ' || i || ' of a session: the user mentioned their invoice automation "
                 f"project in Python again', '{{}}', NULL, 20, now(), now() FROM range({args.rows}) t(i)")
    conn.execute("CHECKPOINT")
    pk, now = args.rows, datetime.datetime.now()
    print(f"{args.rows:,} rows, row groups of {args.row_group_size or 'DuckDB default'}; file {path}")
    for round_no in range(1, 4):
        commits, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            rows = [(pk + i, secrets.token_urlsafe(16)[:21], "bench", "w1", "p1", "message", pk + i,
                     "a single write of the checkpoint benchmark", "{}", None, 12, now, now) for i in range(20)]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            conn.execute("COMMIT")
            pk, commits = pk + 20, commits + 1
        started = time.perf_counter()
        conn.execute("CHECKPOINT")
        print(f"round {round_no}: {commits} commits ({commits * 20:,} rows), checkpoint "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")
    conn.close()
    shutil.rmtree(path.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
