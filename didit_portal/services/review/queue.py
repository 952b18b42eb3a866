"""The review queue: filters, search and keyset pagination (counts and charts: :mod:`.stats`).

Pure, keyword-only query functions over ``verification_session`` (and ``status_transition`` for the time to a
decision), shared by the queue page, the CSV export and ``bench/queue.py``.

Pagination is keyset (seek) on ``(created_at, session_id)``, which is unique and backed by the index
``ix_vs_created_session``: page 10,000 costs what page 1 costs, and rows inserted while a reviewer pages never
shift, duplicate or skip rows on the following pages (an ``OFFSET`` would do all three).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, tuple_
from sqlmodel import Session, col

from didit_portal.didit.schemas import SessionStatus
from didit_portal.models import VerificationSession
from didit_portal.security import lookup_hashes

VS = VerificationSession
#: Rows per page: one screen at 1280 px, small enough for the websocket.
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Statuses that are a decision for the approval rate and the time to a decision.
DECIDED = (SessionStatus.APPROVED.value, SessionStatus.DECLINED.value)

Sort = Literal["desc", "asc"]


@dataclass(frozen=True)
class QueueFilter:
    """What the reviewer asked for; empty fields do not filter.

    Attributes:
        statuses: Exact Didit statuses (any of them).
        workflow_id: One workflow.
        created_from: Sessions created at or after this instant.
        created_to: Sessions created strictly before this instant.
        assigned_to: Only sessions assigned to this staff user id ("assigned to me").
        has_warnings: Only sessions whose latest decision carries warnings.
        search: vendor_data (prefix), session number, session id or an email address (exact, by keyed hash).
        identifiers_only: Search session ids and numbers only, exactly (viewers): a prefix search on vendor_data
            would unmask a masked email one character at a time, and an exact email search would confirm that a
            person is in the queue.
    """

    statuses: tuple[str, ...] = ()
    workflow_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    assigned_to: int | None = None
    has_warnings: bool = False
    search: str = ""
    identifiers_only: bool = False


@dataclass(frozen=True)
class Cursor:
    """A position in the queue: the ``(created_at, session_id)`` of a row."""

    created_at: datetime
    session_id: str

    def encode(self) -> str:
        """Opaque text form (kept server-side by the page, but safe to show).

        Returns:
            ``<epoch microseconds>~<session_id>``.
        """
        micros = int(self.created_at.timestamp() * 1_000_000)
        return f"{micros}~{self.session_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse :meth:`encode`'s output.

        Args:
            text: The encoded cursor.

        Returns:
            The cursor.

        Raises:
            ValueError: The text is not a cursor.
        """
        micros, _, session_id = text.partition("~")
        if not session_id or len(session_id) > 64:
            raise ValueError("not a queue cursor")
        return cls(datetime.fromtimestamp(int(micros) / 1_000_000, UTC), session_id)


@dataclass(frozen=True)
class QueueRow:
    """One row of the queue, as the table shows it (no personal data besides vendor_data)."""

    session_id: str
    session_number: int | None
    vendor_data: str | None
    status: str
    workflow_id: str | None
    has_warnings: bool
    assigned_to: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def cursor(self) -> Cursor:
        """This row's position."""
        return Cursor(self.created_at, self.session_id)


@dataclass(frozen=True)
class QueuePage:
    """A page of rows and the cursors around it."""

    rows: list[QueueRow]
    #: Cursor to pass as ``after`` for the next page; None on the last page.
    next_cursor: Cursor | None
    #: Cursor to pass as ``before`` for the previous page; None on the first page.
    prev_cursor: Cursor | None
    #: The search was a vendor_data prefix matching too many sessions, so only exact matches are shown.
    narrowed: bool = False


#: A vendor_data prefix matching at least this many sessions is searched as an exact value instead. Ordering the
#: matches of a prefix by creation needs either sorting all of them or walking the created_at index until enough
#: match; both grow with the table ("user-" matches everything). Below this bound the sort is small and bounded.
BROAD_PREFIX = 500


def search_condition(search: str, *, broad: bool = False, identifiers_only: bool = False) -> ColumnElement[bool] | None:
    """The WHERE clause for a search box value, each branch answerable from an index.

    Args:
        search: What the reviewer typed.
        broad: The vendor_data prefix matches too many sessions (see :func:`is_broad_prefix`): match
            vendor_data exactly instead (an index lookup), keeping the page query bounded.
        identifiers_only: Match a session id or a session number exactly, nothing else (viewers).

    Returns:
        A condition, or None for an empty search.
    """
    text = search.strip()
    if not text:
        return None
    if _UUID.match(text):
        return col(VS.session_id) == text.lower()
    if identifiers_only:
        return col(VS.session_number) == int(text) if text.isdigit() and len(text) <= 18 else false()
    if "@" in text:
        # Emails are never stored in the clear: compare keyed hashes of the lower-cased address.
        # Every configured key: hashes written before a key rotation match until `keys rotate` moves them.
        return or_(col(VS.email_hash).in_(lookup_hashes(text.lower())), col(VS.vendor_data) == text)
    # Prefix search as a range so that both SQLite and PostgreSQL use the vendor_data b-tree index
    # (LIKE does not on SQLite's default case-insensitive LIKE).
    vendor = col(VS.vendor_data)
    prefix = vendor == text if broad else or_(vendor == text, and_(vendor >= text, vendor < text + "\U0010ffff"))
    if text.isdigit() and len(text) <= 18:
        return or_(col(VS.session_number) == int(text), prefix)
    return prefix


def _is_prefix_search(search: str) -> bool:
    text = search.strip()
    return bool(text) and not _UUID.match(text) and "@" not in text


def is_broad_prefix(db: Session, search: str) -> bool:
    """Whether a vendor_data prefix search matches at least :data:`BROAD_PREFIX` sessions (an index probe).

    Args:
        db: Open session.
        search: What the reviewer typed.

    Returns:
        True for a broad prefix.
    """
    if not _is_prefix_search(search):
        return False
    text = search.strip()
    vendor = col(VS.vendor_data)
    probe = (
        select(col(VS.session_id)).where(vendor >= text, vendor < text + "\U0010ffff").limit(BROAD_PREFIX).subquery()
    )
    return int(db.execute(select(func.count()).select_from(probe)).scalar_one()) >= BROAD_PREFIX


def broad_search(db: Session, filters: QueueFilter) -> bool:
    """Whether the filters' search is a broad vendor_data prefix (never for viewers, who search ids only).

    Args:
        db: Open session.
        filters: Filters and search.

    Returns:
        The ``broad_search`` to pass to :func:`filter_conditions`.
    """
    return not filters.identifiers_only and is_broad_prefix(db, filters.search)


def filter_conditions(
    filters: QueueFilter, *, include_status: bool = True, broad_search: bool = False
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a filter.

    Args:
        filters: The filter.
        include_status: False for the counts per status (they show every status under the other filters).
        broad_search: The search is a broad vendor_data prefix (:func:`is_broad_prefix`).

    Returns:
        Conditions to AND together.
    """
    conditions: list[ColumnElement[bool]] = []
    if include_status and filters.statuses:
        statuses = [str(SessionStatus(s)) for s in filters.statuses]  # exact strings only
        conditions.append(col(VS.status).in_(statuses) if len(statuses) > 1 else col(VS.status) == statuses[0])
    if filters.workflow_id:
        conditions.append(col(VS.workflow_id) == filters.workflow_id)
    if filters.created_from is not None:
        conditions.append(col(VS.created_at) >= filters.created_from)
    if filters.created_to is not None:
        conditions.append(col(VS.created_at) < filters.created_to)
    if filters.assigned_to is not None:
        conditions.append(col(VS.assigned_to) == filters.assigned_to)
    if filters.has_warnings:
        conditions.append(col(VS.has_warnings).is_(True))
    searched = search_condition(filters.search, broad=broad_search, identifiers_only=filters.identifiers_only)
    if searched is not None:
        conditions.append(searched)
    return conditions


_COLUMNS = tuple(
    col(c)
    for c in (
        VS.session_id,
        VS.session_number,
        VS.vendor_data,
        VS.status,
        VS.workflow_id,
        VS.has_warnings,
        VS.assigned_to,
        VS.created_at,
        VS.updated_at,
    )
)


def _row(values: Any) -> QueueRow:
    return QueueRow(
        session_id=values[0],
        session_number=values[1],
        vendor_data=values[2],
        status=values[3],
        workflow_id=values[4],
        has_warnings=bool(values[5]),
        assigned_to=values[6],
        created_at=values[7],
        updated_at=values[8],
    )


def fetch_page(
    db: Session,
    *,
    filters: QueueFilter | None = None,
    sort: Sort = "desc",
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """One page of the queue by keyset.

    Args:
        db: Open session.
        filters: Filters and search.
        sort: ``desc`` (newest first) or ``asc``.
        after: Return the rows that follow this cursor (next page).
        before: Return the rows that precede this cursor (previous page); ignored when ``after`` is set.
        limit: Rows per page (1..MAX_PAGE_SIZE).

    Returns:
        The page and its neighbouring cursors.
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    filters = filters or QueueFilter()
    key = tuple_(col(VS.created_at), col(VS.session_id))
    filters = _drop_implied_dates(filters, sort=sort, after=after, before=before)
    broad = broad_search(db, filters)
    conditions = filter_conditions(filters, broad_search=broad)
    backwards = after is None and before is not None
    # Walking backwards is walking forwards in the opposite order from the cursor, then flipping the rows.
    descending = (sort == "desc") != backwards
    if after is not None:
        conditions.append(
            key < (after.created_at, after.session_id) if sort == "desc" else key > (after.created_at, after.session_id)
        )
    elif before is not None:
        conditions.append(
            key > (before.created_at, before.session_id)
            if sort == "desc"
            else key < (before.created_at, before.session_id)
        )
    order = (
        (col(VS.created_at).desc(), col(VS.session_id).desc())
        if descending
        else (col(VS.created_at).asc(), col(VS.session_id).asc())
    )
    query = select(*_COLUMNS).where(and_(true(), *conditions)).order_by(*order).limit(limit + 1)
    rows = [_row(r) for r in db.execute(query).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        next_cursor = rows[-1].cursor if rows else None
        prev_cursor = rows[0].cursor if rows and more else None
    else:
        next_cursor = rows[-1].cursor if rows and more else None
        prev_cursor = rows[0].cursor if rows and after is not None else None
    return QueuePage(rows=rows, next_cursor=next_cursor, prev_cursor=prev_cursor, narrowed=broad)


def _drop_implied_dates(
    filters: QueueFilter, *, sort: Sort, after: Cursor | None, before: Cursor | None
) -> QueueFilter:
    # A date bound the keyset condition already implies must go: the planner would otherwise take the date as
    # the index range and walk every row between that date and the cursor (a deep page would grow with depth).
    cursor = after or before
    if cursor is None:
        return filters
    towards_older = (sort == "desc") == (after is not None)
    if towards_older and filters.created_to is not None and cursor.created_at < filters.created_to:
        return replace(filters, created_to=None)
    if not towards_older and filters.created_from is not None and cursor.created_at >= filters.created_from:
        return replace(filters, created_from=None)
    return filters


def iter_rows(
    db: Session, *, filters: QueueFilter | None = None, sort: Sort = "desc", max_rows: int = 100_000, batch: int = 1000
) -> Any:
    """Every row of a filtered queue, batch by batch by keyset (the CSV export).

    Args:
        db: Open session.
        filters: Filters and search.
        sort: Order.
        max_rows: Stop after this many rows.
        batch: Rows per query.

    Yields:
        :class:`QueueRow` objects.
    """
    cursor: Cursor | None = None
    sent = 0
    while sent < max_rows:
        page = fetch_page(db, filters=filters, sort=sort, after=cursor, limit=min(batch, MAX_PAGE_SIZE))
        for row in page.rows:
            if sent >= max_rows:
                return
            yield row
            sent += 1
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
