"""states/workflows.py against a running portal: what the admin's clicks show on ``/admin/workflows``.

Didit's validation errors reach the form (``create_errors``), a successful create adds the row and empties the
form, a sync fills the table, a default is saved; the handlers run as the signed-in admin, through the worker's
socket cookie, as in the app. (Lower roles are refused by every handler: ``test_access_walk.py``.)
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from portal_server import running_portal
from reflex.istate.data import RouterData
from reflex_base import constants

from didit_portal.config import Settings, get_settings
from didit_portal.realtime import cookies as socket_cookies
from didit_portal.sandbox.model.workflow_defs import PRELOADED
from didit_portal.services.access.signin import COOKIE_NAME
from didit_portal.services.workflows import templates
from didit_portal.states.workflows import WorkflowsState
from tests.auth_helpers import create_user, fast_hashing, session_for

KYC_FORM = {"template": "kyc", "label": "Onboarding", **{f"doc_{c}": "on" for c in templates.DOCUMENT_TYPES}}


@pytest.fixture
def portal(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A running portal, and the process settings pointing at it (the state reads ``get_settings()``)."""
    with running_portal(db_url, tmp_path) as (settings, _api):
        monkeypatch.setenv("DATABASE_URL", db_url)
        monkeypatch.setenv("PORT", str(settings.port))
        monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PUBLIC_BASE_URL", settings.public_base_url)
        monkeypatch.delenv("DIDIT_WORKFLOW_ID", raising=False)
        get_settings.cache_clear()
        try:
            yield settings
        finally:
            get_settings.cache_clear()


@pytest.fixture
def state(portal: Settings, db_url: str, monkeypatch: pytest.MonkeyPatch) -> WorkflowsState:
    with fast_hashing():
        admin = create_user(db_url, "admin@example.org", "admin")
    sid = f"sid-{uuid.uuid4().hex}"
    monkeypatch.setattr(socket_cookies, "_by_sid", {sid: f"{COOKIE_NAME}={session_for(db_url, admin)}"})
    root = rx.State(_reflex_internal_init=True)  # pyright: ignore[reportCallIssue] -- how Reflex builds states
    root.router = RouterData.from_router_data(
        {
            constants.RouteVar.SESSION_ID: sid,
            constants.RouteVar.HEADERS: {"origin": portal.public_base_url},
            constants.RouteVar.CLIENT_IP: "203.0.113.5",
            constants.RouteVar.PATH: "/admin/workflows",
            constants.RouteVar.ORIGIN: "/admin/workflows",
        }
    )
    found = root.get_substate(WorkflowsState.get_full_name().split("."))
    assert isinstance(found, WorkflowsState)
    return found


async def _run(state: WorkflowsState, name: str, *args: Any) -> None:
    result = WorkflowsState.event_handlers[name].fn(state, *args)
    if inspect.isasyncgen(result):
        async for _ in result:
            pass
    elif inspect.iscoroutine(result):
        await result


async def test_admin_syncs_creates_and_chooses_a_default(
    state: WorkflowsState, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _run(state, "load")
    assert state.rows == [] and state.staff_role == "admin"
    assert state.defaults == dict.fromkeys(("kyc", "age", "biometric", "address", "questionnaire"), "")
    assert state.presets["default"] == "names email"

    await _run(state, "sync_now")
    assert not state.syncing and state.sync_error == ""
    assert state.sync_message.startswith(f"Synced {len(PRELOADED)} workflows")
    assert len(state.rows) == len(PRELOADED) and state.rows[0]["is_default"] == "Yes"

    await _run(state, "choose_template", "biometric_authentication")
    assert state.offered == ["face_match", "liveness"]
    await _run(state, "choose_template", "<script>")
    assert state.template == "biometric_authentication"  # unknown templates are ignored

    # The form's own checks answer first…
    await _run(state, "create", {**KYC_FORM, "label": " "})
    assert state.create_errors == ["Give the workflow a label."]
    # …and what Didit refuses comes back on the form, in Didit's words.
    bad = {"workflow_label": "Bad", "features": [{"feature": "NFC"}, {"feature": "OCR"}]}
    with monkeypatch.context() as patch:
        patch.setattr(templates, "build_body", lambda _options: bad)
        await _run(state, "create", KYC_FORM)
    assert state.create_errors == ["features: OCR must come before NFC."]
    assert not state.creating and state.create_message == "" and len(state.rows) == len(PRELOADED)

    form_key = state.form_key
    await _run(state, "create", KYC_FORM)
    assert state.create_errors == []
    assert "Onboarding" in state.create_message
    assert len(state.rows) == len(PRELOADED) + 1 and state.form_key == form_key + 1
    created = next(row for row in state.rows if row["label"] == "Onboarding")
    assert created["type"] == "KYC" and created["sessions"] == "0"

    await _run(state, "choose_default", "kyc", created["id"])
    assert state.defaults["kyc"] == created["id"] and state.defaults_error == ""
    await _run(state, "choose_default", "kyc", str(uuid.uuid4()))
    assert state.defaults_error and state.defaults["kyc"] == created["id"]

    await _run(state, "save_presets", {"age": "is_over_21", "identity": "names shoe_size"})
    assert state.presets_errors and state.presets["age"] == "is_over_18"  # all or nothing
    await _run(state, "save_presets", {"age": "is_over_21"})
    assert state.presets_errors == [] and state.presets["age"] == "is_over_21"
