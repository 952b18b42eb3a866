"""states/settings.py against a running portal: what the admin's clicks show on ``/admin/settings``.

The connection test answers against the embedded sandbox; the credentials never reach a variable of the state
(only their last 4 characters do); the portal switches and the mode are saved. A refused key says "key refused"
(Didit's 401/403, mocked with respx). Lower roles are refused by every handler: ``test_access_walk.py``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import reflex as rx
import respx
from portal_server import running_portal
from reflex.istate.data import RouterData
from reflex_base import constants
from sqlmodel import Session

from didit_portal import routes
from didit_portal.config import Settings, get_settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.models import DiditCredential
from didit_portal.realtime import cookies as socket_cookies
from didit_portal.services.access.signin import COOKIE_NAME
from didit_portal.services.connection import check, credentials
from didit_portal.states.settings import SettingsState
from tests.auth_helpers import create_user, fast_hashing, session_for

KEY = "live_key_0123456789wxyz"
SECRET = "whsec_portal_secret_q9r8"


@pytest.fixture
def portal(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A running portal, and the process settings pointing at it (the state reads ``get_settings()``)."""
    with running_portal(db_url, tmp_path) as (settings, _api):
        monkeypatch.setenv("DATABASE_URL", db_url)
        monkeypatch.setenv("PORT", str(settings.port))
        monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PUBLIC_BASE_URL", settings.public_base_url)
        for name in ("DIDIT_API_KEY", "DIDIT_WEBHOOK_SECRET", "DIDIT_MODE", "DIDIT_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()  # pyright: ignore[reportFunctionMemberAccess] -- lru_cache
        try:
            yield settings
        finally:
            get_settings.cache_clear()  # pyright: ignore[reportFunctionMemberAccess] -- lru_cache


@pytest.fixture
def state(portal: Settings, db_url: str, monkeypatch: pytest.MonkeyPatch) -> SettingsState:
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
            constants.RouteVar.PATH: routes.ADMIN_SETTINGS,
            constants.RouteVar.ORIGIN: routes.ADMIN_SETTINGS,
        }
    )
    found = root.get_substate(SettingsState.get_full_name().split("."))
    assert isinstance(found, SettingsState)
    return found


async def _run(state: SettingsState, name: str, *args: Any) -> None:
    result = SettingsState.event_handlers[name].fn(state, *args)
    if inspect.isasyncgen(result):
        async for _ in result:
            pass
    elif inspect.iscoroutine(result):
        await result


def _all_values(state: SettingsState) -> str:
    return repr(state.dict())


async def test_admin_tests_the_connection_and_stores_credentials(state: SettingsState, portal: Settings) -> None:
    await _run(state, "load")
    assert state.staff_role == "admin" and state.running_mode == "sandbox" and state.embedded_sandbox
    assert state.webhook_url == portal.public_base_url + "/api/webhooks/didit"
    assert state.idle_minutes == "30" and state.absolute_hours == "12"

    await _run(state, "test_connection")
    assert not state.testing and state.connection_failed == ""
    assert "key accepted" in state.connection_ok

    await _run(state, "save_credentials", {"api_key": "", "webhook_secret": ""})
    assert state.credentials_error
    await _run(state, "save_credentials", {"api_key": KEY, "webhook_secret": SECRET})
    assert state.credentials_error == "" and state.credentials_message
    assert (state.api_key_last4, state.webhook_secret_last4) == ("wxyz", "q9r8")
    await _run(state, "save_credentials", {"webhook_secret": SECRET + "-next"})
    assert state.previous_secret_last4 == "q9r8" and state.previous_secret_until.endswith("UTC")
    values = _all_values(state)
    for secret in (KEY, SECRET, SECRET + "-next"):
        assert secret not in values  # only the last 4 characters are in the state


async def test_admin_saves_switches_and_chooses_the_next_mode(state: SettingsState) -> None:
    await _run(state, "load")
    await _run(state, "save_portal", {"four_eyes": "on", "idle_minutes": "200", "absolute_hours": "12"})
    assert "5 to 120" in state.portal_error and not state.four_eyes
    await _run(state, "save_portal", {"four_eyes": "on", "idle_minutes": "20", "absolute_hours": "6"})
    assert state.portal_error == "" and state.four_eyes and not state.require_totp
    assert (state.idle_minutes, state.absolute_hours) == ("20", "6")

    await _run(state, "request_mode", "live")
    assert state.mode_pending == "live" and state.next_mode == "sandbox"  # nothing stored before the confirmation
    await _run(state, "confirm_mode")
    # Live needs its credentials in the environment, or the next start would refuse to run: refused now.
    assert "DIDIT_API_KEY" in state.mode_message and state.mode_pending == "" and state.next_mode == "sandbox"
    await _run(state, "request_mode", "sandbox")
    assert state.mode_pending == ""  # already the next start's mode: nothing to confirm


@respx.mock
async def test_a_refused_key_says_key_refused() -> None:
    base = "https://didit.test"
    respx.get(f"{base}/system/healthcheck").mock(return_value=httpx.Response(200, json={"status": "ok"}))
    respx.get(f"{base}/v3/workflows/").mock(return_value=httpx.Response(403, json={"detail": "Invalid API key"}))
    client = DiditClient(base_url=base, auth_base_url=base, api_key="wrong_key_123", max_retries=0)
    found = await check.check_connection(client)
    assert not found.ok and "key refused" in found.message and "wrong_key" not in found.message

    respx.get(f"{base}/system/healthcheck").mock(return_value=httpx.Response(503))
    found = await check.check_connection(client)
    assert not found.ok and "not answering" in found.message


async def test_admin_registers_the_webhook_with_the_sandbox(
    state: SettingsState, portal: Settings, db_url: str
) -> None:
    await _run(state, "load")
    assert state.destination_uuid == ""
    await _run(state, "register_webhook")
    assert state.register_error == "" and not state.registering
    assert state.destination["url"] == portal.public_base_url + "/api/webhooks/didit"
    assert state.destination["events"] == "data.updated, status.updated"
    last4 = state.destination["secret_last4"]
    assert len(last4) == 4 and state.webhook_secret_last4 == last4
    with Session(get_engine(db_url)) as db:
        stored = db.get(DiditCredential, "webhook_secret")
        assert stored is not None and stored.value.endswith(last4)
        assert stored.value not in _all_values(state)  # the secret itself never reaches the state
        assert stored.value in credentials.webhook_secrets(db, get_settings())  # the receiver verifies with it
    first = state.destination_uuid
    await _run(state, "register_webhook")  # Didit's URL is unique per application: the same destination
    assert state.destination_uuid == first and state.register_error == ""
    await _run(state, "refresh_destination")
    assert state.destination["uuid"] == first and state.register_error == ""
