"""The sandbox's hosted pages in Chromium without Didit's SDK.

A plain integrator page iframes the session URL and records every ``didit:*`` message it receives (with the
SDK's two origin checks). Covers each outcome's message order, the callback redirect per ``callback_method``
across two devices, an expired link, the Auth + Data phone page, keyboard use and the layout at two widths.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import FrameLocator, Page, expect

if TYPE_CHECKING:
    from tests.browser.conftest import SandboxProcess

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
KYC_STEPS = ["document_selection", "document_front", "document_back", "face"]
OUTCOME_TAIL = [
    "didit:document_selected",
    "didit:step_completed",
    "didit:media_captured",
    "didit:step_completed",
    "didit:media_captured",
    "didit:step_completed",
    "didit:step_completed",
    "didit:verification_submitted",
    "didit:status_updated",
]


def _embed(page: Page, embedder_origin: str, url: str) -> FrameLocator:
    page.goto(f"{embedder_origin}/plain_embed.html")
    page.wait_for_function("window.embedReady === true")
    page.evaluate("url => window.openDidit(url)", url)
    return page.frame_locator("#didit")


def _messages(page: Page) -> list[dict[str, Any]]:
    return page.evaluate("window.messages")


def _wait_message(page: Page, message_type: str) -> dict[str, Any]:
    page.wait_for_function("type => window.messages.some(m => m.type === type)", arg=message_type)
    return next(m for m in _messages(page) if m["type"] == message_type)


@pytest.mark.parametrize(
    ("outcome", "status", "last"),
    [
        ("decline", "Declined", ("didit:completed", {"status": "Declined", "country": "ESP", "documentType": "P"})),
        ("review", "In Review", ("didit:completed", {"status": "Pending", "country": "ESP", "documentType": "P"})),
        ("abandon", "Abandoned", ("didit:cancelled", {})),
    ],
)
def test_outcome_messages_in_plain_iframe(
    didit_sandbox: SandboxProcess,
    embedder_origin: str,
    checked_page: Page,
    outcome: str,
    status: str,
    last: tuple[str, dict[str, Any]],
) -> None:
    created = didit_sandbox.create_session(vendor_data=f"plain-{outcome}")
    sid = created["session_id"]
    frame = _embed(checked_page, embedder_origin, created["url"])
    frame.get_by_test_id("sandbox-start").click()
    frame.get_by_test_id(f"sandbox-outcome-{outcome}").click()
    final = _wait_message(checked_page, last[0])

    messages = _messages(checked_page)
    assert [m["type"] for m in messages] == [
        "didit:ready",
        "didit:started",
        "didit:status_updated",
        "didit:step_started",
        *OUTCOME_TAIL,
        last[0],
    ]
    assert all(m["data"]["sessionId"] == sid for m in messages)
    assert all(isinstance(m["timestamp"], int) for m in messages)
    assert messages[2]["data"]["status"] == "In Progress"
    assert messages[-2]["data"] == {"status": status, "sessionId": sid}
    assert final["data"] == {**last[1], "sessionId": sid}
    assert didit_sandbox.decision(sid)["status"] == status


@pytest.mark.parametrize("method", ["initiator", "completer"])
def test_callback_redirect_follows_callback_method_across_devices(
    didit_sandbox: SandboxProcess, embedder_origin: str, page_factory: Callable[..., Page], method: str
) -> None:
    # The callback already has a query: the sandbox must append with "&".
    callback = f"{embedder_origin}/callback.html?from=sandbox"
    created = didit_sandbox.create_session(vendor_data=f"redirect-{method}", callback=callback, callback_method=method)
    sid = created["session_id"]
    desktop = page_factory()  # opens first: the initiator, embedding the page
    frame = _embed(desktop, embedder_origin, created["url"])
    frame.get_by_test_id("sandbox-start").wait_for()
    phone = page_factory(viewport={"width": 375, "height": 740})  # another device (own cookies) finishes
    phone.goto(created["url"])
    phone.get_by_test_id("sandbox-start").click()
    phone.get_by_test_id("sandbox-outcome-approve").click()

    # The desktop page notices by polling and posts the same final messages.
    completed = _wait_message(desktop, "didit:completed")
    assert completed["data"] == {"status": "Approved", "country": "ESP", "documentType": "P", "sessionId": sid}
    types = [m["type"] for m in _messages(desktop)]
    assert types == ["didit:ready", "didit:status_updated", "didit:completed"]

    expected_query = {"from": ["sandbox"], "verificationSessionId": [sid], "status": ["Approved"]}
    redirected, stayed = (desktop, phone) if method == "initiator" else (phone, desktop)
    deadline = time.monotonic() + 5
    target = None
    while time.monotonic() < deadline and target is None:
        target = next((f.url for f in redirected.frames if "/callback.html" in f.url), None)
        redirected.wait_for_timeout(100)
    assert target is not None, f"{method}: the selected device was not sent to the callback"
    assert target.startswith(f"{embedder_origin}/callback.html?from=sandbox&verificationSessionId=")
    assert parse_qs(urlsplit(target).query) == expected_query
    if method == "initiator":
        # The iframe navigated, not the integrator's top-level page.
        assert desktop.url == f"{embedder_origin}/plain_embed.html"
    # The other device first reaches its own end state: the result is shown, and the redirect note, which the page
    # shows in the same step as it schedules a redirect, stays hidden.
    stayed_doc: Page | FrameLocator = frame if stayed is desktop else phone
    expect(stayed_doc.locator("#result-title")).to_be_visible()
    expect(stayed_doc.locator("#redirect-note")).to_have_count(1)
    expect(stayed_doc.locator("#redirect-note")).to_be_hidden()
    # Only then the absence, as a backup of the note check: a timer set now in that page fires after any redirect
    # timer set before it with the same or a shorter delay (the ~1 s redirect delay).
    stayed_doc.locator("body").evaluate("() => new Promise(resolve => setTimeout(resolve, 1100))")
    assert all("/callback.html" not in f.url for f in stayed.frames)


def test_expired_and_already_final_pages(
    didit_sandbox: SandboxProcess, embedder_origin: str, checked_page: Page
) -> None:
    created = didit_sandbox.create_session(vendor_data="expired")
    response = httpx.post(
        f"{didit_sandbox.origin}/sandbox/sessions/{created['session_id']}/outcome",
        json={"outcome": "expire"},
        headers={"x-api-key": didit_sandbox.api_key},  # the control API takes the sandbox's key
        timeout=10,
    )
    assert response.status_code == 200, response.text
    frame = _embed(checked_page, embedder_origin, created["url"])
    _wait_message(checked_page, "didit:error")
    sid = created["session_id"]
    assert [(m["type"], m["data"]) for m in _messages(checked_page)] == [
        ("didit:ready", {"sessionId": sid}),
        ("didit:status_updated", {"status": "Expired", "sessionId": sid}),
        ("didit:error", {"error": "sessionExpired", "sessionId": sid}),
    ]
    # The end state first (the result screen is visible), then the absence of the start button, which must exist
    # in the page so that the hidden check cannot pass vacuously.
    expect(frame.locator("#result-title")).to_be_visible()
    expect(frame.locator("#result-title")).to_have_text("This link has expired")
    start = frame.get_by_test_id("sandbox-start")
    expect(start).to_have_count(1)
    expect(start).to_be_hidden()


def test_close_control_and_keyboard(didit_sandbox: SandboxProcess, embedder_origin: str, checked_page: Page) -> None:
    created = didit_sandbox.create_session(vendor_data="keyboard")
    frame = _embed(checked_page, embedder_origin, created["url"])
    frame.get_by_test_id("sandbox-close").click()
    assert _wait_message(checked_page, "didit:close_request")["data"]["sessionId"] == created["session_id"]
    # Keyboard only: focus the start button, Enter, then the default Continue (armed: approve) with Space.
    frame.get_by_test_id("sandbox-start").focus()
    checked_page.keyboard.press("Enter")
    # The start round-trip is asynchronous: the Continue button is usable only once the flow has started.
    _wait_message(checked_page, "didit:step_started")
    continue_button = frame.get_by_test_id("sandbox-continue")
    continue_button.wait_for(state="visible")
    expect(continue_button).to_be_enabled()
    continue_button.focus()
    checked_page.keyboard.press("Space")
    completed = _wait_message(checked_page, "didit:completed")
    assert completed["data"]["status"] == "Approved"


def test_auth_data_phone_page_confirm(didit_sandbox: SandboxProcess, page_factory: Callable[..., Page]) -> None:
    created = didit_sandbox.create_auth_session("names email phone", vendor_data="user-42")
    assert didit_sandbox.auth_status(created["session_id"], created["session_token"]) == "initialized"
    phone = page_factory(viewport={"width": 375, "height": 740})
    phone.goto(created["url"])
    # Loading the page is the scan.
    assert didit_sandbox.auth_status(created["session_id"], created["session_token"]) == "retrieved"
    assert phone.get_by_test_id("sandbox-share-status").get_attribute("data-status") == "retrieved"
    for words in ("Your name", "Your email address", "Your phone number"):
        assert phone.get_by_text(words).is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SHOTS / "authorize-375.png"), full_page=True)
    phone.get_by_test_id("sandbox-share-confirm").click()
    phone.wait_for_url(re.compile(re.escape(created["url"]) + "$"))
    assert phone.get_by_test_id("sandbox-share-status").get_attribute("data-status") == "confirmed"
    confirm = phone.get_by_test_id("sandbox-share-confirm")
    expect(confirm).to_have_count(1)  # still in the page, only hidden: the check below cannot pass vacuously
    expect(confirm).to_be_hidden()
    assert didit_sandbox.auth_status(created["session_id"], created["session_token"]) == "confirmed"


@pytest.mark.parametrize("width", [1280, 375])
def test_hosted_page_layout(didit_sandbox: SandboxProcess, page_factory: Callable[..., Page], width: int) -> None:
    created = didit_sandbox.create_session(vendor_data=f"layout-{width}")
    page = page_factory(viewport={"width": width, "height": 800})
    page.goto(created["url"])
    page.get_by_test_id("sandbox-start").wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"hosted-{width}-intro.png"), full_page=True)
    page.get_by_test_id("sandbox-start").click()
    page.get_by_test_id("sandbox-outcome-approve").wait_for()
    page.screenshot(path=str(SHOTS / f"hosted-{width}-flow.png"), full_page=True)
    # Nothing overflows sideways, and every control is at least 40 px tall (touch targets).
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    heights = page.evaluate(
        "[...document.querySelectorAll('button')].filter(b => b.offsetParent).map(b => b.offsetHeight)"
    )
    assert heights
    assert min(heights) >= 40
    assert page.get_by_text("Sandbox", exact=True).is_visible()
