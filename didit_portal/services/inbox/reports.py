"""Applying Didit's statuses and decisions to stored sessions — one path for webhooks and reconciliation.

Ordering: Didit's event ``created_at`` (kept across retries, unlike ``timestamp``) orders events. At equal
seconds — common, Didit emits ``In Progress`` and the result within one second — the documented transition
graph decides which came first; when it cannot tell, arrival order wins. A late event is still recorded in
the history (``applied=False``) so the timeline shows everything Didit said.

Reports are applied in batches (:func:`apply_reports`): one query loads every session of the batch (``FOR
UPDATE`` on PostgreSQL), the new states are computed in Python, and the history, decisions and session rows
are written with one executemany each. The expensive, database-independent part — validating decisions and
encrypting what gets stored — is :func:`prepare_reports`, which the inbox runs before it takes the write lock.
:func:`apply_report` is the single-report form of the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from didit_portal.didit.schemas import DECISION_STATUSES, MANUAL_FROM, MANUAL_TO, SessionStatus, decision_email
from didit_portal.didit.schemas import Decision as DecisionSchema
from didit_portal.models import Decision, utcnow
from didit_portal.row_sealing import row_aad_for
from didit_portal.security import encrypt_json, lookup_hash
from didit_portal.services.inbox.session_rows import SessionRow, load_rows, write_batch

_S = SessionStatus
#: Didit's documented transitions (https://docs.didit.me/integration/verification-statuses), plus Resubmitted →
#: In Progress when the user reopens the link.
FORWARD: frozenset[tuple[str, str]] = frozenset(
    {
        (_S.NOT_STARTED, _S.IN_PROGRESS),
        (_S.NOT_STARTED, _S.EXPIRED),
        (_S.RESUBMITTED, _S.IN_PROGRESS),
        (_S.APPROVED, _S.KYC_EXPIRED),
    }
    | {(_S.IN_PROGRESS, t) for t in (_S.APPROVED, _S.DECLINED, _S.IN_REVIEW, _S.ABANDONED)}
    | {(_S.AWAITING_USER, t) for t in (_S.IN_REVIEW, _S.APPROVED, _S.DECLINED)}
    | {(f, t) for f in MANUAL_FROM for t in MANUAL_TO if f != t}
)


def supersedes(current: str | None, current_at: int, new: str, new_at: int) -> bool:
    """Whether an event (``new`` at ``new_at``) should replace the stored status.

    Args:
        current: Stored status (None for a session we have not seen).
        current_at: Didit time of the stored status.
        new: Status the event reports.
        new_at: Didit time of the event.

    Returns:
        True when the event is newer, or equally old and a forward move in Didit's graph.
    """
    if current is None:
        return True
    if new_at != current_at:
        return new_at > current_at
    if new == current:
        return False
    # Late when the stored status follows the event's in Didit's graph (and not the other way round).
    return not ((new, current) in FORWARD and (current, new) not in FORWARD)


@dataclass(frozen=True)
class Applied:
    """What applying one report changed."""

    session_id: str
    status: str
    status_changed: bool
    decision_stored: bool
    needs_decision: bool


@dataclass(frozen=True)
class Report:
    """One status report (a webhook's or the API's) about a session, as :func:`apply_reports` takes it."""

    session_id: str
    status: str
    event_at: int
    source: str
    decision: dict[str, Any] | None = None
    workflow_id: str | None = None
    vendor_data: str | None = None
    metadata: dict[str, Any] | None = None
    environment: str | None = None
    inbox_event_id: int | None = None
    #: The report's body was not signed (a Simple-only webhook): whatever its status, the session's decision is
    #: to be fetched from Didit's API, even when this report changes nothing locally.
    refetch: bool = False


@dataclass(frozen=True)
class PreparedReport:
    """A validated report with its stored forms encrypted (no database needed to build it)."""

    report: Report
    decision_status: str | None = None
    decision_warnings: bool = False
    decision_enc: bytes | None = None
    metadata_enc: bytes | None = None
    #: Didit's ``session_number`` from the decision: the only place a console or UniLink session's number arrives,
    #: and staff search the queue by it.
    session_number: int | None = None
    #: Keyed hash of the session's email from the decision (never the address itself), for the queue's search.
    email_hash: str | None = None


def prepare_reports(reports: Sequence[Report]) -> list[PreparedReport]:
    """Validate reports and encrypt what they store, without touching the database.

    Args:
        reports: Reports in arrival order.

    Returns:
        One :class:`PreparedReport` per report.

    Raises:
        ValueError: A status is not one of Didit's exact strings, or a decision is malformed
            (``pydantic.ValidationError`` is a ``ValueError``).
    """
    prepared: list[PreparedReport] = []
    for report in reports:
        SessionStatus(report.status)  # exact strings only; raises ValueError for anything else
        if report.decision is None:
            prepared.append(PreparedReport(report, metadata_enc=_enc(report.metadata, report.session_id)))
            continue
        parsed = DecisionSchema.model_validate(report.decision)
        email = decision_email(report.decision)
        prepared.append(
            PreparedReport(
                report,
                str(parsed.status),
                parsed.has_warnings(),
                # Bound to the decision row it is written to (``row_sealing``: session and event time).
                encrypt_json(report.decision, aad=_decision_aad(report)),
                _enc(report.metadata, report.session_id),
                parsed.session_number,
                lookup_hash(email) if email else None,
            )
        )
    return prepared


def _enc(value: dict[str, Any] | None, session_id: str) -> bytes | None:
    aad = row_aad_for("verification_session", "metadata", session_id=session_id)
    return None if value is None else encrypt_json(value, aad=aad)


def _decision_aad(report: Report) -> bytes:
    return row_aad_for("decision", "payload", session_id=report.session_id, event_at=report.event_at)


def apply_reports(db: Session, reports: Sequence[Report | PreparedReport]) -> list[Applied]:
    """Apply reports in order inside the caller's transaction, with a handful of statements for the whole batch.

    Same rules as one :func:`apply_report` call per report, in order: sessions we did not create (console,
    UniLink) are created, every reported status lands in the history, a decision is stored when it is at least
    as new as the latest one (older ones stay as history), and a decided status without its decision is flagged
    for the reconciler to fetch (a ``refetch`` report's too, even when it changes nothing: its body was unsigned).

    Args:
        db: Open session; the caller commits. Its pending ORM changes are flushed first.
        reports: Reports (or :func:`prepare_reports` output) in arrival order.

    Returns:
        One :class:`Applied` per report, in order.

    Raises:
        ValueError: A report is invalid (nothing of the batch is written then).
        sqlalchemy.exc.SQLAlchemyError: The database refused (the caller rolls back).
    """
    if not reports:
        return []
    items = _prepared(reports)
    db.flush()
    rows = load_rows(db, items)
    now = utcnow()
    transitions: list[tuple[Any, ...]] = []
    decisions: list[list[Any]] = []
    results: list[Applied] = []
    for item in items:
        report = item.report
        row, previous, changed = _apply_status(rows, item)
        if previous != report.status or not changed:
            transitions.append(
                (
                    report.session_id,
                    previous,
                    report.status,
                    report.event_at,
                    report.source,
                    changed,
                    report.inbox_event_id,
                )
            )
        stored = _apply_decision(row, item, decisions)
        needs = (changed or report.refetch) and report.status in DECISION_STATUSES and report.decision is None
        if needs:
            row.decision_missing = True
        elif stored and report.decision is not None and report.decision.get("status") == row.status:
            row.decision_missing = False  # the decision for the current status has arrived
        results.append(Applied(report.session_id, row.status, changed and previous != report.status, stored, needs))
    write_batch(db, rows, transitions, decisions, now)
    return results


def _prepared(reports: Sequence[Report | PreparedReport]) -> list[PreparedReport]:
    # Prepare what the caller did not, in one call, keeping the order.
    prepared = [r if isinstance(r, PreparedReport) else None for r in reports]
    if any(p is None for p in prepared):
        todo = iter(prepare_reports([r for r in reports if isinstance(r, Report)]))
        prepared = [p if p is not None else next(todo) for p in prepared]
    return [p for p in prepared if p is not None]


def _apply_status(rows: dict[str, SessionRow], item: PreparedReport) -> tuple[SessionRow, str | None, bool]:
    """Apply one report's status to its row (created for sessions we did not create).

    Returns:
        The row, its status before, and whether the report superseded it.
    """
    report = item.report
    row = rows.get(report.session_id)
    if row is None:
        row = rows[report.session_id] = SessionRow(
            report.status,
            report.event_at,
            report.workflow_id,
            report.vendor_data,
            report.environment,
            False,
            False,
            None,
            new=True,
            origin=report.source,
            metadata_enc=item.metadata_enc,
            metadata_set=True,
        )
        previous: str | None = None
        changed = True
    else:
        previous = row.status
        changed = supersedes(row.status, row.status_event_at, report.status, report.event_at)
        if changed:
            row.status = report.status
            row.status_event_at = report.event_at
        row.workflow_id = row.workflow_id or report.workflow_id
        row.vendor_data = row.vendor_data or report.vendor_data
        if report.metadata is not None and changed:
            row.metadata_enc, row.metadata_set = item.metadata_enc, True
        row.environment = row.environment or report.environment
    row.session_number = row.session_number or item.session_number
    row.email_hash = row.email_hash or item.email_hash
    return row, previous, changed


def _apply_decision(row: SessionRow, item: PreparedReport, decisions: list[list[Any]]) -> bool:
    """Queue one report's decision for insertion; it becomes the latest when at least as new as the latest.

    Returns:
        Whether it is now the session's latest decision.
    """
    if item.decision_enc is None:
        return False
    report = item.report
    stored = row.latest_at is None or report.event_at >= row.latest_at
    if stored:
        if row.pending_latest is not None:
            row.pending_latest[4] = False  # is_latest: superseded within this batch
        elif row.latest_at is not None:
            row.db_latest_superseded = True
        row.latest_at = report.event_at
        row.has_warnings = item.decision_warnings
    decision = [
        report.session_id,
        item.decision_status,
        report.source,
        report.event_at,
        stored,
        item.decision_warnings,
        item.decision_enc,
    ]
    decisions.append(decision)
    if stored:
        row.pending_latest = decision
    return stored


def apply_report(
    db: Session,
    *,
    session_id: str,
    status: str,
    event_at: int,
    source: str,
    decision: dict[str, Any] | None = None,
    workflow_id: str | None = None,
    vendor_data: str | None = None,
    metadata: dict[str, Any] | None = None,
    environment: str | None = None,
    inbox_event_id: int | None = None,
) -> Applied:
    """Apply one status report (from a webhook or the API) inside the caller's transaction.

    Creates sessions we did not create (console, UniLink), records history, stores a decision when it is
    newer than the stored one, and flags a decided status that came without its decision. The single-report
    form of :func:`apply_reports`.

    Args:
        db: Open session; the caller commits.
        session_id: Didit session id.
        status: Exact Didit status.
        event_at: Didit's event time (epoch seconds).
        source: ``webhook`` or ``api``.
        decision: The decision document, when the report carried one.
        workflow_id: From the envelope, if set.
        vendor_data: From the envelope, if set.
        metadata: From the envelope, if set.
        environment: ``live`` or ``sandbox``.
        inbox_event_id: The inbox row this came from.

    Returns:
        An :class:`Applied` summary.
    """
    report = Report(
        session_id=session_id,
        status=status,
        event_at=event_at,
        source=source,
        decision=decision,
        workflow_id=workflow_id,
        vendor_data=vendor_data,
        metadata=metadata,
        environment=environment,
        inbox_event_id=inbox_event_id,
    )
    return apply_reports(db, [report])[0]


def latest_decision(db: Session, session_id: str) -> dict[str, Any] | None:
    """The newest stored decision document of a session.

    Args:
        db: Open session.
        session_id: The session.

    Returns:
        The decision document, or None.
    """
    row = db.exec(select(Decision).where(Decision.session_id == session_id, col(Decision.is_latest).is_(True))).first()
    return None if row is None else row.payload
