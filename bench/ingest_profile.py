"""Where the webhook route's time goes, measured in-process (no network, no load generator): the figures under
"Where the time goes" in docs/PERFORMANCE.md.

    .venv/bin/python -m bench.ingest_profile [--short] [--db sqlite|postgresql|both]

Four measurements, on the ~3 KB signed deliveries of ``bench/webhook_ingest.py``:

1. **Per body** (µs, median of repeats): the raw ``X-Signature`` HMAC, ``json.loads``, the route's verification
   with the V2 signature (canonicalisation + HMAC) and with the raw one (checked first), AES-GCM of the body.
2. **Per request** (µs of process CPU, the committer's thread included): the routes of ``bench/ingest_app.py``
   driven directly as ASGI, 64 concurrent requests per wave — empty, baseline, the real route (SQLite, group
   commit, processor off) and the real route with the database insert replaced by a no-op (the answers still wait
   for their batch) — first with CPython's default collector settings, then after
   ``gctune.settle_after_startup()`` (frozen start-up heap, raised gen-0 threshold), as the portal runs.
3. **Insert**, per database: ``commit_batch`` (one transaction, SQLite ``synchronous=FULL``) at 1 and at 32 rows,
   wall ms per commit; fixed cost per commit and cost per row from the two.
4. **Processing**, per database: CPU µs per event of ``process_pass`` in batches of 100, the parsed bodies handed
   over as the committer does (``PayloadCache``).

The machine's load moves these figures: compare figures of one run with each other, not across runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a file, bench/ would come first on sys.path and bench/queue.py would shadow the standard library's queue.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="ingest_profile_"))

from bench.webhook_ingest import SECRET, database, make_bodies  # noqa: E402
from didit_portal.db import get_engine  # noqa: E402
from didit_portal.didit import signatures  # noqa: E402
from didit_portal.security import configure_keys, encrypt_text  # noqa: E402
from didit_portal.services import gctune, inbox  # noqa: E402

WAVE = 64
#: The routes timed per request (the no-op variant swaps the committer's insert for a stub).
ROUTES = {
    "empty": "/empty",
    "baseline": "/baseline",
    "real": "/api/webhooks/didit",
    "real, no-op insert": "/api/webhooks/didit",
}
Line = list[str]  # one delivery: ts, v2, raw, simple, body


def read_bodies(path: Path) -> list[Line]:
    return [line.split("\t", 4) for line in path.read_text(encoding="ascii").splitlines()]


def headers_of(line: Line) -> dict[str, str]:
    ts, v2, raw, simple, _ = line
    return {"x-timestamp": ts, "x-signature-v2": v2, "x-signature": raw, "x-signature-simple": simple}


def per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the µs one call takes."""
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def micro(lines: list[Line], short: bool) -> dict[str, float]:

    line = lines[0]
    body = line[4].encode("ascii")
    now = float(line[0])
    number, repeat = (300, 5) if short else (2000, 7)

    def verify() -> object:
        result = signatures.verify(body=body, headers=headers_of(line), secret=SECRET, now=now)
        # The raw X-Signature is checked first (cheapest; V2 is canonicalised only when raw does not match).
        assert result.kind is signatures.SignatureKind.RAW
        return result

    text = body.decode("ascii")
    payload = signatures.parse_normalised(body)
    return {
        "body bytes": float(len(body)),
        "HMAC-SHA256 of the body (the raw X-Signature)": per_call_us(
            lambda: signatures.hmac_hex(SECRET, body), number, repeat
        ),
        "json.loads of the body": per_call_us(lambda: json.loads(body), number, repeat),
        "the route's parse (parse_normalised)": per_call_us(lambda: signatures.parse_normalised(body), number, repeat),
        "V2 canonicalisation + its HMAC": per_call_us(
            lambda: signatures.hmac_hex(SECRET, signatures.canonical_v2(payload)), number, repeat
        ),
        "the route's whole verification (raw matches first)": per_call_us(verify, number, repeat),
        "AES-GCM of the body (stored encrypted)": per_call_us(lambda: encrypt_text(text), number, repeat),
    }


# ---- Per request: the bench app driven as ASGI ----------------------------------------------------------------


async def _call(app: Any, path: str, line: Line) -> int:
    body = line[4].encode("ascii")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in headers_of(line).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def _waves(app: Any, path: str, lines: list[Line]) -> tuple[float, float]:
    """CPU µs and wall µs per request over ``lines``, sent in waves of WAVE concurrent requests."""
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(lines), WAVE):
        statuses = await asyncio.gather(*(_call(app, path, line) for line in lines[start : start + WAVE]))
        bad = [s for s in statuses if s != 200]
        assert not bad, f"{len(bad)} answers from {path} were not 200: {sorted(set(bad))}"
    n = len(lines)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def per_request(url: str, lines: list[Line], waves: int, repeat: int) -> dict[str, dict[str, float]]:
    """µs of CPU per request for each route, with the default collector and after settling it."""
    os.environ["BENCH_DB_URL"] = url
    ingest_app = importlib.import_module("bench.ingest_app")  # builds its engine from BENCH_DB_URL on import

    receive_module = sys.modules[inbox.GroupCommitter.__module__]
    real_commit = receive_module.commit_batch  # pyright: ignore[reportAttributeAccessIssue]
    ids = itertools.count(1)

    def noop_commit(_engine: object, rows: list[Any]) -> list[int | None]:
        return [next(ids) for _ in rows]  # no encryption, no insert: the batch still goes through the thread

    routes = ROUTES
    size = WAVE * waves
    fresh = iter(lines)
    results: dict[str, dict[str, float]] = {name: {} for name in routes}

    async def run(phase: str) -> None:
        samples: dict[str, list[float]] = {name: [] for name in routes}
        await _waves(ingest_app.app, "/baseline", [next(fresh) for _ in range(WAVE * 2)])  # warm-up
        for _ in range(repeat):  # routes interleaved, so that load drifts hit them alike
            for name, path in routes.items():
                receive_module.commit_batch = noop_commit if "no-op" in name else real_commit
                batch = [next(fresh) for _ in range(size)]  # every event id new
                samples[name].append((await _waves(ingest_app.app, path, batch))[0])
        receive_module.commit_batch = real_commit
        for name, values in samples.items():
            results[name][phase] = statistics.median(values)

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    asyncio.run(run("default GC"))
    gctune.settle_after_startup()
    asyncio.run(run("settled GC"))
    return results


# ---- Insert and processing, per database -----------------------------------------------------------------------


def insert_cost(url: str, lines: list[Line], commits: int) -> dict[str, float]:

    engine = get_engine(url)
    fresh = iter(lines)

    def rows(n: int) -> list[Any]:
        out = []
        for line in itertools.islice(fresh, n):
            body = line[4].encode("ascii")
            out.append(inbox.row_from_payload(json.loads(body), body, "v2"))
        return out

    def ms_per_commit(n: int) -> float:
        batches = [rows(n) for _ in range(commits)]
        started = time.perf_counter()
        for batch in batches:
            inbox.commit_batch(engine, batch)
        return (time.perf_counter() - started) / commits * 1000

    inbox.commit_batch(engine, rows(4))  # warm-up: connection, statement
    one = statistics.median(ms_per_commit(1) for _ in range(3))
    many = statistics.median(ms_per_commit(32) for _ in range(3))
    per_row = (many - one) / 31
    return {
        "ms per commit, 1 row": one,
        "ms per commit, 32 rows": many,
        "µs fixed per commit": (one - per_row) * 1000,
        "µs per row": per_row * 1000,
    }


def processing_cost(url: str, lines: list[Line]) -> dict[str, float]:

    engine = get_engine(url)
    while inbox.process_pass(engine, 500)[1]:  # rows left by the insert measurement: applied first, untimed
        pass
    cache = inbox.PayloadCache(capacity=len(lines) + 1)
    for start in range(0, len(lines), 100):  # stored as the committer stores them, bodies handed over
        chunk = lines[start : start + 100]
        payloads = [json.loads(line[4]) for line in chunk]
        rows = [
            inbox.row_from_payload(p, line[4].encode("ascii"), "v2") for p, line in zip(payloads, chunk, strict=True)
        ]
        ids = inbox.commit_batch(engine, rows)
        cache.put(
            [
                inbox.PendingEvent(i, r.webhook_type, r.session_id, r.status, r.event_created_at, r.payload)
                for r, i in zip(rows, ids, strict=True)
                if i is not None
            ]
        )
    cpu, wall, done = time.process_time(), time.perf_counter(), 0
    while True:
        _, seen = inbox.process_pass(engine, 100, cache)
        if not seen:
            break
        done += seen
    assert done == len(lines), f"processed {done} of {len(lines)}"
    return {
        "events": float(done),
        "CPU µs per event": (time.process_time() - cpu) / done * 1e6,
        "wall µs per event": (time.perf_counter() - wall) / done * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--short", action="store_true", help="fewer requests and repeats (make bench-short)")
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="databases for the insert and processing figures (per request: SQLite)",
    )
    args = parser.parse_args()
    os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="ingest_profile_"))

    configure_keys(b"bench-key-0123456789-0123456789-0123456789")
    waves, repeat, commits, events = (10, 3, 20, 1000) if args.short else (20, 5, 50, 5000)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for_requests = 2 * (WAVE * 2 + len(ROUTES) * repeat * WAVE * waves)  # two GC phases, each with a warm-up
    for_inserts = 4 + 3 * commits * (1 + 32)
    with tempfile.TemporaryDirectory(prefix="ingest_profile_") as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "bodies.tsv"
        make_bodies(path, for_requests + for_inserts + events)
        lines = read_bodies(path)
        print("## Per body (µs, median of repeats)")
        for name, value in micro(lines, args.short).items():
            print(f"  {name}: {value:.1f}")

        sqlite_url, _ = database("sqlite", _folder(tmp, "requests"))
        print(
            f"\n## Per request, in-process ASGI, {WAVE} concurrent per wave, {WAVE * waves} requests per run, "
            f"median of {repeat} runs (µs of process CPU; SQLite; processor off)"
        )
        print(f"  {'route':<22} {'default GC':>11} {'settled GC':>11}")
        requests = per_request(sqlite_url, lines[:for_requests], waves, repeat)
        for name, phases in requests.items():
            print(f"  {name:<22} {phases['default GC']:>11.0f} {phases['settled GC']:>11.0f}")
        inserts, processing = lines[for_requests : for_requests + for_inserts], lines[for_requests + for_inserts :]
        for kind in kinds:
            url, cleanup = database(kind, _folder(tmp, kind))
            try:
                cost = insert_cost(url, inserts, commits)
                print(f"\n## Insert, {kind} (commit_batch, {commits} commits per size, median of 3)")
                for name, value in cost.items():
                    print(f"  {name}: {value:.2f}")
                work = processing_cost(url, processing)
                print(f"\n## Processing, {kind} (process_pass, batches of 100, bodies handed over)")
                for name, value in work.items():
                    print(f"  {name}: {value:.0f}")
            finally:
                cleanup()  # type: ignore[operator]
    return 0


def _folder(tmp: Path, name: str) -> Path:
    folder = tmp / name
    folder.mkdir(exist_ok=True)
    return folder


if __name__ == "__main__":
    sys.exit(main())
