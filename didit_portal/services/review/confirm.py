"""Reviewer actions confirmed when Didit's webhook reports the status they asked for.

Staff action → Didit → webhook back.
A reviewer's decision goes to Didit (:func:`~didit_portal.services.review.actions.send_to_didit`) and stays
``sent`` until Didit's own webhook reports that status: the portal never writes a Didit status itself. The
confirmer (:func:`running`, a lifespan task) hears every :class:`~didit_portal.services.notify.SessionChanged`,
confirms what Didit carried out, and publishes a ``review`` change so open staff pages show it. With several
workers every worker hears the change; the conditional update lets exactly one of them confirm each action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import writing
from didit_portal.didit.schemas import MANUAL_TO
from didit_portal.models import ReviewAction, StatusTransition, utcnow
from didit_portal.services import audit, notify

log = logging.getLogger(__name__)


def confirm_for_session(db: Session, *, session_id: str) -> list[int]:
    """Mark in-flight actions ``confirmed`` once Didit reported the status they asked for.

    Args:
        db: Open session; the caller commits.
        session_id: The Didit session.

    Returns:
        Ids of the actions confirmed now.
    """
    confirmed: list[int] = []
    in_flight = select(ReviewAction).where(
        ReviewAction.session_id == session_id, col(ReviewAction.state).in_(("sending", "sent"))
    )
    for action in db.exec(in_flight).all():
        seen = db.exec(
            select(StatusTransition.id)
            .where(
                StatusTransition.session_id == session_id,
                StatusTransition.to_status == action.new_status,
                col(StatusTransition.recorded_at) >= action.requested_at,
            )
            .limit(1)
        ).first()
        if seen is None:
            continue
        action.state, action.decided_at = "confirmed", action.decided_at or utcnow()
        db.add(action)
        audit.record(
            db,
            actor=None,
            action="decision.confirmed",
            target_type="session",
            target_id=session_id,
            detail={"action_id": action.id, "new_status": action.new_status},
        )
        confirmed.append(action.id or 0)
    return confirmed


def confirm_now(engine: Engine, session_id: str) -> list[int]:
    """Confirm a session's in-flight actions in a transaction of its own (see :func:`confirm_for_session`).

    Args:
        engine: Database engine.
        session_id: The Didit session.

    Returns:
        Ids of the actions confirmed now.
    """
    with writing(engine) as db:
        return confirm_for_session(db, session_id=session_id)


async def on_change(engine: Engine, change: notify.SessionChanged) -> list[int]:
    """Confirm what a status change carried out, and tell the staff pages (a ``review`` change) if anything.

    Args:
        engine: Database engine.
        change: What the inbox (or reconciliation) applied.

    Returns:
        Ids of the actions confirmed now.
    """
    if change.kind != "status" or change.status not in MANUAL_TO:
        return []
    confirmed = await asyncio.to_thread(confirm_now, engine, change.session_id)
    if confirmed:
        await notify.publish(notify.SessionChanged(change.session_id, change.status, kind="review"))
    return confirmed


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[None]:
    """Confirm reviewer actions for the app's lifetime (a lifespan task).

    Args:
        engine: Database engine.

    Yields:
        Nothing.
    """

    async def listener(change: notify.SessionChanged) -> None:
        try:
            await on_change(engine, change)
        except Exception:
            log.exception("confirming reviewer actions failed")

    unsubscribe = notify.subscribe(listener)
    try:
        yield
    finally:
        unsubscribe()
