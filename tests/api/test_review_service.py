"""Manual review on SQLite and PostgreSQL: four-eyes rules, roles, notes, assignment, CSV export, and the full
path reviewer → Didit (the embedded sandbox over HTTP) → signed webhook → inbox → ``confirmed``."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from didit_portal.db import get_engine, session_scope
from didit_portal.didit.factory import client_from_settings
from didit_portal.didit.schemas import CreateSessionRequest
from didit_portal.models import AuditLog, Decision, ReviewAction, StaffUser, VerificationSession
from didit_portal.security import decrypt_text, row_aad
from didit_portal.services import audit, notify
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.review import actions as review
from didit_portal.services.review import casework, confirm, queue, views
from tests.api.portal_server import running_portal, wait_for


def _staff(db_url: str) -> dict[str, Principal]:
    people = {}
    with session_scope(get_engine(db_url)) as db:
        for role, email in (
            ("reviewer", "ana@example.com"),
            ("reviewer", "ben@example.com"),
            ("viewer", "vic@example.com"),
            ("admin", "ada@example.com"),
        ):
            user = StaffUser(email=email, password_hash="unused", role=role)
            db.add(user)
            db.flush()
            assert user.id is not None
            people[email.split("@")[0]] = Principal(user.id, email, role)
    return people


def _session(db_url: str, status: str, *, reviews: list | None = None, vendor: str = "user-1") -> str:
    sid = str(uuid.uuid4())
    with session_scope(get_engine(db_url)) as db:
        db.add(VerificationSession(session_id=sid, status=status, vendor_data=vendor))
        db.flush()
        db.add(
            Decision(
                session_id=sid,
                status=status,
                source="webhook",
                payload={"session_id": sid, "status": status, "reviews": reviews or [], "id_verifications": []},
            )
        )
    return sid


def _set_four_eyes(db_url: str, admin: Principal, on: bool) -> None:
    with session_scope(get_engine(db_url)) as db:
        review.set_four_eyes(db, actor=admin, enabled=on)


def _actions(db_url: str) -> list[str]:
    with Session(get_engine(db_url)) as db:
        return list(db.exec(select(AuditLog.action).order_by(AuditLog.id)).all())


def test_four_eyes_overturning_didit_needs_a_second_reviewer_never_oneself(db_url: str) -> None:
    staff = _staff(db_url)
    _set_four_eyes(db_url, staff["ada"], True)
    sid = _session(db_url, "Approved")  # Didit approved it by itself (no review in its feed)
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        action = review.request_decision(
            db, actor=staff["ana"], session_id=sid, new_status="Declined", reason="Document photo is of a screen"
        )
        assert action.state == "pending_approval"
        action_id = action.id
    assert action_id is not None
    with session_scope(engine) as db, pytest.raises(review.SelfApprovalError):
        review.approve_request(db, actor=staff["ana"], action_id=action_id)
    with session_scope(engine) as db, pytest.raises(Unauthorized):
        review.approve_request(db, actor=staff["vic"], action_id=action_id)
    with session_scope(engine) as db:
        # While one decision is open, no second one can start.
        with pytest.raises(review.ReviewError):
            review.request_decision(db, actor=staff["ben"], session_id=sid, new_status="Resubmitted", reason="x")
        approved = review.approve_request(db, actor=staff["ben"], action_id=action_id)
        assert (approved.state, approved.approved_by) == ("sending", staff["ben"].user_id)
    actions = _actions(db_url)
    assert actions.count("decision.request") == 1 and actions.count("decision.approve") == 1
    assert audit.verify_chain(engine)[0]


def test_four_eyes_applies_only_to_didits_automatic_decisions(db_url: str) -> None:
    staff = _staff(db_url)
    _set_four_eyes(db_url, staff["ada"], True)
    in_review = _session(db_url, "In Review")
    by_reviewer = _session(db_url, "Declined", reviews=[{"user": "x", "new_status": "Declined", "comment": "c"}])
    with session_scope(get_engine(db_url)) as db:
        for sid in (in_review, by_reviewer):
            action = review.request_decision(
                db, actor=staff["ana"], session_id=sid, new_status="Approved", reason="Checked by phone"
            )
            assert action.state == "sending"
    _set_four_eyes(db_url, staff["ada"], False)
    automatic = _session(db_url, "Declined")
    with session_scope(get_engine(db_url)) as db:
        assert (
            review.request_decision(
                db, actor=staff["ana"], session_id=automatic, new_status="Approved", reason="ok"
            ).state
            == "sending"
        )


def test_rejecting_a_request_and_the_validation_rules(db_url: str) -> None:
    staff = _staff(db_url)
    _set_four_eyes(db_url, staff["ada"], True)
    sid = _session(db_url, "Declined")
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        with pytest.raises(Unauthorized):
            review.request_decision(db, actor=staff["vic"], session_id=sid, new_status="Approved", reason="r")
        with pytest.raises(Unauthorized):
            review.set_four_eyes(db, actor=staff["ana"], enabled=False)
        for status, reason in (("Approved", "   "), ("In Review", "r"), ("Declined", "r")):
            with pytest.raises(review.ReviewError):
                review.request_decision(db, actor=staff["ana"], session_id=sid, new_status=status, reason=reason)
        action = review.request_decision(db, actor=staff["ana"], session_id=sid, new_status="Approved", reason="r")
        review.reject_request(db, actor=staff["ben"], action_id=action.id or 0)
    not_started = _session(db_url, "Not Started")
    with session_scope(engine) as db:
        with pytest.raises(review.ReviewError, match="Not Started"):
            review.request_decision(db, actor=staff["ana"], session_id=not_started, new_status="Approved", reason="r")
        stored = db.get(ReviewAction, action.id)
        assert stored is not None and stored.state == "rejected"
        # The reason is encrypted at rest.
        raw = db.execute(text("SELECT reason FROM review_action WHERE id = :i"), {"i": action.id}).scalar_one()
        # Sealed (version, nonce, ciphertext and tag, not the text) and bound to its row (issue 10, item 17).
        assert decrypt_text(bytes(raw), aad=row_aad("review_action", "reason", action.id)) == "r"
        assert bytes(raw)[:1] == b"\x02" and len(bytes(raw)) == 1 + 12 + 1 + 16


def test_notes_are_encrypted_and_hidden_from_viewers(db_url: str) -> None:
    staff = _staff(db_url)
    sid = _session(db_url, "In Review")
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        casework.add_note(db, actor=staff["ana"], session_id=sid, body="Called Zoë Núñez, she confirmed the address")
        with pytest.raises(Unauthorized):
            casework.add_note(db, actor=staff["vic"], session_id=sid, body="viewer note")
    with Session(engine) as db:
        raw = bytes(db.execute(text("SELECT body FROM session_note")).scalar_one())
        assert "Núñez".encode() not in raw and b"address" not in raw
        full = casework.list_notes(db, actor=staff["ben"], session_id=sid)
        hidden = casework.list_notes(db, actor=staff["vic"], session_id=sid)
    assert full[0]["body"].startswith("Called Zoë") and full[0]["author"] == "ana@example.com"
    assert "Zoë" not in hidden[0]["body"] and hidden[0]["author"] == "ana@example.com"
    assert "note.add" in _actions(db_url)


def test_assignment_only_to_active_reviewers(db_url: str) -> None:
    staff = _staff(db_url)
    sid = _session(db_url, "In Review")
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        casework.assign(db, actor=staff["ana"], session_id=sid, assignee_id=staff["ben"].user_id)
        with pytest.raises(review.ReviewError):
            casework.assign(db, actor=staff["ana"], session_id=sid, assignee_id=staff["vic"].user_id)
        with pytest.raises(Unauthorized):
            casework.assign(db, actor=staff["vic"], session_id=sid, assignee_id=staff["vic"].user_id)
    with Session(engine) as db:
        row = db.get(VerificationSession, sid)
        assert row is not None and row.assigned_to == staff["ben"].user_id
        assert [s["email"] for s in casework.assignable_staff(db)] == [
            "ada@example.com",
            "ana@example.com",
            "ben@example.com",
        ]
        mine = queue.fetch_page(db, filters=queue.QueueFilter(assigned_to=staff["ben"].user_id))
        assert [r.session_id for r in mine.rows] == [sid]


def test_csv_export_is_audited_masked_for_viewers_and_safe_for_spreadsheets(db_url: str) -> None:
    staff = _staff(db_url)
    _session(db_url, "Approved", vendor="zoe.nunez@example.com")
    _session(db_url, "Declined", vendor='=HYPERLINK("http://evil")')
    _session(db_url, "In Review", vendor="user-7")
    engine = get_engine(db_url)
    filters = queue.QueueFilter(statuses=("Approved", "Declined"))
    with session_scope(engine) as db:
        full, n_full = casework.export_csv(db, actor=staff["ana"], filters=filters)
        masked, n_masked = casework.export_csv(db, actor=staff["vic"], filters=filters)
    assert n_full == n_masked == 2
    full_rows = list(csv.DictReader(io.StringIO(full)))
    masked_rows = list(csv.DictReader(io.StringIO(masked)))
    assert {r["status"] for r in full_rows} == {"Approved", "Declined"}
    assert "zoe.nunez@example.com" in full and "zoe.nunez" not in masked
    assert any(r["vendor_data"].startswith("z") and "@" in r["vendor_data"] for r in masked_rows)
    assert all(not r["vendor_data"].startswith("=") for r in full_rows + masked_rows)
    with Session(engine) as db:
        exports = db.exec(select(AuditLog).where(AuditLog.action == "queue.export").order_by(AuditLog.id)).all()
    assert [(e.actor_email, e.detail["masked"], e.detail["rows"]) for e in exports] == [
        ("ana@example.com", False, 2),
        ("vic@example.com", True, 2),
    ]


@pytest.mark.parametrize("four_eyes", [False, True])
async def test_decline_goes_to_didit_and_is_confirmed_by_its_webhook(
    db_url: str, tmp_path: Path, four_eyes: bool
) -> None:
    staff = _staff(db_url)
    _set_four_eyes(db_url, staff["ada"], four_eyes)
    engine = get_engine(db_url)
    uninstall = notify.subscribe(lambda change: confirm.on_change(engine, change))
    try:
        with running_portal(db_url, tmp_path) as (settings, _api):
            async with client_from_settings(settings) as client:
                workflows = await client.list_workflows()
                workflow_id = next(
                    w.workflow_id or w.uuid for w in workflows if (w.model_extra or {}).get("is_default")
                )
                created = await client.create_session(
                    CreateSessionRequest(workflow_id=str(workflow_id), vendor_data="user-review")
                )
                async with httpx.AsyncClient() as http:
                    outcome = await http.post(
                        f"{settings.internal_url}/didit-sandbox/sandbox/sessions/{created.session_id}/outcome",
                        json={"outcome": "approve"},
                        headers={"x-api-key": settings.api_key},  # the sandbox's control API takes its key
                    )
                assert outcome.status_code == 200, outcome.text

                def status_is(wanted: str) -> bool:
                    with Session(engine) as db:
                        row = db.get(VerificationSession, created.session_id)
                        return row is not None and row.status == wanted

                await wait_for(lambda: status_is("Approved"), what="Approved via webhook")
                with session_scope(engine) as db:
                    action = review.request_decision(
                        db,
                        actor=staff["ana"],
                        session_id=created.session_id,
                        new_status="Declined",
                        reason="Face does not match",
                    )
                    action_id = action.id or 0
                    assert action.state == ("pending_approval" if four_eyes else "sending")
                if four_eyes:
                    with session_scope(engine) as db:
                        review.approve_request(db, actor=staff["ben"], action_id=action_id)
                sent = await review.send_to_didit(engine, client, action_id=action_id)
                assert sent.state in ("sent", "confirmed")

                def confirmed() -> bool:
                    with Session(engine) as db:
                        row = db.get(ReviewAction, action_id)
                        return row is not None and row.state == "confirmed"

                await wait_for(confirmed, what="action confirmed by the webhook")
                assert status_is("Declined")
                # Didit recorded our reason in its review feed.
                decision = await client.get_decision_raw(created.session_id)
                assert decision["reviews"][-1]["comment"] == "Face does not match"
                # Didit's PDF report: reviewers only, and the download is audited.
                pdf = await views.report_pdf(engine, client, actor=staff["ana"], session_id=created.session_id)
                assert pdf.startswith(b"%PDF-")
                with pytest.raises(Unauthorized):
                    await views.report_pdf(engine, client, actor=staff["vic"], session_id=created.session_id)
                # A reviewer's Declined is no longer Didit's automatic decision: no four-eyes to undo it.
                with Session(engine) as db:
                    row = db.get(VerificationSession, created.session_id)
                    assert row is not None and not review.is_automatic_decision(db, session=row)
    finally:
        uninstall()
    actions = _actions(db_url)
    assert {"decision.request", "decision.sent", "decision.confirmed", "session.report_pdf"} <= set(actions)
    assert audit.verify_chain(engine)[0]


async def test_a_refused_update_marks_the_action_failed(db_url: str, tmp_path: Path) -> None:
    staff = _staff(db_url)
    engine = get_engine(db_url)
    sid = _session(db_url, "In Review")  # unknown to Didit: its update-status answers 404
    with running_portal(db_url, tmp_path) as (settings, _api):
        async with client_from_settings(settings) as client:
            with session_scope(engine) as db:
                action_id = (
                    review.request_decision(
                        db, actor=staff["ana"], session_id=sid, new_status="Approved", reason="ok"
                    ).id
                    or 0
                )
            result = await review.send_to_didit(engine, client, action_id=action_id)
    assert result.state == "failed" and result.error and "404" in result.error
    assert "decision.failed" in _actions(db_url)
