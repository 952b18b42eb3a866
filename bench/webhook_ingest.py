"""Webhook ingest benchmark: distinct signed ~3 KB deliveries per second through the real route, as ratios.

One granian worker serves the real route and two baselines in the same process (``bench/ingest_app.py``);
``wrk`` (Debian's, another process) sends pre-signed bodies, every event id new. Printed per database:

* real / baseline — baseline does only the unavoidable work: read, HMAC, parse, 200, store nothing;
* real / empty    — empty answers 200 without reading;
* p50 / p99 ack latency at half the real route's maximum rate (open loop, ``bench/openloop.py``).

Every acknowledged delivery is checked to be in the inbox afterwards (durability, not just speed).

Each database gets ``--rounds`` rounds (median and range reported: the machine is shared, so rates drift) and
the script waits after each real run until the processor has applied everything it acknowledged.
``BENCH_NO_PROCESSOR=1`` serves without the inbox processor, for comparison only.

Usage:
    .venv/bin/python bench/webhook_ingest.py [--short] [--rounds N] [--db sqlite|postgresql|both]
        [--write docs/PERFORMANCE.md]
Needs ``wrk`` (``apt-get install wrk``) and, for PostgreSQL, the local server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Running ``python bench/x.py`` puts bench/ first on sys.path, where bench/queue.py would shadow the standard
# library's ``queue`` (imported by concurrent.futures, psycopg): keep only the project root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql as pg_sql  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from didit_portal.didit.signatures import sign_headers  # noqa: E402

SECRET = "bench_secret"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_bodies(path: Path, count: int) -> None:
    """Write ``count`` distinct signed deliveries (~3 KB each), one per line: ts, v2, raw, simple, body."""
    now = int(time.time())
    decision = {
        "id_verifications": [
            {
                "node_id": "feature_ocr",
                "status": "Approved",
                "document_type": "Passport",
                "first_name": "Zoë",
                "last_name": "Núñez-Øvrebø",
                "warnings": [],
                "address": "Calle Mayor 1, 28013 Madrid " * 72,
            }
        ],
        "face_matches": [{"node_id": "feature_face_match", "score": 97.0, "status": "Approved", "warnings": []}],
        "liveness_checks": [
            {"node_id": "feature_liveness", "method": "PASSIVE", "score": 88.5, "status": "Approved", "warnings": []}
        ],
    }
    with path.open("w", encoding="ascii") as fh:
        for n in range(count):
            sid = str(uuid.uuid4())
            payload = {
                "event_id": str(uuid.uuid4()),
                "webhook_type": "status.updated",
                "session_id": sid,
                "status": "Approved",
                "timestamp": now,
                "created_at": now - 1,
                "environment": "sandbox",
                "workflow_id": "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c01",
                "vendor_data": f"user-{n}",
                "application_id": "5e0c9a4b-7d21-4f3a-9b68-2c1d0e4f5a6b",
                "metadata": {"n": n},
                "decision": {**decision, "session_id": sid, "status": "Approved"},
            }
            body, headers = sign_headers(payload, SECRET)
            fh.write(
                "\t".join(
                    [
                        headers["X-Timestamp"],
                        headers["X-Signature-V2"],
                        headers["X-Signature"],
                        headers["X-Signature-Simple"],
                        body.decode("ascii"),
                    ]
                )
                + "\n"
            )


def database(kind: str, tmp: Path) -> tuple[str, object]:
    """Create and migrate a fresh database; returns its URL and a cleanup callable."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
        cleanup = lambda: None  # noqa: E731
    else:
        name = f"didit_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(pg_sql.SQL("CREATE DATABASE {}").format(pg_sql.Identifier(name)))
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

        def cleanup() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(pg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pg_sql.Identifier(name)))

    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return url, cleanup


def inbox_counts(url: str) -> tuple[int, int]:
    """Rows in the inbox, and how many of them are not processed yet."""
    engine = create_engine(url)
    with engine.connect() as conn:
        total, pending = conn.execute(
            text("SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL) FROM inbox_event")
        ).one()
    engine.dispose()
    return int(total), int(pending)


def wrk(url: str, bodies: Path, seconds: float, connections: int) -> tuple[float, int, int]:
    """Run wrk; returns (requests/s, requests, errors: non-2xx answers plus socket errors)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "wrk_post.lua"),
            url,
        ],
        env={**os.environ, "BENCH_BODIES": str(bodies)},
        capture_output=True,
        text=True,
        check=True,
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out.stdout).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out.stdout)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(n) for n in sockets.groups()) if sockets else 0)
    return rps, total, errors


def wait_processed(url: str, timeout: float = 120.0) -> float:
    """Seconds until the processor has applied every stored row (it lags during a burst by design)."""
    if os.environ.get("BENCH_NO_PROCESSOR"):
        return float("nan")  # processing disabled for a comparison run: nothing will catch up
    started = time.monotonic()
    while inbox_counts(url)[1] and time.monotonic() - started < timeout:
        time.sleep(0.1)
    return round(time.monotonic() - started, 1)


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    """One granian worker serving ``bench/ingest_app.py`` (the inbox processor runs, as in production)."""
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "granian"),
            "--interface",
            "asgi",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ws",
            "--log-level",
            "warning",
            "bench.ingest_app:app",
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_DB_URL": url, "BENCH_SECRET": SECRET, "PYTHONPATH": str(ROOT)},
    )
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("bench server did not start")


def run_db(kind: str, seconds: float, connections: int, rounds: int) -> dict[str, Any]:
    """Measure one database: ``rounds`` rounds of (empty, baseline, real), then latency at half the real rate.

    The shared machine's load changes from second to second, so each round's ratios use figures measured
    back to back and the medians over the rounds are reported, with the range.
    """
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        url, cleanup = database(kind, tmp)
        port = free_port()
        server = start_server(url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            rounds_out: list[dict[str, float]] = []
            acked = 0
            for n in range(rounds):
                # Fresh bodies each round (X-Timestamp must stay within 300 s), enough that none repeats.
                bodies = tmp / "bodies.tsv"
                make_bodies(bodies, int(6000 * seconds) + 2000)
                if n == 0:
                    _, _, bad = wrk(f"{base}/empty", bodies, 1, connections)  # warm-up (imports, connections)
                    assert bad == 0, f"{bad} errors (non-2xx or socket) from the empty route during warm-up"
                figures: dict[str, float] = {}
                for name, path in (("empty", "/empty"), ("baseline", "/baseline"), ("real", "/api/webhooks/didit")):
                    rps, total, bad = wrk(base + path, bodies, seconds, connections)
                    # Every route must answer 2xx to every request: a route answering 401 or 500 quickly would
                    # look fast and skew the ratio (a baseline rejecting the signatures, say).
                    assert total > 0, f"no request completed on the {name} route"
                    assert bad == 0, f"{bad} errors (non-2xx or socket) in {total} requests to the {name} route"
                    figures[name] = rps
                    if name == "real":
                        acked += total
                        stored = inbox_counts(url)[0]
                        # wrk counts completed responses; up to `connections` per run were in flight at its end.
                        assert acked <= stored <= acked + connections * (n + 1), f"{acked} acked, {stored} stored"
                figures["lag_s"] = wait_processed(url)
                rounds_out.append(figures)
            real = statistics.median(r["real"] for r in rounds_out)
            half = real / 2
            latency_bodies = tmp / "latency.tsv"
            make_bodies(latency_bodies, int(half * seconds) + 10)
            out = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "openloop.py"),
                    f"{base}/api/webhooks/didit",
                    str(latency_bodies),
                    str(half),
                    str(seconds),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            latency = json.loads(out.stdout)
            assert latency["ok"] == latency["sent"], f"latency run: {latency}"
            latency_lag = wait_processed(url)
        finally:
            server.terminate()
            server.wait(10)
            cleanup()  # type: ignore[operator]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds_out)

    def spread(f: Callable[[dict[str, float]], float]) -> str:
        values = [f(r) for r in rounds_out]
        return f"{min(values):.2f} to {max(values):.2f}"

    return {
        "db": kind,
        "rounds": rounds,
        "empty_rps": round(med("empty")),
        "baseline_rps": round(med("baseline")),
        "real_rps": round(real),
        "real_vs_baseline": round(statistics.median(r["real"] / r["baseline"] for r in rounds_out), 2),
        "real_vs_baseline_range": spread(lambda r: r["real"] / r["baseline"]),
        "real_vs_empty": round(statistics.median(r["real"] / r["empty"] for r in rounds_out), 2),
        "processing_lag_s": med("lag_s"),
        "rate_for_latency": round(half),
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "latency_lag_s": latency_lag,
    }


def main() -> int:
    """Run the benchmark and print (optionally append) the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="3 s runs, 1 round (CI smoke); default 10 s runs")
    parser.add_argument("--rounds", type=int, help="rounds per database (default 3, or 1 with --short)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--write", type=Path, help="append the figures as a table to this markdown file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    seconds = 3.0 if args.short else 10.0
    rounds = args.rounds or (1 if args.short else 3)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rows = [run_db(kind, seconds, args.connections, rounds) for kind in kinds]
    lines = [
        "| db | empty req/s | baseline req/s | real req/s | real/baseline (range) | real/empty | "
        "processing caught up after | p50 ms @ ½ max | p99 ms @ ½ max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['empty_rps']} | {r['baseline_rps']} | {r['real_rps']} | "
            f"{r['real_vs_baseline']} ({r['real_vs_baseline_range']}) | {r['real_vs_empty']} | "
            f"{r['processing_lag_s']} s | {r['p50_ms']} ({r['rate_for_latency']}/s) | {r['p99_ms']} |"
        )
    print("\n".join(lines))
    # One saturated worker: its time per request is the inverse of its rate (the server's whole cost per request).
    for r in rows:
        print(
            f"{r['db']}: server time per request (1/rate, one worker): empty "
            f"{1e6 / r['empty_rps']:.0f} µs, baseline {1e6 / r['baseline_rps']:.0f} µs, real "
            f"{1e6 / r['real_rps']:.0f} µs"
        )
    if args.write:
        stamp = time.strftime("%Y-%m-%d")
        with args.write.open("a", encoding="utf-8") as fh:
            fh.write(
                f"\n### webhook_ingest ({stamp}, {seconds:.0f} s runs, {rounds} rounds, "
                f"{args.connections} connections)\n\n"
            )
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
