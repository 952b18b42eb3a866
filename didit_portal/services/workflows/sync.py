"""The local record of the Didit account's workflows: synced from ``GET /v3/workflows/``, created through Didit.

Didit: https://docs.didit.me/management-api/workflows/list and
https://docs.didit.me/management-api/workflows/create.

A sync replaces the ``didit_workflow`` rows with what Didit lists (new rows added, changed ones updated, rows Didit
no longer lists removed). It runs when an admin asks, after a create, at start-up and every hour
(:func:`periodic`). Within one process only one sync runs at a time: a caller that arrives while one is under way
waits for it and gets its report. Several workers each run their own hourly sync; that is acceptable for now (a
sync is idempotent and cheap), and a later issue gives the periodic work a lease so that one worker does it.

Audit: every sync a staff member asks for writes ``workflow.sync`` (with ``joined`` when they waited for one
already under way); the scheduled ones write it only when something
changed, so the trail says when Didit's list moved without a row per hour. Creates write ``workflow.create``.
Details hold ids, counts and feature names only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import reading, writing
from didit_portal.didit import errors
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import Workflow
from didit_portal.models import DiditWorkflow, VerificationSession, utcnow
from didit_portal.services import audit
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.tasks import running_task
from didit_portal.services.workflows.templates import feature_names

log = logging.getLogger(__name__)

Trigger = Literal["staff", "create", "startup", "hourly"]
#: Seconds between scheduled syncs.
EVERY: Final = 3600.0
#: Seconds before the first one (the embedded sandbox answers on this process's own port once it serves) and
#: between retries after a failed one.
FIRST_AFTER: Final = 5.0
RETRY_AFTER: Final = 60.0


@dataclass(frozen=True)
class SyncReport:
    """What a sync found: counts, or why it could not ask Didit."""

    total: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    #: A short reason (never Didit's body or a key) when Didit could not be asked.
    error: str | None = None


class WorkflowCreateError(Exception):
    """Didit refused the workflow, or could not be reached; ``messages`` are for the form."""

    def __init__(self, messages: list[str], *, status_code: int | None = None) -> None:
        """Create the error.

        Args:
            messages: What Didit said, one line per field error.
            status_code: Didit's HTTP status (None when no answer came).
        """
        super().__init__("; ".join(messages))
        self.messages = messages
        self.status_code = status_code


def _need_admin(actor: Principal | None) -> None:
    # The state checks first; the service checks again, as every service that changes configuration does.
    if actor is None or not actor.at_least("admin"):
        raise Unauthorized


def reason(exc: errors.DiditError) -> str:
    """A short, safe explanation of a failed Didit call, for the page and the log.

    Args:
        exc: The client's error.

    Returns:
        One sentence, without Didit's body.
    """
    if isinstance(exc, errors.DiditAuthError):
        return "Didit refused the API key."
    if isinstance(exc, errors.DiditRateLimitedError):
        return "Didit's rate limit was reached; try again in a minute."
    if isinstance(exc, errors.DiditUnavailableError):
        return "Didit is not answering right now."
    return f"Didit answered with an error (HTTP {exc.status_code})."


def validation_messages(detail: Any) -> list[str]:
    """Didit's 400 ``detail`` (DRF field errors, a string, or a list) as lines for the form.

    Args:
        detail: ``DiditValidationError.detail``.

    Returns:
        E.g. ``["features: OCR must come before NFC."]``.
    """
    if isinstance(detail, dict):
        lines: list[str] = []
        for key, value in detail.items():  # pyright: ignore[reportUnknownVariableType]
            prefix = "" if key in {"detail", "non_field_errors"} else f"{key}: "
            lines += [prefix + line for line in validation_messages(value)]
        return lines
    if isinstance(detail, list):
        return [line for item in detail for line in validation_messages(item)]  # pyright: ignore[reportUnknownVariableType]
    return [str(detail)] if detail not in (None, "") else ["Didit refused the workflow."]


def _row_values(workflow: Workflow) -> dict[str, Any] | None:
    extra = workflow.model_extra or {}
    workflow_id = workflow.uuid or workflow.workflow_id
    if not workflow_id:
        return None
    version = extra.get("version")
    return {
        "workflow_id": str(workflow_id)[:36],
        "label": (workflow.workflow_label or "")[:255] or "(no label)",
        "workflow_type": (str(extra["workflow_type"])[:64] if extra.get("workflow_type") else None),
        "features": feature_names(workflow.features),
        "is_default": bool(extra.get("is_default")),
        "is_archived": bool(extra.get("is_archived")),
        "version": version if isinstance(version, int) and not isinstance(version, bool) else None,
    }


def _record(
    db: Session, report: SyncReport, *, actor: Principal | None, trigger: Trigger, ip: str | None, joined: bool = False
) -> None:
    detail: dict[str, Any] = {
        "trigger": trigger,
        "workflows": report.total,
        "added": report.added,
        "removed": report.removed,
        "changed": report.changed,
    }
    if joined:
        detail["joined"] = True  # this caller waited for a sync someone else had started
    audit.record(db, actor=actor, action="workflow.sync", target_type="didit_workflow", detail=detail, ip=ip)


def _store(
    engine: Engine, listed: list[Workflow], actor: Principal | None, trigger: Trigger, ip: str | None
) -> SyncReport:
    wanted = {v["workflow_id"]: v for v in map(_row_values, listed) if v is not None}
    now = utcnow()
    added = changed = removed = 0
    with writing(engine) as db:
        existing = {row.workflow_id: row for row in db.exec(select(DiditWorkflow))}
        for workflow_id, values in wanted.items():
            row = existing.pop(workflow_id, None)
            if row is None:
                db.add(DiditWorkflow(**values, created_at=now, synced_at=now))
                added += 1
                continue
            if any(getattr(row, key) != value for key, value in values.items()):
                changed += 1
                for key, value in values.items():
                    setattr(row, key, value)
            row.synced_at = now
            db.add(row)
        for row in existing.values():
            db.delete(row)
            removed += 1
        report = SyncReport(total=len(wanted), added=added, removed=removed, changed=changed)
        if actor is not None or added or removed or changed:
            _record(db, report, actor=actor, trigger=trigger, ip=ip)
    return report


async def _sync(
    engine: Engine, client: DiditClient, actor: Principal | None, trigger: Trigger, ip: str | None
) -> SyncReport:
    try:
        listed = await client.list_workflows()
    except errors.DiditError as exc:
        log.warning("workflow sync (%s) failed: %s", trigger, type(exc).__name__)
        return SyncReport(error=reason(exc))
    return await asyncio.to_thread(_store, engine, listed, actor, trigger, ip)


#: The sync under way in each event loop (tests run several loops; the app runs one per worker).
_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[SyncReport]] = weakref.WeakKeyDictionary()


async def sync_workflows(
    engine: Engine,
    client: DiditClient,
    *,
    actor: Principal | None = None,
    trigger: Trigger = "staff",
    ip: str | None = None,
) -> SyncReport:
    """Bring the local record up to date with Didit's list; one sync at a time in this process.

    Args:
        engine: The portal database.
        client: The Didit client.
        actor: The admin who asked (None for the scheduled syncs).
        trigger: Why it runs (in the audit row).
        ip: The admin's address, for the audit row.

    Returns:
        The counts, or the reason Didit could not be asked. A caller arriving while a sync runs gets that
        sync's report; a staff member who joins one so gets an audit row of their own (``joined``).

    Raises:
        Unauthorized: A staff member below admin asked.
    """
    if actor is not None:
        _need_admin(actor)
    loop = asyncio.get_running_loop()
    current = _running.get(loop)
    joined = current is not None and not current.done()
    if current is None or not joined:
        current = loop.create_task(_sync(engine, client, actor, trigger, ip), name="workflow-sync")
        _running[loop] = current
    # Shielded: a caller that goes away (a closed tab) does not cancel the sync the others wait for.
    report = await asyncio.shield(current)
    if joined and actor is not None and report.error is None:
        # The admin asked for a sync and got one (started by someone else): the trail still says they asked.
        def record() -> None:
            with writing(engine) as db:
                _record(db, report, actor=actor, trigger=trigger, ip=ip, joined=True)

        await asyncio.to_thread(record)
    return report


async def create_workflow(
    engine: Engine,
    client: DiditClient,
    body: dict[str, Any],
    *,
    actor: Principal,
    ip: str | None = None,
) -> str:
    """Create a workflow at Didit, record it in the audit trail, then sync so that its row appears.

    Args:
        engine: The portal database.
        client: The Didit client.
        body: The ``POST /v3/workflows/`` body (:func:`~didit_portal.services.workflows.templates.build_body`).
        actor: The admin.
        ip: The admin's address, for the audit row.

    Returns:
        The new workflow's id.

    Raises:
        Unauthorized: ``actor`` is not an admin.
        WorkflowCreateError: Didit refused the body (its validation errors) or could not be reached.
    """
    _need_admin(actor)
    try:
        created = await client.create_workflow(body)
    except errors.DiditValidationError as exc:
        raise WorkflowCreateError(validation_messages(exc.detail), status_code=exc.status_code) from exc
    except errors.DiditError as exc:
        raise WorkflowCreateError([reason(exc)], status_code=exc.status_code) from exc
    workflow_id = str(created.uuid or created.workflow_id or "")
    features = feature_names(body.get("features"))

    def record() -> None:
        with writing(engine) as db:
            audit.record(
                db,
                actor=actor,
                action="workflow.create",
                target_type="didit_workflow",
                target_id=workflow_id,
                detail={"workflow_type": body.get("workflow_type"), "features": features},
                ip=ip,
            )

    await asyncio.to_thread(record)
    await sync_workflows(engine, client, trigger="create")
    return workflow_id


def session_counts(db: Session, workflow_ids: list[str]) -> dict[str, int]:
    """How many verification sessions of this portal used each workflow (``ix_verification_session_workflow_id``).

    Args:
        db: Open session.
        workflow_ids: The workflows to count.

    Returns:
        Workflow id → sessions (absent when none).
    """
    if not workflow_ids:
        return {}
    stmt = (
        select(VerificationSession.workflow_id, func.count())
        .where(col(VerificationSession.workflow_id).in_(workflow_ids))
        .group_by(col(VerificationSession.workflow_id))
    )
    return {str(workflow_id): int(count) for workflow_id, count in db.exec(stmt)}


def listed(engine: Engine) -> list[DiditWorkflow]:
    """The local record, Didit's default first, then by label.

    Args:
        engine: The portal database.

    Returns:
        The rows (detached).
    """
    with reading(engine) as db:
        rows = list(db.exec(select(DiditWorkflow)))
    return sorted(rows, key=lambda r: (not r.is_default, r.label.lower(), r.workflow_id))


async def _loop(engine: Engine, client_factory: Callable[[], DiditClient], every: float, first: float) -> None:
    trigger: Trigger = "startup"
    delay = first
    async with client_factory() as client:
        while True:
            await asyncio.sleep(delay)
            try:
                report = await sync_workflows(engine, client, trigger=trigger)
            except Exception:
                log.exception("workflow sync failed")
                report = SyncReport(error="unexpected error")
            # A failed start-up sync (Didit down, or this server not yet answering) is retried soon.
            delay = RETRY_AFTER if report.error and trigger == "startup" else every
            trigger = "startup" if report.error and trigger == "startup" else "hourly"


@contextlib.asynccontextmanager
async def periodic(
    engine: Engine,
    client_factory: Callable[[], DiditClient] | None = None,
    *,
    every: float = EVERY,
    first: float = FIRST_AFTER,
) -> AsyncIterator[None]:
    """Sync at start-up and then every hour, for the app's lifetime (a lifespan task).

    Args:
        engine: The portal database.
        client_factory: Makes the Didit client the task uses (closed at the end); the settings' one by default.
        every: Seconds between syncs.
        first: Seconds before the first.

    Yields:
        Nothing.
    """
    if client_factory is None:
        from didit_portal.didit.factory import client_from_settings  # noqa: PLC0415 -- settings are read at start

        client_factory = client_from_settings
    async with running_task(_loop(engine, client_factory, every, first), name="workflow-sync-periodic"):
        yield
