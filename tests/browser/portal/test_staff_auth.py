"""Staff sign-in, sign-out and the audit page in Chromium against the real portal (prod mode, SQLite).

Accounts come from the ``staff_accounts`` fixture (created with ``python -m didit_portal users create``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from didit_portal import security
from didit_portal.realtime.reflex_bridge import SEALED_PREFIX
from didit_portal.services.access.signin import COOKIE_NAME, GENERIC_ERROR
from tests.browser.portal.conftest import REPO, STAFF_PASSWORD

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser


def _sign_in(page: Page, portal: Portal, email: str, password: str = STAFF_PASSWORD, path: str = "/login") -> None:
    page.goto(portal.origin + path)
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def _session_cookie(page: Page) -> dict[str, object] | None:
    return next((dict(c) for c in page.context.cookies() if c.get("name") == COOKIE_NAME), None)


def test_wrong_password_shows_the_generic_message(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], shots_dir: Path
) -> None:
    page = page_factory()
    _sign_in(page, portal, staff_accounts["reviewer"], password="not-the-right-password")
    expect(page).to_have_url(re.compile(r"/login/?\?error=1$"))
    expect(page.get_by_test_id("login-error")).to_have_text(GENERIC_ERROR)
    page.screenshot(path=shots_dir / "login-error.png", full_page=True)
    _sign_in(page, portal, "nobody@example.org")
    expect(page.get_by_test_id("login-error")).to_have_text(GENERIC_ERROR)  # same text for unknown accounts
    assert _session_cookie(page) is None


def test_sign_in_and_out_with_an_httponly_cookie(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page]
) -> None:
    page = page_factory()
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    _sign_in(page, portal, staff_accounts["reviewer"])
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    expect(page.get_by_test_id("staff-email")).to_have_text(staff_accounts["reviewer"])
    cookie = _session_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    token = str(cookie["value"])
    assert COOKIE_NAME not in page.evaluate("document.cookie")  # page scripts cannot read it
    assert frames and not any(token in frame for frame in frames)  # the server never sends it back

    page.get_by_test_id("logout-submit").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    assert _session_cookie(page) is None
    # The old token is dead on the server too: replaying it gets nothing.
    replay = page_factory()
    replay.context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": portal.origin}])
    response = replay.request.get(f"{portal.origin}/api/auth/me")
    assert response.status == 401
    replay.goto(portal.origin + "/admin/audit")
    expect(replay).to_have_url(re.compile(r"/login/?\?next=/admin/audit$"))


def test_the_session_cookie_is_not_stored_with_the_page_state(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page]
) -> None:
    """Reflex persists each tab's state (here in ``.states/``, with Redis there): sealed, and the cookie stays out.

    The stored state is sealed with a key derived from the portal's ``PORTAL_SECRET_KEY``: nothing in it reads in
    clear (not even the staff email), and opened with that key it still holds no session token.
    """
    page = page_factory()
    # Only state files written after this sign-in count: .states/ keeps files from earlier tests and earlier runs,
    # and those say nothing about this tab.
    signed_in_at = time.time()
    _sign_in(page, portal, staff_accounts["admin"])
    expect(page.get_by_test_id("staff-email")).to_have_text(staff_accounts["admin"])
    cookie = _session_cookie(page)
    assert cookie is not None
    token, email = str(cookie["value"]).encode(), staff_accounts["admin"].encode()
    # The key the portal generated into its data folder on first start (it is given no PORTAL_SECRET_KEY).
    keys = security._state.copy()  # pyright: ignore[reportPrivateUsage]
    security.configure_keys((portal.data_dir / "secret_key").read_bytes().strip())
    try:
        # The disk state manager writes a tab's state about 2 s after it changed; the staff email in it shows it did.
        opened: list[bytes] = []
        blobs: list[bytes] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            blobs = [p.read_bytes() for p in (REPO / ".states").glob("*.pkl") if p.stat().st_mtime > signed_in_at]
            opened = [_open_state(blob) for blob in blobs]
            if any(email in plain for plain in opened):
                break
            page.wait_for_timeout(250)
    finally:
        security._state.clear()  # pyright: ignore[reportPrivateUsage]
        security._state.update(keys)  # pyright: ignore[reportPrivateUsage]
    assert any(email in plain for plain in opened), "the signed-in tab's state was never written"
    assert all(blob.startswith(SEALED_PREFIX) for blob in blobs)  # every state written is sealed
    assert not any(email in blob or token in blob for blob in blobs)  # nothing reads in clear
    assert not any(token in plain for plain in opened)  # and the cookie was never put in


def _open_state(blob: bytes) -> bytes:
    if not blob.startswith(SEALED_PREFIX):
        return blob
    try:
        return security.open_sealed(blob[len(SEALED_PREFIX) :], purpose=b"reflex-state/v1")
    except security.DecryptionError:
        return b""  # another portal's state (an earlier run with another key)


def test_sign_in_waits_for_the_page_to_read_next(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page]
) -> None:
    """Until the page's on_load has put ``?next=`` into the form, the form cannot be sent (it would go to /admin)."""
    page = page_factory()
    held: list[WebSocketRoute] = []
    # Hold Reflex's websocket back: the page renders, but its state (and so ``next``) is not loaded yet.
    # (A lambda, not ``held.append``: Playwright tags the handler with an attribute, which a builtin cannot take.)
    page.route_web_socket(re.compile(r"/_event"), lambda ws: held.append(ws))  # noqa: PLW0108
    page.goto(portal.origin + "/login?next=/admin/audit")
    page.get_by_test_id("login-email").fill(staff_accounts["admin"])
    page.get_by_test_id("login-password").fill(STAFF_PASSWORD)
    submit = page.get_by_test_id("login-submit")
    expect(submit).to_be_disabled()
    page.wait_for_timeout(500)  # still disabled a moment later: nothing but the on_load enables it
    expect(submit).to_be_disabled()
    assert held, "the page never opened its websocket"
    held[-1].connect_to_server()
    expect(submit).to_be_enabled()
    submit.click()
    expect(page).to_have_url(re.compile(r"/admin/audit/?$"))


def test_admin_reads_filters_and_exports_the_audit_trail(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], shots_dir: Path
) -> None:
    page = page_factory(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    _sign_in(page, portal, staff_accounts["admin"], path="/login?next=/admin/audit")
    expect(page).to_have_url(re.compile(r"/admin/audit/?$"))
    table = page.get_by_test_id("audit-table")
    expect(table).to_be_visible()
    expect(page.get_by_test_id("audit-chain-ok")).to_be_visible()
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_be_visible()
    expect(table).to_contain_text("auth.login")
    expect(table).to_contain_text("user.create")
    page.screenshot(path=shots_dir / "audit.png", full_page=True)

    page.get_by_test_id("audit-filter-action").fill("user.")
    page.get_by_test_id("audit-filter-submit").click()
    expect(rows.filter(has_text="auth.login")).to_have_count(0)
    assert rows.count() >= 3  # the three accounts
    for text in rows.all_inner_texts():
        assert "user." in text

    with page.expect_download() as download_info:
        page.get_by_test_id("audit-export").click()
    path = download_info.value.path()
    content = path.read_text(encoding="utf-8")
    assert content.splitlines()[0].startswith("id,at,actor_email,action")
    assert "user.create" in content and "auth.login" not in content
    page.get_by_test_id("audit-filter-action").fill("audit.export")
    page.get_by_test_id("audit-filter-submit").click()
    expect(rows.first).to_contain_text("audit.export")  # the export itself is audited


def test_viewer_cannot_see_the_audit_trail(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], shots_dir: Path
) -> None:
    page = page_factory()
    _sign_in(page, portal, staff_accounts["viewer"])
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    page.goto(portal.origin + "/admin/audit")
    expect(page.get_by_test_id("access-denied")).to_be_visible()
    expect(page.get_by_test_id("audit-table")).to_have_count(0)
    expect(page.get_by_test_id("audit-row")).to_have_count(0)
    page.screenshot(path=shots_dir / "audit-403.png")
