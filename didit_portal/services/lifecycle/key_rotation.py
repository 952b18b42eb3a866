"""``keys rotate``: move everything stored under ``PORTAL_SECRET_KEY_PREVIOUS`` (or unbound) to the current key.

Run with both keys configured (``PORTAL_SECRET_KEY`` the new one, ``PORTAL_SECRET_KEY_PREVIOUS`` the old one)
while the portal runs with the same two; afterwards the previous key can be removed. What it does:

* every encrypted column of every row is read (any configured key, any format) and written again under the
  current key, bound to its row (:mod:`didit_portal.row_sealing`); values from before row binding become bound;
* link tokens: each link's current token is re-hashed under the new key, and the token its URL was handed out
  with becomes its ``prior_token_hash`` (:func:`~didit_portal.services.links.tokens.rekeyed_hashes`);
* email lookup hashes: recomputed from the addresses the portal holds encrypted (decisions, links);
* the audit chain is verified and rechained under the new audit key, and a ``rekeyed`` anchor is written.

What it cannot move: API tokens and staff sessions are stored as keyed hashes of values the portal never keeps,
so they are counted and reported instead. They keep working while ``PORTAL_SECRET_KEY_PREVIOUS`` is set (lookups
try both keys); re-issue API tokens (and let staff sessions end, 12 h at most) before removing it.

Each batch is one short transaction that locks its rows first (``FOR UPDATE`` on PostgreSQL, the write lock on
SQLite), so the portal may keep running: a concurrent change is never overwritten with an older value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, SQLModel, col, select

from didit_portal import security
from didit_portal.db import writing
from didit_portal.didit.schemas import decision_email
from didit_portal.models import (
    ApiToken,
    Decision,
    ShareLink,
    StaffSession,
    VerificationLink,
    VerificationSession,
    utcnow,
)
from didit_portal.services import audit
from didit_portal.services.audit import anchors as audit_anchors
from didit_portal.services.links.tokens import rekeyed_hashes

_BATCH = 500


@dataclass
class RotationReport:
    """What ``keys rotate`` did, per part (printed as JSON by the command)."""

    resealed: dict[str, int] = field(default_factory=dict)
    links_rehashed: int = 0
    emails_rehashed: int = 0
    emails_unmatched: int = 0
    audit_rows_rechained: int = 0
    audit_anchor: str | None = None
    #: Hashes that cannot be moved (the values are never stored): valid only while the previous key is set.
    api_tokens_to_reissue: int = 0
    staff_sessions_open: int = 0


def _lock_rows(db: Session, table: str) -> None:
    # SQLite: take the database's single write lock before reading (a no-op write), so nothing changes between
    # this batch's read and its write. PostgreSQL locks the rows themselves (FOR UPDATE in the select).
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text(f"UPDATE {table} SET rowid = rowid WHERE 1 = 0"))  # noqa: S608 -- a table name from metadata


def _batches(engine: Engine, model: type[Any], pk: Any) -> Iterator[tuple[Session, list[Any]]]:
    last = None
    while True:
        with writing(engine) as db:
            _lock_rows(db, model.__tablename__)
            query = select(model).order_by(pk).limit(_BATCH).with_for_update()
            rows = list(db.exec(query if last is None else query.where(pk > last)))
            if not rows:
                return
            yield db, rows
            last = getattr(rows[-1], pk.key)


def _encrypted_models() -> list[tuple[type[Any], list[str]]]:
    found = []
    for mapper in sorted(SQLModel._sa_registry.mappers, key=lambda m: m.class_.__name__):  # pyright: ignore[reportAttributeAccessIssue]
        m: Mapper[Any] = mapper
        attrs = [
            m.get_property_by_column(c).key
            for c in m.local_table.columns  # pyright: ignore[reportAttributeAccessIssue]
            if isinstance(c.type, security.EncryptedText | security.EncryptedJSON)
        ]
        if attrs:
            found.append((m.class_, attrs))
    return found


def reseal(engine: Engine) -> dict[str, int]:
    """Write every encrypted value again under the current key, bound to its row.

    Args:
        engine: The portal database.

    Returns:
        Table name → rows rewritten.

    Raises:
        security.DecryptionError: A value opens under no configured key (the previous key is missing?).
    """
    counts: dict[str, int] = {}
    for model, attrs in _encrypted_models():
        pk = inspect(model).primary_key[0]
        count = 0
        for _db, rows in _batches(engine, model, getattr(model, pk.key)):
            for row in rows:
                for attr in attrs:
                    if getattr(row, attr) is not None:
                        flag_modified(row, attr)  # sealed again on flush (row_sealing's before_update)
            count += len(rows)
        counts[model.__tablename__] = count
    return counts


def rehash_links(engine: Engine) -> int:
    """Move link token hashes to the current key, keeping each link's handed-out token as its prior one.

    Args:
        engine: The portal database.

    Returns:
        How many links changed.
    """
    changed = 0
    for model, kind in ((VerificationLink, "verify"), (ShareLink, "share")):
        for _db, rows in _batches(engine, model, col(model.id)):
            for link in rows:
                token_hash, prior = rekeyed_hashes(kind, link.id, link.token_hash, link.prior_token_hash)
                if (token_hash, prior) != (link.token_hash, link.prior_token_hash):
                    link.token_hash, link.prior_token_hash = token_hash, prior
                    changed += 1
    return changed


def _emails_of(db: Session, session_id: str) -> set[str]:
    emails: set[str] = set()
    for payload in db.exec(select(Decision).where(Decision.session_id == session_id)):
        found = decision_email(payload.payload) if isinstance(payload.payload, dict) else None
        if found:
            emails.add(found)
    # Whole rows: an encrypted column opens only with its row (row_sealing), never selected on its own.
    for link in db.exec(select(VerificationLink).where(VerificationLink.session_id == session_id)):
        if link.email:
            emails.update({link.email.lower(), link.email.strip().lower()})
    return emails


def rehash_emails(engine: Engine) -> tuple[int, int]:
    """Recompute each session's email lookup hash under the current key, from the addresses held encrypted.

    Args:
        engine: The portal database.

    Returns:
        ``(rehashed, unmatched)``: sessions whose hash moved, and sessions whose hash matched none of the
        addresses found (left as they are; their email search works again when a new decision arrives).
    """
    rehashed = unmatched = 0
    for db, rows in _batches(engine, VerificationSession, col(VerificationSession.session_id)):
        for row in rows:
            if row.email_hash is None:
                continue
            match = next(
                (e for e in _emails_of(db, row.session_id) if row.email_hash in security.lookup_hashes(e)), None
            )
            if match is None:
                unmatched += 1
            elif security.lookup_hash(match) != row.email_hash:
                db.execute(
                    update(VerificationSession)
                    .where(col(VerificationSession.session_id) == row.session_id)
                    .values(email_hash=security.lookup_hash(match))
                )
                rehashed += 1
            db.expunge(row)  # the UPDATE above is the write; the loaded object must not flush anything
    return rehashed, unmatched


def rotate(engine: Engine, data_dir: Path) -> RotationReport:
    """Run every part of the rotation (see the module docstring), in order.

    Args:
        engine: The portal database.
        data_dir: The data folder (the audit anchor file).

    Returns:
        What was done.

    Raises:
        audit.ChainBrokenError: The audit chain does not verify (it is then left untouched, and so is nothing
            else after the encrypted columns and hashes).
    """
    report = RotationReport(resealed=reseal(engine))
    report.links_rehashed = rehash_links(engine)
    report.emails_rehashed, report.emails_unmatched = rehash_emails(engine)
    with writing(engine) as db:
        report.audit_rows_rechained = audit.rechain(db)
    if report.audit_rows_rechained:
        report.audit_anchor = audit_anchors.write_anchor(engine, audit_anchors.anchor_path(data_dir), rekeyed=True)
    now = utcnow()
    with writing(engine) as db:
        report.api_tokens_to_reissue = len(db.exec(select(ApiToken.id).where(col(ApiToken.revoked_at).is_(None))).all())
        report.staff_sessions_open = len(
            db.exec(
                select(StaffSession.token_hash).where(
                    col(StaffSession.ended_at).is_(None), col(StaffSession.expires_at) > now
                )
            ).all()
        )
    return report
