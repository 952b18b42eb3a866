"""The append-only audit trail: every row carries the hash of the one before it.

``hash = sha256(prev_hash + canonical(row))`` where ``canonical`` is a sorted-key JSON of the row's content
(everything but ``id`` and ``hash``). Deleting, reordering or editing a row breaks the chain at that row or the
next one, which :func:`verify_chain` (and ``python -m didit_portal audit verify``) finds.

Writers are serialised so two transactions never chain onto the same predecessor: PostgreSQL takes a
transaction-level advisory lock (released at the caller's commit or rollback); SQLite has one writer, and a
no-op write at the start of :func:`record` takes that lock before the predecessor is read.

``detail`` holds ids, statuses and counts only — never personal data or secrets; :func:`record` refuses keys
that name such things, as a guard against careless callers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import reading
from didit_portal.models import AuditLog, utcnow

if TYPE_CHECKING:
    from didit_portal.services.access.accounts import Principal

#: ``prev_hash`` of the first row.
GENESIS_HASH = "0" * 64
#: Arbitrary 64-bit key of the PostgreSQL advisory lock that serialises audit writers.
_PG_LOCK_KEY = 0x0A0D17_C4A1
#: Keys ``detail`` may never contain (personal data and secrets belong in encrypted tables, not the trail).
FORBIDDEN_DETAIL_KEYS = frozenset(
    {
        "password",
        "token",
        "secret",
        "totp",
        "code",
        "email",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "phone",
        "address",
        "date_of_birth",
        "document_number",
        "reason",
        "note",
        "body",
        "cookie",
        "api_key",
    }
)
_BATCH = 1000


class AuditDetailError(ValueError):
    """``detail`` contained a key that could carry personal data or a secret."""


def _check_detail(detail: Mapping[str, Any] | None) -> None:
    if not detail:
        return
    for key, value in detail.items():
        if key.lower() in FORBIDDEN_DETAIL_KEYS:
            raise AuditDetailError(f"audit detail may not hold {key!r}")
        if isinstance(value, Mapping):
            _check_detail(value)  # pyright: ignore[reportUnknownArgumentType]


def _ts(value: datetime) -> str:
    # SQLite returns naive datetimes (stored as UTC), PostgreSQL aware ones: normalise both to one spelling.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: AuditLog) -> str:
    """The row content the hash covers, as one stable string.

    Args:
        row: An audit row (``id`` and ``hash`` are not part of the content).

    Returns:
        Sorted-key compact JSON.
    """
    content = {
        "at": _ts(row.at),
        "actor_id": row.actor_id,
        "actor_email": row.actor_email,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "detail": row.detail,
        "ip": row.ip,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: AuditLog) -> str:
    """The chain hash of ``row`` after ``prev_hash``.

    Args:
        prev_hash: Hash of the previous row (:data:`GENESIS_HASH` for the first).
        row: The row.

    Returns:
        64 hex characters.
    """
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


def _take_writer_lock(db: Session) -> None:
    bind = db.get_bind()
    if bind.dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif bind.dialect.name == "sqlite":
        # A write statement (even one touching no row) makes pysqlite BEGIN and SQLite take its single write
        # lock now, waiting out the busy timeout, so the predecessor read below cannot go stale.
        db.execute(text("UPDATE audit_log SET id = id WHERE 1 = 0"))


def record(
    db: Session,
    *,
    actor: Principal | None,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> AuditLog:
    """Append one audit row in the caller's transaction (it is written when the caller commits).

    Args:
        db: Open session; the caller commits (``db.writing`` does).
        actor: Who acted; None for anonymous or system actions (e.g. a failed login of an unknown email).
        action: Dotted verb, e.g. ``auth.login``, ``session.view``, ``audit.export``.
        target_type: Kind of object acted on (``staff_user``, ``session``, ...).
        target_id: Its id (never an email or other personal value).
        detail: Non-sensitive facts (ids, statuses, counts, filter names).
        ip: Client address, when known.
        now: Timestamp override (tests).

    Returns:
        The added row (flushed, so ``id`` is set).

    Raises:
        AuditDetailError: ``detail`` has a key that could hold personal data or a secret.
    """
    _check_detail(detail)
    _take_writer_lock(db)
    prev = db.exec(select(AuditLog.hash).order_by(col(AuditLog.id).desc()).limit(1)).first()
    row = AuditLog(
        at=now or utcnow(),
        actor_id=actor.user_id if actor else None,
        actor_email=actor.email if actor else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:64],
        detail=detail,
        ip=None if ip is None else ip[:64],
        prev_hash=prev or GENESIS_HASH,
        hash="",
    )
    row.hash = row_hash(row.prev_hash, row)
    db.add(row)
    db.flush()
    return row


def _rows(engine: Engine) -> Iterator[AuditLog]:
    last_id = 0
    while True:
        with reading(engine) as db:
            batch = list(
                db.exec(select(AuditLog).where(col(AuditLog.id) > last_id).order_by(col(AuditLog.id)).limit(_BATCH))
            )
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id or last_id


def latest_anchor(engine: Engine) -> str | None:
    """The newest row's ``id:hash``, to keep outside the database.

    The chain proves that no row was edited, removed or reordered *before* the newest row; removing rows from the
    end leaves a shorter chain that still holds. An anchor stored elsewhere (a ticket, a write-once bucket, the
    operator's log) closes that gap: :func:`verify_chain` with the anchor fails when that row is gone or changed.

    Args:
        engine: The database engine.

    Returns:
        ``"<id>:<hash>"``, or None when the trail is empty.
    """
    with reading(engine) as db:
        row = db.exec(select(AuditLog).order_by(col(AuditLog.id).desc()).limit(1)).first()
    return None if row is None else f"{row.id}:{row.hash}"


def parse_anchor(anchor: str) -> tuple[int, str]:
    """Split an ``id:hash`` anchor.

    Args:
        anchor: As printed by :func:`latest_anchor`.

    Returns:
        ``(id, hash)``.

    Raises:
        ValueError: Not of the form ``<id>:<64 hex chars>``.
    """
    row_id, sep, digest = anchor.strip().partition(":")
    if not sep or not row_id.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("an anchor is <id>:<64 lowercase hex characters>, as `audit anchor` prints it")
    return int(row_id), digest


def verify_chain(engine: Engine, anchor: str | None = None) -> tuple[bool, int, int | None]:
    """Walk the whole trail in id order and check every link (and, given one, that the anchor row is intact).

    Args:
        engine: The database engine.
        anchor: An ``id:hash`` from :func:`latest_anchor` kept outside the database, or None.

    Returns:
        ``(ok, rows_checked, first_bad_id)``; ``first_bad_id`` is None when the chain holds. A row is bad when its
        ``prev_hash`` is not the previous row's hash (a row was removed or reordered) or its own hash does not
        match its content (it was edited). With an anchor, the anchor's id is reported when that row is missing
        (the tail was cut) or carries another hash (the tail was rewritten).

    Raises:
        ValueError: The anchor is malformed.
    """
    anchor_id, anchor_hash = parse_anchor(anchor) if anchor is not None else (None, None)
    anchor_seen = anchor_id is None
    prev = GENESIS_HASH
    checked = 0
    for row in _rows(engine):
        checked += 1
        if row.prev_hash != prev or row.hash != row_hash(row.prev_hash, row):
            return False, checked, row.id
        if row.id == anchor_id:
            if not hmac.compare_digest(row.hash, anchor_hash or ""):
                return False, checked, row.id
            anchor_seen = True
        prev = row.hash
    if not anchor_seen:
        return False, checked, anchor_id
    return True, checked, None
