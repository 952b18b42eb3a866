"""Reconciliation: keep local sessions true when a webhook was lost, and fetch decisions webhooks lacked.

Sessions that are not final and have been silent for a while are checked against Didit's decision endpoint,
within the client's rate budget; a status Didit reports that we did not have is applied through the same
:func:`~didit_portal.services.inbox.reports.apply_report` path as webhooks, and counted as drift.

Sessions flagged ``decision_missing`` — a decided status whose webhook had no decision, or whose body was not
signed (``X-Signature-Simple`` only) — are fetched within seconds (:func:`periodic`'s ``decisions_every``), not
after the silence the drift check waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.didit import errors
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import FINAL_STATUSES
from didit_portal.models import VerificationSession, utcnow
from didit_portal.services import notify
from didit_portal.services.inbox.reports import apply_report
from didit_portal.services.tasks import running_task

log = logging.getLogger(__name__)

#: Not-final sessions silent for longer than this get checked.
DEFAULT_SILENCE = timedelta(minutes=10)


@dataclass
class ReconcileReport:
    """Counts of one reconciliation pass."""

    checked: int = 0
    drift: int = 0
    decisions_fetched: int = 0
    errors: int = 0
    changes: list[notify.SessionChanged] = field(default_factory=list)


def _silent_sessions(engine: Engine, silence: timedelta, limit: int) -> list[tuple[str, str, int]]:
    cutoff = utcnow() - silence
    with Session(engine) as db:
        rows = db.exec(
            select(VerificationSession)
            .where(
                col(VerificationSession.status).not_in([str(s) for s in FINAL_STATUSES]),
                col(VerificationSession.last_seen_at) < cutoff,
            )
            .order_by(col(VerificationSession.last_seen_at))
            .limit(limit)
        ).all()
        return [(r.session_id, r.status, r.status_event_at) for r in rows]


def _missing_decisions(engine: Engine, limit: int) -> list[tuple[str, str, int]]:
    with Session(engine) as db:
        rows = db.exec(
            select(VerificationSession).where(col(VerificationSession.decision_missing).is_(True)).limit(limit)
        ).all()
        return [(r.session_id, r.status, r.status_event_at) for r in rows]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _apply(engine: Engine, item: tuple[str, str, int], decision: dict[str, object], report: ReconcileReport) -> None:
    session_id, stored, stored_at = item
    status = str(decision["status"])
    # Didit's decision has no event time; a differing status is news to us, so it is dated now. An unchanged
    # status keeps its time so the stored decision attaches to the same moment.
    event_at = stored_at if status == stored else max(int(time.time()), stored_at + 1)
    # Didit's decision also names the session's workflow, vendor_data and metadata: the only source of them for a
    # console session whose webhooks carried just their signed envelope (X-Signature-Simple).
    metadata = decision.get("metadata")
    with Session(engine) as db, db.begin():
        applied = apply_report(
            db,
            session_id=session_id,
            status=status,
            event_at=event_at,
            source="api",
            decision=decision,
            workflow_id=_text(decision.get("workflow_id")),
            vendor_data=_text(decision.get("vendor_data")),
            metadata=metadata if isinstance(metadata, dict) else None,
        )
    if status != stored:
        report.drift += 1
        log.warning("reconcile: session %s was %s locally but %s at Didit (drift)", session_id, stored, status)
    if applied.status_changed or applied.decision_stored:
        report.changes.append(
            notify.SessionChanged(session_id, applied.status, "status" if applied.status_changed else "decision")
        )


async def _check(
    engine: Engine, client: DiditClient, items: list[tuple[str, str, int]], report: ReconcileReport, *, fetching: bool
) -> None:
    for session_id, stored, stored_at in items:
        report.checked += 1
        try:
            decision = await client.get_decision_raw(session_id)
        except errors.DiditNotFoundError:
            log.warning("reconcile: session %s no longer exists at Didit", session_id)
            report.errors += 1
            continue
        except errors.DiditUnavailableError:
            report.errors += 1
            break  # Didit is down: stop this pass instead of burning the budget on failures
        except errors.DiditError as exc:
            log.warning("reconcile: session %s check failed: %s", session_id, exc)
            report.errors += 1
            continue
        await asyncio.to_thread(_apply, engine, (session_id, stored, stored_at), decision, report)
        if fetching:
            report.decisions_fetched += 1


async def fetch_missing_decisions(engine: Engine, client: DiditClient, limit: int = 50) -> ReconcileReport:
    """Fetch decisions for decided sessions whose webhook came without one.

    Args:
        engine: Database engine.
        client: Didit client.
        limit: Maximum sessions per pass.

    Returns:
        The pass's counts.
    """
    report = ReconcileReport()
    items = await asyncio.to_thread(_missing_decisions, engine, limit)
    await _check(engine, client, items, report, fetching=True)
    return report


async def reconcile(
    engine: Engine, client: DiditClient, *, silence: timedelta = DEFAULT_SILENCE, limit: int = 100
) -> ReconcileReport:
    """One reconciliation pass: silent unfinished sessions, then missing decisions.

    Args:
        engine: Database engine.
        client: Didit client.
        silence: How long a session must have been silent to be checked.
        limit: Maximum sessions per pass.

    Returns:
        The pass's counts; ``drift`` is the number of missing transitions applied.
    """
    report = ReconcileReport()
    items = await asyncio.to_thread(_silent_sessions, engine, silence, limit)
    await _check(engine, client, items, report, fetching=False)
    missing = await fetch_missing_decisions(engine, client, limit)
    report.checked += missing.checked
    report.decisions_fetched += missing.decisions_fetched
    report.errors += missing.errors
    report.changes.extend(missing.changes)
    for change in report.changes:
        await notify.publish(change)
    return report


@contextlib.asynccontextmanager
async def periodic(
    engine: Engine, client: DiditClient, *, every: float = 300.0, decisions_every: float = 5.0
) -> AsyncIterator[None]:
    """Run reconciliation every ``every`` seconds and missing-decision fetches more often, for the app's life.

    Args:
        engine: Database engine.
        client: Didit client (closed on exit).
        every: Seconds between reconciliation passes.
        decisions_every: Seconds between missing-decision passes (they must not delay webhook acks, so they
            run here rather than in the receiver).

    Yields:
        Nothing.
    """

    async def loop() -> None:
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(decisions_every)
            try:
                if time.monotonic() - last_full >= every:
                    last_full = time.monotonic()
                    report = await reconcile(engine, client)
                    if report.drift:
                        log.warning("reconcile pass: %d checked, %d drift", report.checked, report.drift)
                else:
                    report = await fetch_missing_decisions(engine, client)
                    for change in report.changes:
                        await notify.publish(change)
            except Exception:
                log.exception("reconciliation pass failed")

    try:
        async with running_task(loop(), name="didit-reconcile"):
            yield
    finally:
        await client.aclose()
