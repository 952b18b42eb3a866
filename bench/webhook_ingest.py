"""Webhook ingest benchmark: distinct signed ~3 KB deliveries per second through the real route, as ratios.

One granian worker serves the real route and two baselines in the same process (``bench/ingest_app.py``);
``wrk`` (Debian's, another process) sends pre-signed bodies, every event id new. Printed per database:

* real / baseline — baseline does only the unavoidable work: read, HMAC, parse, 200, store nothing;
* real / empty    — empty answers 200 without reading;
* p50 / p99 ack latency at half the real route's maximum rate (open loop, ``bench/openloop.py``).

Every acknowledged delivery is checked to be in the inbox afterwards (durability, not just speed).

Usage:
    .venv/bin/python bench/webhook_ingest.py [--short] [--db sqlite|postgresql|both] [--write docs/PERFORMANCE.md]
Needs ``wrk`` (``apt-get install wrk``) and, for PostgreSQL, the local server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Running ``python bench/x.py`` puts bench/ first on sys.path, where bench/queue.py would shadow the standard
# library's ``queue`` (imported by concurrent.futures, psycopg): keep only the project root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

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
    decision = {"id_verifications": [{"node_id": "feature_ocr", "status": "Approved", "document_type": "Passport",
                                      "first_name": "Zoë", "last_name": "Núñez-Øvrebø", "warnings": [],
                                      "address": "Calle Mayor 1, 28013 Madrid " * 72}],
                "face_matches": [{"node_id": "feature_face_match", "score": 97.0, "status": "Approved",
                                  "warnings": []}],
                "liveness_checks": [{"node_id": "feature_liveness", "method": "PASSIVE", "score": 88.5,
                                     "status": "Approved", "warnings": []}]}
    with path.open("w", encoding="ascii") as fh:
        for n in range(count):
            sid = str(uuid.uuid4())
            payload = {"event_id": str(uuid.uuid4()), "webhook_type": "status.updated", "session_id": sid,
                       "status": "Approved", "timestamp": now, "created_at": now - 1, "environment": "sandbox",
                       "workflow_id": "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c01", "vendor_data": f"user-{n}",
                       "application_id": "5e0c9a4b-7d21-4f3a-9b68-2c1d0e4f5a6b", "metadata": {"n": n},
                       "decision": {**decision, "session_id": sid, "status": "Approved"}}
            body, headers = sign_headers(payload, SECRET)
            fh.write("\t".join([headers["X-Timestamp"], headers["X-Signature-V2"], headers["X-Signature"],
                                headers["X-Signature-Simple"], body.decode("ascii")]) + "\n")


def database(kind: str, tmp: Path) -> tuple[str, object]:
    """Create and migrate a fresh database; returns its URL and a cleanup callable."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
        cleanup = lambda: None  # noqa: E731
    else:
        import psycopg

        name = f"didit_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

        def cleanup() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    subprocess.run([sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"], cwd=ROOT, check=True,
                   capture_output=True)
    return url, cleanup


def inbox_count(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM inbox_event")).scalar_one())
    engine.dispose()
    return count


def wrk(url: str, bodies: Path, seconds: float, connections: int) -> tuple[float, int, int]:
    """Run wrk; returns (requests/s, requests, non-2xx)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
                          "-s", str(ROOT / "bench" / "wrk_post.lua"), url],
                         env={**os.environ, "BENCH_BODIES": str(bodies)}, capture_output=True, text=True, check=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out.stdout).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    return rps, total, int(bad.group(1)) if bad else 0


def run_db(kind: str, seconds: float, connections: int) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        url, cleanup = database(kind, tmp)
        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--workers", "1", "--host",
             "127.0.0.1", "--port", str(port), "--no-ws", "--log-level", "warning", "bench.ingest_app:app"],
            cwd=ROOT, env={**os.environ, "BENCH_DB_URL": url, "BENCH_SECRET": SECRET, "PYTHONPATH": str(ROOT)})
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # Enough distinct bodies that no run cycles back to an already-stored event id.
            bodies = tmp / "bodies.tsv"
            make_bodies(bodies, int(6000 * seconds) + 2000)
            wrk(f"{base}/empty", bodies, 1, connections)  # warm-up (imports, connection setup)
            results = {}
            for name, path in (("empty", "/empty"), ("baseline", "/baseline"), ("real", "/api/webhooks/didit")):
                rps, total, bad = wrk(base + path, bodies, seconds, connections)
                results[name] = rps
                if name == "real":
                    assert bad == 0, f"{bad} non-2xx answers from the real route"
                    time.sleep(0.5)
                    stored = inbox_count(url)
                    # wrk counts completed responses; up to `connections` more were in flight when it stopped.
                    assert total <= stored <= total + connections, f"{total} acknowledged but {stored} stored"
            half = results["real"] / 2
            latency_bodies = tmp / "latency.tsv"
            make_bodies(latency_bodies, int(half * seconds) + 10)
            out = subprocess.run([sys.executable, str(ROOT / "bench" / "openloop.py"), f"{base}/api/webhooks/didit",
                                  str(latency_bodies), str(half), str(seconds)], capture_output=True, text=True,
                                 check=True)
            latency = json.loads(out.stdout)
        finally:
            server.terminate()
            server.wait(10)
            cleanup()  # type: ignore[operator]
    return {"db": kind, "empty_rps": round(results["empty"]), "baseline_rps": round(results["baseline"]),
            "real_rps": round(results["real"]), "real_vs_baseline": round(results["real"] / results["baseline"], 2),
            "real_vs_empty": round(results["real"] / results["empty"], 2), "rate_for_latency": round(half),
            "p50_ms": latency["p50_ms"], "p99_ms": latency["p99_ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="3 s runs (CI); default 10 s")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--write", type=Path, help="append the figures as a table to this markdown file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    seconds = 3.0 if args.short else 10.0
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rows = [run_db(kind, seconds, args.connections) for kind in kinds]
    header = "| db | empty req/s | baseline req/s | real req/s | real/baseline | real/empty | p50 ms @ ½ max | p99 ms @ ½ max |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['db']} | {r['empty_rps']} | {r['baseline_rps']} | {r['real_rps']} | "
                     f"{r['real_vs_baseline']} | {r['real_vs_empty']} | {r['p50_ms']} ({r['rate_for_latency']}/s) | "
                     f"{r['p99_ms']} |")
    print("\n".join(lines))
    if args.write:
        stamp = time.strftime("%Y-%m-%d")
        with args.write.open("a", encoding="utf-8") as fh:
            fh.write(f"\n### webhook_ingest ({stamp}, {seconds:.0f} s runs, {args.connections} connections)\n\n")
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
