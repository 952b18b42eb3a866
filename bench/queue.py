"""Review-queue benchmark: the page query at 10k and 1M sessions, first page vs page 10,000 (keyset), each filter.

Seeds a migrated database (SQLite file in a temp dir; PostgreSQL with ``--db postgresql``) by fast bulk insert
(``executemany`` with syncing off for SQLite, ``COPY`` for PostgreSQL), then times
:func:`didit_portal.services.review.queue.fetch_page` — the exact function the page calls — as the median of several
runs. The deep page's cursor is found once with OFFSET (untimed) and then fetched by keyset, as the page does.

Printed per filter: milliseconds at 10k and 1M (first and deep page), and the ratios the issue targets:
``1M / 10k <= 2`` and ``deep / first <= 2``. ``--proposed-indexes`` adds the composite indexes suggested to the
lead (see docs/PERFORMANCE.md) before measuring.

Usage:
    .venv/bin/python bench/queue.py [--sizes 10000,1000000] [--db sqlite|postgresql] [--proposed-indexes]
        [--write docs/PERFORMANCE.md]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``queue``: run as a script, its folder comes first on sys.path
# and would shadow it for every library that imports ``queue`` (psycopg does). Drop the folder before anything.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="queue_bench_"))
os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-key-not-for-production-000000")

import psycopg  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy import and_, select, true  # noqa: E402
from sqlmodel import Session, col  # noqa: E402

from alembic import command  # noqa: E402
from didit_portal.db import get_engine  # noqa: E402
from didit_portal.security import lookup_hash  # noqa: E402
from didit_portal.services.review import queue  # noqa: E402
from didit_portal.services.review import stats as queue_stats  # noqa: E402
from didit_portal.services.review.queue import Cursor, QueueFilter  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE = queue.PAGE_SIZE
DEEP_PAGE = 10_000
NOW = datetime(2026, 11, 1, tzinfo=UTC)
STATUSES = [
    ("Approved", 50),
    ("Declined", 15),
    ("Not Started", 10),
    ("Expired", 8),
    ("In Review", 5),
    ("In Progress", 5),
    ("Abandoned", 5),
    ("Resubmitted", 1),
    ("Kyc Expired", 1),
]
WORKFLOWS = [
    "6f1d2c3b-4a59-4e68-9d7c-8b0a1f2e3d4c",
    "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f",
    "9a1e5c37-2f4b-4d8e-a6c1-3b7d0e9f2a11",
]
#: Composite indexes proposed to the lead: each filter's equality column, then the keyset columns.
PROPOSED = {
    "ix_vs_status_created_session": "(status, created_at, session_id)",
    "ix_vs_workflow_created_session": "(workflow_id, created_at, session_id)",
    "ix_vs_assigned_created_session": "(assigned_to, created_at, session_id)",
    "ix_vs_warnings_created_session": "(has_warnings, created_at, session_id)",
}
ME = 1


def filters() -> dict[str, QueueFilter]:
    """Every filter the queue offers, one case each (plus two combinations)."""
    return {
        "none": QueueFilter(),
        "status In Review (5%)": QueueFilter(statuses=("In Review",)),
        "status Declined+In Review": QueueFilter(statuses=("Declined", "In Review")),
        "workflow (1/3)": QueueFilter(workflow_id=WORKFLOWS[1]),
        "date range (last 90 days)": QueueFilter(created_from=NOW - timedelta(days=90), created_to=NOW),
        "assigned to me (2%)": QueueFilter(assigned_to=ME),
        "has warnings (12%)": QueueFilter(has_warnings=True),
        "search vendor prefix (broad)": QueueFilter(search="user-00"),
        "search vendor_data (one)": QueueFilter(search="user-0004242"),
        "search email": QueueFilter(search="person77@example.com"),
        "search session number": QueueFilter(search="4242"),
        "In Review + warnings": QueueFilter(statuses=("In Review",), has_warnings=True),
    }


def _rows(n: int, seed: int = 1) -> list[tuple]:
    rng = random.Random(seed)
    names = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    statuses = rng.choices(names, weights, k=n)
    span = 365 * 86400
    out = []
    for i in range(n):
        created = NOW - timedelta(seconds=span * (n - i) / n + rng.random())
        stamp = created.strftime("%Y-%m-%d %H:%M:%S.%f")
        roll = rng.random()
        assigned = ME if roll < 0.02 else (2 if roll < 0.10 else None)
        email = lookup_hash(f"person{i}@example.com") if i % 3 == 0 else None
        out.append(
            (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                i + 1,
                WORKFLOWS[i % 3],
                f"user-{i:07d}",
                statuses[i],
                0,
                "sandbox",
                "webhook",
                False,
                rng.random() < 0.12,
                email,
                assigned,
                stamp,
                stamp,
                stamp,
            )
        )
    return out


COLUMNS = (
    "session_id, session_number, workflow_id, vendor_data, status, status_event_at, environment, origin, "
    "decision_missing, has_warnings, email_hash, assigned_to, created_at, updated_at, last_seen_at"
)


def _migrate(url: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


def _staff_sql() -> list[str]:
    return [
        f"INSERT INTO staff_user (id, email, password_hash, role, totp_enabled, failed_logins, created_at) "
        f"VALUES ({i}, 'r{i}@example.com', 'x', 'reviewer', false, 0, '2026-01-01 00:00:00')"
        for i in (1, 2)
    ]


def seed_sqlite(path: Path, n: int, proposed: bool) -> str:
    url = f"sqlite:///{path}"
    _migrate(url)
    conn = sqlite3.connect(path)
    # Seeding only (the measured engine runs with the app's pragmas): no journal, no syncs, a big page cache.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    for sql in _staff_sql():
        conn.execute(sql)
    rows = _rows(n)
    marks = ",".join("?" * 15)
    for start in range(0, n, 50_000):
        conn.executemany(f"INSERT INTO verification_session ({COLUMNS}) VALUES ({marks})", rows[start : start + 50_000])
    if proposed:
        for name, cols in PROPOSED.items():
            conn.execute(f"CREATE INDEX {name} ON verification_session {cols}")
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.execute("PRAGMA journal_mode=WAL")  # back to the app's mode
    conn.close()
    return url


def seed_postgres(n: int, proposed: bool) -> tuple[str, str]:
    name = f"queue_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    _migrate(dsn.replace("postgresql://", "postgresql+psycopg://"))
    with psycopg.connect(dsn) as conn:
        for sql in _staff_sql():
            conn.execute(sql)
        buf = io.StringIO()
        for r in _rows(n):
            buf.write(
                "\t".join("\\N" if v is None else (("t" if v else "f") if isinstance(v, bool) else str(v)) for v in r)
                + "\n"
            )
        buf.seek(0)
        with conn.cursor().copy(f"COPY verification_session ({COLUMNS}) FROM STDIN") as copy:
            copy.write(buf.read())
        if proposed:
            for idx, cols in PROPOSED.items():
                conn.execute(f"CREATE INDEX {idx} ON verification_session {cols}")
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE verification_session")
    return dsn.replace("postgresql://", "postgresql+psycopg://"), name


def drop_postgres(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed(*fns, repeat: int) -> list[float]:
    """Median milliseconds of each function, runs interleaved so that machine load hits them alike."""
    for fn in fns:
        fn()  # warm the cache and the statement
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            fn()
            samples[i].append(time.perf_counter() - started)
    return [statistics.median(x) * 1000 for x in samples]


def _deep_cursor(db: Session, f: QueueFilter) -> tuple[Cursor | None, int]:
    """Cursor of the row before page DEEP_PAGE (or the last page when there are fewer), found by OFFSET once."""
    conditions = queue.filter_conditions(f)
    total = queue_stats.total_count(db, filters=f)
    pages = max(1, -(-total // PAGE))
    page = min(DEEP_PAGE, pages)
    if page <= 1:
        return None, 1
    vs = queue.VS
    row = db.execute(
        select(col(vs.created_at), col(vs.session_id))
        .where(and_(true(), *conditions))
        .order_by(col(vs.created_at).desc(), col(vs.session_id).desc())
        .offset((page - 1) * PAGE - 1)
        .limit(1)
    ).one()
    return Cursor(row[0], row[1]), page


def measure(urls: dict[int, str], repeat: int) -> dict[int, dict[str, dict[str, float]]]:
    """Time every filter on every size, interleaving sizes and pages so that machine load drifts hit all alike."""
    engines = {n: get_engine(url) for n, url in urls.items()}
    results: dict[int, dict[str, dict[str, float]]] = {n: {} for n in urls}
    sessions = {n: Session(engine) for n, engine in engines.items()}
    try:
        for name, f in filters().items():
            fns, labels = [], []
            for n, db in sessions.items():
                cursor, page = _deep_cursor(db, f)
                results[n][name] = {"deep_page": page}
                fns += [
                    lambda db=db, f=f: queue.fetch_page(db, filters=f),
                    lambda db=db, f=f, c=cursor: queue.fetch_page(db, filters=f, after=c),
                ]
                labels += [(n, "first"), (n, "deep")]
            for (n, kind), ms in zip(labels, _timed(*fns, repeat=repeat), strict=True):
                results[n][name][kind] = ms
        counts = _timed(
            *[lambda db=db: queue_stats.status_counts(db) for db in sessions.values()], repeat=max(3, repeat // 3)
        )
        for n, ms in zip(sessions, counts, strict=True):
            results[n]["counts per status (all)"] = {"first": ms, "deep": float("nan"), "deep_page": 0}
    finally:
        for db in sessions.values():
            db.close()
        for engine in engines.values():
            engine.dispose()
    return results


def report(db_kind: str, small: int, large: int, a: dict, b: dict, *, proposed: bool, seed_s: float) -> str:
    lines = [
        f"{db_kind}, page size {PAGE}, median of runs, ms; deep = page {DEEP_PAGE:,} by keyset "
        f"(or the last page when fewer){' — with the proposed indexes' if proposed else ''}; "
        f"seeding {large:,} took {seed_s:.0f} s",
        "",
        f"| filter | {small // 1000}k first | {small // 1000}k deep (page) | {large // 1000}k first | "
        f"{large // 1000}k deep (page) | big/small first | big/small deep | deep/first at big |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    worst = {"size": 0.0, "depth": 0.0}
    for name, x in a.items():
        y = b[name]
        size_first = y["first"] / x["first"]
        if name.startswith("counts"):
            lines.append(f"| {name} | {x['first']:.2f} | — | {y['first']:.2f} | — | {size_first:.1f} | — | — |")
            continue
        size_deep = y["deep"] / x["deep"]
        depth = y["deep"] / y["first"]
        worst["size"] = max(worst["size"], size_first, size_deep)
        worst["depth"] = max(worst["depth"], depth)
        lines.append(
            f"| {name} | {x['first']:.2f} | {x['deep']:.2f} ({x['deep_page']:,.0f}) | {y['first']:.2f} | "
            f"{y['deep']:.2f} ({y['deep_page']:,.0f}) | {size_first:.2f} | {size_deep:.2f} | {depth:.2f} |"
        )
    lines += [
        "",
        f"Worst page-query ratio {large // 1000}k/{small // 1000}k: **{worst['size']:.2f}** (target ≤ 2); "
        f"worst deep/first: **{worst['depth']:.2f}** (target ≤ 2).",
    ]
    return "\n".join(lines)


INTRO = """`bench/queue.py` seeds 10k and 1M sessions (a year of them: 50 % Approved, 5 % In Review, 12 % with
warnings, 2 % assigned to the measuring reviewer, one email hash in three) into a migrated database and times
`services.queue.fetch_page` — the function the page calls — as the median of interleaved runs. "Deep" is page
10,000 reached by keyset (its cursor found once with OFFSET, untimed), or the last page when a filter has
fewer. Targets: 1M ≤ 2 x 10k and deep ≤ 2 x first, for every filter. Run:
`.venv/bin/python bench/queue.py [--db postgresql] --write docs/PERFORMANCE.md`.

What keeps the page query flat: keyset on the unique `(created_at, session_id)` index `ix_vs_created_session`
(row-value comparison, so the seek is one index range); a date bound that the cursor already implies is dropped so
the planner seeks from the cursor rather than from the date; a vendor_data prefix that matches ≥ 500 sessions is
searched as an exact value (the page says so), because ordering a broad prefix's matches by time grows with the
table either way. Counts per status are a scan of the status index and do grow with the table (the last row):
they are computed in a background event after the rows are shown, off the event loop, shared by a worker's tabs
for 5 s, and refreshed at most every 5 s on live pushes. The composite indexes `PROPOSED` in the script (filter
column + keyset columns) are not needed for these targets; `--proposed-indexes` measures them."""


def write_section(path: Path, db_kind: str, body: str, *, proposed: bool = False) -> None:
    """Put ``body`` under ``## Queue`` / ``### <database>`` in ``path``, leaving every other section alone."""
    current = path.read_text() if path.exists() else "# Performance\n"
    match = re.search(r"(?ms)^## Queue\n.*?(?=^## |\Z)", current)
    section = match.group(0) if match else f"## Queue\n\n{INTRO}\n"
    title = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[db_kind] + (
        " with the proposed indexes" if proposed else ""
    )
    sub = f"### {title}\n\n{body}\n"
    if re.search(rf"(?m)^### {title}\n", section):
        section = re.sub(rf"(?ms)^### {title}\n.*?(?=^### |\Z)", lambda _m: sub + "\n", section, count=1)
    else:
        section = section.rstrip("\n") + "\n\n" + sub
    section = section.rstrip("\n") + "\n\n"
    current = (
        current[: match.start()] + section + current[match.end() :]
        if match
        else (current.rstrip("\n") + "\n\n" + section)
    )
    path.write_text(current.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--proposed-indexes", action="store_true")
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    small, large = (int(s) for s in args.sizes.split(","))
    urls: dict[int, str] = {}
    pg_names: list[str] = []
    seed_s = 0.0
    with tempfile.TemporaryDirectory(prefix="queue_bench_") as tmp:
        try:
            for n in (small, large):
                started = time.perf_counter()
                if args.db == "sqlite":
                    urls[n] = seed_sqlite(Path(tmp) / f"q{n}.db", n, args.proposed_indexes)
                else:
                    urls[n], name = seed_postgres(n, args.proposed_indexes)
                    pg_names.append(name)
                seed_s = time.perf_counter() - started
                print(f"seeded {n:,} sessions in {seed_s:.1f} s", flush=True)
            results = measure(urls, args.repeat)
        finally:
            for name in pg_names:
                drop_postgres(name)
    body = report(args.db, small, large, results[small], results[large], proposed=args.proposed_indexes, seed_s=seed_s)
    print(body)
    if args.write:
        write_section(args.write, args.db, body, proposed=args.proposed_indexes)


if __name__ == "__main__":
    main()
