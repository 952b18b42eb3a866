"""Browser tests of ``/share/{token}`` (Auth + Data) on the real portal, with the sandbox's phone page as the app."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.portal.test_verify_pages import (
    DESKTOP,
    MOBILE,
    assert_not_reloaded,
    decode_qr,
    open_page,
    read_qrs,
    shoot,
)

if TYPE_CHECKING:
    from tests.browser.portal.conftest import LinkFactory, Portal

pytestmark = pytest.mark.browser

#: The page polls Didit about once a second.
LIVE_TIMEOUT = 8_000


def wait_for_new_qr(page: Page, test_id: str, old: str) -> str:
    """Decode the QR code until it shows something other than ``old`` (polling, within LIVE_TIMEOUT)."""
    for _ in range(LIVE_TIMEOUT // 250):
        page.wait_for_timeout(250)
        # Mid-refresh the element can be empty for a moment (old code gone, new one not drawn yet): poll on.
        if page.get_by_test_id(test_id).count() and len(texts := read_qrs(page, test_id)) == 1 and texts[0] != old:
            return texts[0]
    pytest.fail(f"{test_id} still shows {old} after {LIVE_TIMEOUT} ms")


def test_share_flow_confirmed(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    share = links.share("names email phone")
    page = open_page(page_factory, portal.origin + share["path"])
    status = page.get_by_test_id("share-status")
    expect(status).to_have_text("initialized")
    expect(page.get_by_test_id("share-scopes").get_by_role("listitem")).to_have_text(
        ["Your name", "Your email address", "Your phone number"]
    )
    assert decode_qr(page, "share-qr") == share["authorize_url"]
    shoot(page, shots_dir, "share-initialized-desktop")
    phone_view = open_page(page_factory, portal.origin + share["path"], viewport=MOBILE)
    expect(phone_view.get_by_test_id("share-qr")).to_be_visible()
    assert phone_view.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    shoot(phone_view, shots_dir, "share-initialized-mobile")

    # The Didit app "scans" the code: the sandbox's phone page.
    app = page_factory(viewport=MOBILE)
    app.goto(share["authorize_url"], wait_until="networkidle")
    expect(status).to_have_text("retrieved", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("share-message")).to_have_text("Code scanned: confirm on your phone.")
    shoot(page, shots_dir, "share-retrieved-desktop")

    app.get_by_test_id("sandbox-share-confirm").click()
    expect(status).to_have_text("confirmed", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("share-message")).to_have_text("Thank you. Your details were shared.")
    expect(page.get_by_test_id("share-qr")).to_have_count(0)
    assert_not_reloaded(page)
    # The page shows a success message, never the data; the server stored it.
    assert not re.search(r"[\w.+-]+@[\w-]+\.", page.locator("body").inner_text())
    stored = links.stored_share(share["share_id"])
    assert stored["status"] == "confirmed"
    assert {"names", "email", "phone"} <= set(stored["user_data_keys"])
    shoot(page, shots_dir, "share-confirmed-desktop")
    phone_done = open_page(page_factory, portal.origin + share["path"], viewport=MOBILE)
    expect(phone_done.get_by_test_id("share-status")).to_have_text("confirmed")
    shoot(phone_done, shots_dir, "share-confirmed-mobile")


def test_share_flow_declined(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    share = links.share("is_over_18", vendor_data="share-decline")
    page = open_page(page_factory, portal.origin + share["path"], viewport=DESKTOP)
    expect(page.get_by_test_id("share-scopes")).to_have_text("Whether you are over 18")
    app = page_factory(viewport=MOBILE)
    app.goto(share["authorize_url"], wait_until="networkidle")
    app.get_by_test_id("sandbox-share-decline").click()
    expect(page.get_by_test_id("share-status")).to_have_text("declined", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("share-message")).to_have_text("You declined to share your details.")
    assert links.stored_share(share["share_id"])["user_data_keys"] == []
    shoot(page, shots_dir, "share-declined-desktop")


def test_expired_data_session_gets_a_fresh_qr(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    share = links.share("names", vendor_data="share-expiry")
    page = open_page(page_factory, portal.origin + share["path"], locale="es-ES")
    expect(page.get_by_role("heading", level=1)).to_have_text("Comparte tus datos")
    expect(page.get_by_test_id("share-scopes")).to_have_text("Tu nombre")
    assert decode_qr(page, "share-qr") == share["authorize_url"]

    links.expire_data_session(share["data_session_id"])
    fresh = wait_for_new_qr(page, "share-qr", share["authorize_url"])
    assert fresh.startswith(portal.origin + "/didit-sandbox/authorize/")
    expect(page.get_by_test_id("share-status")).to_have_text("initialized")
    stored = links.stored_share(share["share_id"])
    assert stored["data_session_id"] != share["data_session_id"]
    assert_not_reloaded(page)
    shoot(page, shots_dir, "share-refreshed-es-desktop")

    # The fresh code works end to end.
    app = page_factory(viewport=MOBILE)
    app.goto(fresh, wait_until="networkidle")
    app.get_by_test_id("sandbox-share-confirm").click()
    expect(page.get_by_test_id("share-status")).to_have_text("confirmed", timeout=LIVE_TIMEOUT)


def test_unknown_share_token(portal: Portal, page_factory: Callable[..., Page]) -> None:
    page = open_page(page_factory, portal.origin + "/share/" + "C" * 32)
    expect(page.get_by_test_id("share-not-found")).to_be_visible()
