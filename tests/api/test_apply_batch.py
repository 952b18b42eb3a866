"""The batch apply (``apply_reports``) against the original one-report-at-a-time ORM implementation.

Hypothesis generates report sequences over a few sessions (some already stored), with equal-second ties, late
events, decisions with and without warnings, and metadata. The same sequence goes through the reference (one
ORM transaction per report, the code ``apply_report`` had before the batch rewrite, kept below as the oracle)
and through ``apply_reports`` in random batch splits; the stored sessions, status history and decisions must
be identical. Runs on SQLite and on the machine's PostgreSQL.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col, select

from didit_portal.db import get_engine
from didit_portal.didit.schemas import DECISION_STATUSES, SessionStatus, decision_email
from didit_portal.didit.schemas import Decision as DecisionSchema
from didit_portal.models import Decision, StatusTransition, VerificationSession
from didit_portal.security import lookup_hash
from didit_portal.services.inbox.reports import Report, apply_report, apply_reports, supersedes

STATUSES = [str(s) for s in SessionStatus]


def reference_apply(db: Session, r: Report) -> tuple[str, bool, bool, bool]:
    """The per-report ORM implementation ``apply_report`` had before the batch rewrite (the oracle)."""
    SessionStatus(r.status)
    row = db.exec(select(VerificationSession).where(VerificationSession.session_id == r.session_id)).first()
    if row is None:
        row = VerificationSession(
            session_id=r.session_id,
            status=r.status,
            status_event_at=r.event_at,
            origin=r.source,
            workflow_id=r.workflow_id,
            vendor_data=r.vendor_data,
            metadata_=r.metadata,
            environment=r.environment,
        )
        db.add(row)
        db.flush()
        previous: str | None = None
        changed = True
    else:
        previous = row.status
        changed = supersedes(row.status, row.status_event_at, r.status, r.event_at)
        if changed:
            row.status = r.status
            row.status_event_at = r.event_at
        row.workflow_id = row.workflow_id or r.workflow_id
        row.vendor_data = row.vendor_data or r.vendor_data
        if r.metadata is not None and changed:
            row.metadata_ = r.metadata
        row.environment = row.environment or r.environment
    if previous != r.status or not changed:
        db.add(
            StatusTransition(
                session_id=r.session_id,
                from_status=previous,
                to_status=r.status,
                event_at=r.event_at,
                source=r.source,
                applied=changed,
                inbox_event_id=r.inbox_event_id,
            )
        )
    stored = False
    if r.decision is not None:
        parsed = DecisionSchema.model_validate(r.decision)
        latest = db.exec(
            select(Decision).where(Decision.session_id == r.session_id, col(Decision.is_latest).is_(True))
        ).first()
        stored = latest is None or r.event_at >= latest.event_at
        if stored and latest is not None:
            db.execute(
                update(Decision)
                .where(col(Decision.session_id) == r.session_id, col(Decision.is_latest).is_(True))
                .values(is_latest=False)
            )
        db.add(
            Decision(
                session_id=r.session_id,
                status=str(parsed.status),
                source=r.source,
                event_at=r.event_at,
                is_latest=stored,
                has_warnings=parsed.has_warnings(),
                payload=r.decision,
            )
        )
        if stored:
            row.has_warnings = parsed.has_warnings()
        row.session_number = row.session_number or parsed.session_number
        email = decision_email(r.decision)
        row.email_hash = row.email_hash or (lookup_hash(email) if email else None)
    needs = changed and r.status in DECISION_STATUSES and r.decision is None
    if needs:
        row.decision_missing = True
    elif stored and r.decision is not None and r.decision.get("status") == row.status:
        row.decision_missing = False
    db.add(row)
    return row.status, changed and previous != r.status, stored, needs


def _decision(status: str, warn: bool, n: int) -> dict[str, Any]:
    return {
        "session_id": "x",
        "status": status,
        "n": n,
        "score": 97.0,
        "session_number": 1000 + n if n % 2 else None,
        "contact_details": {"email": f"User{n}@Example.org"} if n % 3 == 1 else {},
        "email_verifications": [{"email": f"v{n}@example.org"}] if n % 3 == 2 else [],
        "id_verifications": [
            {"node_id": "feature_ocr", "status": status, "warnings": [{"risk": "DOCUMENT_EXPIRED"}] if warn else []}
        ],
    }


report_specs = st.lists(
    st.tuples(
        st.integers(0, 2),  # which session
        st.sampled_from(STATUSES),
        st.integers(0, 3),  # event time (small range: many ties)
        st.one_of(st.none(), st.tuples(st.sampled_from(STATUSES), st.booleans())),  # decision (status, warnings)
        st.one_of(st.none(), st.integers(0, 9)),  # metadata
        st.sampled_from([None, "wf-1", "wf-2"]),
    ),
    min_size=1,
    max_size=10,
)
seeds = st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(0, 3), st.booleans()), min_size=0, max_size=3)


def _world(
    url: str, seed: list[tuple[str, int, bool]], specs: list[Any], batched: bool, cuts: list[int]
) -> tuple[list[str], list[Any]]:
    engine = get_engine(url)
    sids = [str(uuid.uuid4()) for _ in range(3)]
    base = 1_767_225_600
    with Session(engine) as db:  # sessions that exist before the reports (portal-created, maybe decided)
        for i, (status, at, with_decision) in enumerate(seed):
            db.add(
                VerificationSession(session_id=sids[i], status=status, status_event_at=base + at, vendor_data="seeded")
            )
            db.flush()
            if with_decision:
                db.add(
                    Decision(
                        session_id=sids[i],
                        status=status,
                        source="api",
                        event_at=base + at,
                        is_latest=True,
                        payload=_decision(status, False, -1),
                    )
                )
        db.commit()
    reports = [
        Report(
            session_id=sids[s],
            status=status,
            event_at=base + at,
            source="webhook",
            decision=None if d is None else _decision(d[0], d[1], n),
            workflow_id=wf,
            vendor_data=f"v{n}",
            metadata=None if m is None else {"m": m},
            environment="sandbox",
            inbox_event_id=n,
        )
        for n, (s, status, at, d, m, wf) in enumerate(specs)
    ]
    results: list[Any] = []
    if batched:
        bounds = sorted({0, len(reports), *[c % (len(reports) + 1) for c in cuts]})
        for lo, hi in itertools.pairwise(bounds):
            with Session(engine) as db, db.begin():
                results += [
                    (a.status, a.status_changed, a.decision_stored, a.needs_decision)
                    for a in apply_reports(db, reports[lo:hi])
                ]
    else:
        for report in reports:
            with Session(engine) as db, db.begin():
                results.append(reference_apply(db, report))
    return sids, results


def _snapshot(url: str, sids: list[str]) -> list[Any]:
    names = {sid: f"s{i}" for i, sid in enumerate(sids)}
    with Session(get_engine(url)) as db:
        sessions = [
            (
                names[r.session_id],
                r.status,
                r.status_event_at,
                r.workflow_id,
                r.vendor_data,
                r.environment,
                r.origin,
                r.metadata_,
                r.decision_missing,
                r.has_warnings,
                r.session_number,
                r.email_hash,
            )
            for r in db.exec(
                select(VerificationSession)
                .where(col(VerificationSession.session_id).in_(sids))
                .order_by(col(VerificationSession.session_id))
            )
        ]
        history = [
            (names[t.session_id], t.from_status, t.to_status, t.event_at, t.source, t.applied, t.inbox_event_id)
            for t in db.exec(
                select(StatusTransition)
                .where(col(StatusTransition.session_id).in_(sids))
                .order_by(col(StatusTransition.id))
            )
        ]
        decisions = [
            (names[d.session_id], d.status, d.source, d.event_at, d.is_latest, d.has_warnings, d.payload)
            for d in db.exec(select(Decision).where(col(Decision.session_id).in_(sids)).order_by(col(Decision.id)))
        ]
    return [sorted(sessions), history, decisions]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seeds, specs=report_specs, cuts=st.lists(st.integers(0, 20), max_size=3))
def test_batch_apply_matches_the_per_report_reference(db_url: str, seed: Any, specs: Any, cuts: list[int]) -> None:
    ref_sids, ref_results = _world(db_url, seed, specs, batched=False, cuts=cuts)
    new_sids, new_results = _world(db_url, seed, specs, batched=True, cuts=cuts)
    assert new_results == ref_results
    assert _snapshot(db_url, new_sids) == _snapshot(db_url, ref_sids)


def test_apply_report_refreshes_objects_the_caller_holds(db_url: str) -> None:
    sid = str(uuid.uuid4())
    with Session(get_engine(db_url)) as db, db.begin():
        db.add(VerificationSession(session_id=sid, status="In Progress", status_event_at=10))
        db.flush()
        held = db.get(VerificationSession, sid)
        applied = apply_report(
            db, session_id=sid, status="Approved", event_at=11, source="api", decision=_decision("Approved", True, 1)
        )
        assert applied.status_changed and applied.decision_stored
        assert held is not None and held.status == "Approved" and held.has_warnings


def test_invalid_report_writes_nothing(db_url: str) -> None:
    sid = str(uuid.uuid4())
    good = Report(session_id=sid, status="In Progress", event_at=1, source="webhook")
    bad = Report(session_id=sid, status="Pending", event_at=2, source="webhook")
    with Session(get_engine(db_url)) as db, db.begin():
        try:
            apply_reports(db, [good, bad])
        except ValueError:
            pass
        else:
            raise AssertionError("an unknown status must be refused")
        assert db.get(VerificationSession, sid) is None


def test_a_console_sessions_number_arrives_with_its_decision(db_url: str) -> None:
    # Sessions created in Didit's console or by UniLink reach the portal by webhook only; staff search the queue
    # by session number, so the first decision that carries it must fill it in (and a later one not change it).
    sid = str(uuid.uuid4())
    with Session(get_engine(db_url)) as db, db.begin():
        apply_reports(db, [Report(session_id=sid, status="In Progress", event_at=1, source="webhook")])
        assert db.get(VerificationSession, sid).session_number is None  # pyright: ignore[reportOptionalMemberAccess]
    with Session(get_engine(db_url)) as db, db.begin():
        apply_reports(
            db,
            [
                Report(
                    session_id=sid,
                    status="In Review",
                    event_at=2,
                    source="webhook",
                    decision=_decision("In Review", False, 41),
                ),
                Report(
                    session_id=sid,
                    status="Approved",
                    event_at=3,
                    source="webhook",
                    decision={**_decision("Approved", False, 0), "session_number": 7},
                ),
            ],
        )
    with Session(get_engine(db_url)) as db:
        stored = db.get(VerificationSession, sid)
        assert stored is not None and stored.session_number == 1041
        # ... and so does its email, as the keyed hash the queue's search looks up (never the address itself).
        assert stored.email_hash == lookup_hash("v41@example.org")  # _decision(…, 41) carries a verified email


def test_decision_email_prefers_the_contact_email_then_a_verified_one() -> None:
    assert (
        decision_email(
            {"contact_details": {"email": " Ana@Example.ORG "}, "email_verifications": [{"email": "other@example.org"}]}
        )
        == "ana@example.org"
    )
    assert decision_email({"contact_details": {}, "email_verifications": [{"email": "B@x.io"}]}) == "b@x.io"
    assert decision_email({"contact_details": {"email": "not-an-email"}, "email_verifications": "junk"}) is None
