"""Reconciliation: silent sessions checked against Didit, drift applied through the webhook path."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import respx
from sqlmodel import Session, select

from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.models import StatusTransition, VerificationSession, utcnow
from didit_portal.services import notify
from didit_portal.services.inbox.reconcile import fetch_missing_decisions, reconcile

BASE = "https://verification.didit.test"


def _seed(url: str, status: str, *, silent_for: timedelta, decision_missing: bool = False) -> str:
    sid = str(uuid.uuid4())
    with Session(get_engine(url)) as db:
        db.add(
            VerificationSession(
                session_id=sid,
                status=status,
                status_event_at=int(time.time()) - 3600,
                last_seen_at=utcnow() - silent_for,
                decision_missing=decision_missing,
            )
        )
        db.commit()
    return sid


async def _no_sleep(_: float) -> None:
    return None


@respx.mock
async def test_drift_is_applied_and_counted(db_url: str) -> None:
    silent = _seed(db_url, "In Progress", silent_for=timedelta(hours=1))
    fresh = _seed(db_url, "In Progress", silent_for=timedelta(seconds=5))
    done = _seed(db_url, "Approved", silent_for=timedelta(hours=1))
    route = respx.get(f"{BASE}/v3/session/{silent}/decision/").mock(
        return_value=httpx.Response(
            200,
            json={
                "session_id": silent,
                "status": "Declined",
                "id_verifications": [
                    {"node_id": "feature_ocr", "status": "Declined", "warnings": [{"risk": "DOCUMENT_EXPIRED"}]}
                ],
            },
        )
    )
    seen: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(seen.append)
    client = DiditClient(base_url=BASE, auth_base_url=BASE, api_key="k", sleep=_no_sleep)
    report = await reconcile(get_engine(db_url), client, silence=timedelta(minutes=10))
    unsubscribe()
    await client.aclose()
    assert route.call_count == 1  # neither the fresh nor the final session was checked
    assert (report.checked, report.drift, report.errors) == (1, 1, 0)
    assert seen == [notify.SessionChanged(silent, "Declined", "status")]
    with Session(get_engine(db_url)) as db:
        assert db.get(VerificationSession, silent).status == "Declined"  # type: ignore[union-attr]
        assert db.get(VerificationSession, fresh).status == "In Progress"  # type: ignore[union-attr]
        assert db.get(VerificationSession, done).status == "Approved"  # type: ignore[union-attr]
        history = db.exec(select(StatusTransition).where(StatusTransition.session_id == silent)).one()
        assert (history.from_status, history.to_status, history.source) == ("In Progress", "Declined", "api")


@respx.mock
async def test_missing_decision_is_fetched_without_status_change(db_url: str) -> None:
    sid = _seed(db_url, "In Review", silent_for=timedelta(seconds=1), decision_missing=True)
    respx.get(f"{BASE}/v3/session/{sid}/decision/").mock(
        return_value=httpx.Response(
            200,
            json={
                "session_id": sid,
                "status": "In Review",
                "face_matches": [
                    {
                        "node_id": "feature_face_match",
                        "score": 50.0,
                        "status": "In Review",
                        "warnings": [{"risk": "LOW_FACE_MATCH_SIMILARITY"}],
                    }
                ],
            },
        )
    )
    client = DiditClient(base_url=BASE, auth_base_url=BASE, api_key="k", sleep=_no_sleep)
    report = await fetch_missing_decisions(get_engine(db_url), client)
    await client.aclose()
    assert (report.decisions_fetched, report.drift) == (1, 0)
    with Session(get_engine(db_url)) as db:
        row = db.get(VerificationSession, sid)
        assert row is not None and not row.decision_missing and row.status == "In Review"


@respx.mock
async def test_didit_down_stops_the_pass(db_url: str) -> None:
    for _ in range(3):
        _seed(db_url, "Not Started", silent_for=timedelta(hours=2))
    route = respx.get(url__regex=rf"{BASE}/v3/session/.*/decision/").mock(return_value=httpx.Response(503))
    client = DiditClient(base_url=BASE, auth_base_url=BASE, api_key="k", sleep=_no_sleep, max_retries=0)
    report = await reconcile(get_engine(db_url), client)
    await client.aclose()
    assert report.errors == 1 and route.call_count == 1
