"""The append-only audit trail: every row carries the keyed hash of the one before it.

``hash = HMAC-SHA256(audit key, "v2" + prev_hash + canonical(row))`` where ``canonical`` is a sorted-key JSON of
the row's content (everything but ``id`` and ``hash``) and the audit key is derived from ``PORTAL_SECRET_KEY``
(HKDF, a purpose of its own). Deleting, reordering or editing a row breaks the chain at that row or the next one,
which :func:`verify_chain` (and ``python -m didit_portal audit verify``) finds; and because the hash is keyed,
someone holding only the database cannot recompute a consistent chain after editing it, as they could with a
plain hash. The daily anchor (:mod:`didit_portal.services.audit.anchors`) also catches a tail cut off the end.

Rows written before the keyed chain carry plain ``sha256(prev_hash + canonical(row))`` and ``chain_version``
NULL (the migration could not read the key, so it did not rehash them). They are accepted only as the chain's
first part: a plain row after a keyed one breaks the chain, so the marker cannot be used to downgrade rows, and
the first keyed row seals the plain part (its keyed hash covers the last plain hash). ``keys rotate`` rechains
everything under the current key (:func:`rechain`).

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
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal import security
from didit_portal.db import reading
from didit_portal.models import AuditLog, utcnow

if TYPE_CHECKING:
    from didit_portal.services.access.accounts import Principal

#: ``prev_hash`` of the first row.
GENESIS_HASH = "0" * 64
#: ``chain_version`` of rows hashed with HMAC-SHA256 under the audit key (None: plain SHA-256, written before).
KEYED = 2
#: HKDF purpose of the audit key: it never serves another use.
_KEY_PURPOSE = b"audit-chain/hmac-sha256/v2"
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


def row_hash(prev_hash: str, row: AuditLog, key: bytes | None = None) -> str:
    """The chain hash of ``row`` after ``prev_hash``, as its ``chain_version`` says it is computed.

    Args:
        prev_hash: Hash of the previous row (:data:`GENESIS_HASH` for the first).
        row: The row.
        key: The audit key for a keyed row; the current one by default.

    Returns:
        64 hex characters.
    """
    content = (prev_hash + canonical(row)).encode("utf-8")
    if row.chain_version is None:
        return hashlib.sha256(content).hexdigest()
    key = key if key is not None else security.derived_keys(_KEY_PURPOSE)[0]
    return hmac.new(key, b"v2\x00" + content, hashlib.sha256).hexdigest()


def _matches(prev_hash: str, row: AuditLog, keys: list[bytes]) -> bool:
    if row.chain_version is None:
        return hmac.compare_digest(row.hash, row_hash(prev_hash, row))
    # Any configured key: during a rotation rows are keyed by the previous one until ``keys rotate`` rechains.
    return row.chain_version == KEYED and any(
        hmac.compare_digest(row.hash, row_hash(prev_hash, row, key)) for key in keys
    )


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
        chain_version=KEYED,
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


def verify_chain(
    engine: Engine, anchor: str | None = None, *, anchors: Sequence[str] = ()
) -> tuple[bool, int, int | None]:
    """Walk the whole trail in id order and check every link (and, given any, that the anchored rows are intact).

    Args:
        engine: The database engine.
        anchor: An ``id:hash`` from :func:`latest_anchor` kept outside the database, or None.
        anchors: More of them (e.g. the anchor file's, :func:`~didit_portal.services.audit.anchors.read_anchors`).

    Returns:
        ``(ok, rows_checked, first_bad_id)``; ``first_bad_id`` is None when the chain holds. A row is bad when its
        ``prev_hash`` is not the previous row's hash (a row was removed or reordered), its own hash does not
        match its content under any configured key (it was edited), or it is a plain row after a keyed one. With
        anchors, an anchor's id is reported when that row is missing (the tail was cut) or carries another hash
        (the tail was rewritten).

    Raises:
        ValueError: An anchor is malformed.
    """
    expected = dict(parse_anchor(a) for a in [*anchors, *([anchor] if anchor is not None else [])])
    keys = security.derived_keys(_KEY_PURPOSE)
    prev = GENESIS_HASH
    keyed_seen = False
    checked = 0
    for row in _rows(engine):
        checked += 1
        keyed_seen = keyed_seen or row.chain_version is not None
        downgraded = keyed_seen and row.chain_version is None
        if downgraded or row.prev_hash != prev or not _matches(prev, row, keys):
            return False, checked, row.id
        want = expected.pop(row.id or 0, None)
        if want is not None and not hmac.compare_digest(row.hash, want):
            return False, checked, row.id
        prev = row.hash
    if expected:
        return False, checked, min(expected)
    return True, checked, None


class ChainBrokenError(RuntimeError):
    """The trail does not verify: it is not rechained (that would make a tampered trail look intact)."""


def rechain(db: Session) -> int:
    """Recompute every row's hash under the current audit key (``keys rotate``), after verifying the old chain.

    Plain rows become keyed ones too. The caller commits; the writer lock is held until then, so no row is
    appended meanwhile. Anchors kept earlier no longer match: ``keys rotate`` records a new one.

    Args:
        db: Open session (``db.writing``).

    Returns:
        How many rows got another hash (0 when every row was already keyed under the current key).

    Raises:
        ChainBrokenError: The chain does not verify under the configured keys; nothing was changed.
    """
    _take_writer_lock(db)
    keys = security.derived_keys(_KEY_PURPOSE)
    old_prev = new_prev = GENESIS_HASH
    keyed_seen = False
    count = last_id = 0
    while batch := list(
        db.exec(select(AuditLog).where(col(AuditLog.id) > last_id).order_by(col(AuditLog.id)).limit(_BATCH))
    ):
        for row in batch:
            keyed_seen = keyed_seen or row.chain_version is not None
            if (
                (keyed_seen and row.chain_version is None)
                or row.prev_hash != old_prev
                or not _matches(old_prev, row, keys)
            ):
                raise ChainBrokenError(f"the audit chain is broken at id {row.id}: run `audit verify`")
            old_prev = row.hash
            row.prev_hash, row.chain_version = new_prev, KEYED
            row.hash = new_prev = row_hash(new_prev, row, keys[0])
            count += row.hash != old_prev
        last_id = batch[-1].id or last_id
        db.flush()
        for row in batch:
            db.expunge(row)
    return count
