"""Browser tests of ``/verify/{token}`` and ``/verify/{token}/done`` on the real portal (prod mode, one port).

The embedded sandbox's hosted page, inside the page's embed, drives each flow with its own buttons
(``sandbox-start``, ``sandbox-outcome-*``); the status line must flip by server push, without a reload.
Screenshots of each state at 1280 px and 375 px go to ``shots_dir``.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import FrameLocator, Page, expect

if TYPE_CHECKING:
    from tests.browser.portal.conftest import LinkFactory, Portal

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 812}
#: A push must reach the page well within this (the target is one second after the webhook).
LIVE_TIMEOUT = 8_000


def open_page(page_factory: Callable[..., Page], url: str, **context: Any) -> Page:
    """Open a page and wait until it has hydrated; mark the document to prove later that it never reloaded."""
    context.setdefault("viewport", DESKTOP)
    context.setdefault("color_scheme", "light")
    page = page_factory(**context)
    page.goto(url, wait_until="networkidle")
    page.evaluate("window.__sameDocument = true")
    return page


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded: the status must arrive by push"


def embed(page: Page) -> FrameLocator:
    """Didit's hosted page inside the verification embed."""
    return page.frame_locator('[data-testid="verify-iframe"] iframe')


def read_qrs(page: Page, test_id: str) -> list[str]:
    """Every QR code readable in the element (a screenshot of it, read by zxing-cpp)."""
    png = page.get_by_test_id(test_id).screenshot()
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def decode_qr(page: Page, test_id: str) -> str:
    """Decode the one QR code shown in the element."""
    texts = read_qrs(page, test_id)
    assert len(texts) == 1, f"expected one QR code in {test_id}, found {len(texts)}"
    return texts[0]


def start_in_embed(page: Page) -> None:
    """Start Didit's flow inside the embed and wait until the page shows it live."""
    embed(page).get_by_test_id("sandbox-start").click()
    expect(page.get_by_test_id("verify-status")).to_have_text("In Progress", timeout=LIVE_TIMEOUT)


def shoot(page: Page, shots_dir: Path, name: str) -> None:
    page.screenshot(path=str(shots_dir / f"{name}.png"), full_page=True)


def new_link(links: LinkFactory, **kwargs: Any) -> dict[str, Any]:
    return links.verification(f"browser-{uuid.uuid4().hex[:12]}", **kwargs)


def test_approve_in_embed_flips_status_live_and_done_page_shows_server_status(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    link = new_link(links, return_url="https://shop.example/account?verified=1")
    page = open_page(page_factory, portal.origin + link["path"])
    status = page.get_by_test_id("verify-status")
    expect(status).to_have_text("Not Started")
    expect(page.get_by_test_id("verify-iframe")).to_be_visible()
    expect(page.get_by_test_id("verify-qr")).to_be_visible()
    # Didit's web SDK mounted the hosted page (no fallback needed here), with the camera permissions.
    expect(page.get_by_test_id("verify-iframe")).to_have_attribute("data-embed-mode", "sdk")
    iframe = page.locator('[data-testid="verify-iframe"] iframe')
    expect(iframe).to_have_count(1)
    # The SDK appends its camera options to the URL; the page embeds exactly the session's hosted URL.
    assert (iframe.get_attribute("src") or "").split("?", 1)[0] == link["hosted_url"]
    assert "camera" in (iframe.get_attribute("allow") or "")
    shoot(page, shots_dir, "verify-not-started-desktop")

    start_in_embed(page)
    # Started inside this page: the next step is about the embedded flow, not the phone.
    expect(page.get_by_test_id("verify-next-step")).to_have_text("Finish the steps in the verification window.")
    shoot(page, shots_dir, "verify-in-progress-desktop")

    embed(page).get_by_test_id("sandbox-outcome-approve").click()
    expect(status).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("verify-message")).to_have_text("You are verified.")
    expect(page.get_by_test_id("verify-iframe")).to_have_count(0)  # nothing left to do in the flow
    assert_not_reloaded(page)
    shoot(page, shots_dir, "verify-approved-desktop")

    # The callback's query string claims another status: the done page shows the server's.
    done = open_page(
        page_factory, f"{portal.origin}{link['path']}/done?verificationSessionId={link['session_id']}&status=Declined"
    )
    expect(done.get_by_test_id("verify-status")).to_have_text("Approved")
    back = done.get_by_test_id("verify-return")
    expect(back).to_have_attribute("href", "https://shop.example/account?verified=1")
    expect(back).to_have_attribute("target", "_top")
    shoot(done, shots_dir, "verify-done-approved-desktop")
    phone_done = open_page(page_factory, f"{portal.origin}{link['path']}/done", viewport=MOBILE)
    expect(phone_done.get_by_test_id("verify-status")).to_have_text("Approved")
    shoot(phone_done, shots_dir, "verify-done-approved-mobile")


@pytest.mark.parametrize(
    ("button", "expected", "message"),
    [
        ("sandbox-outcome-decline", "Declined", "We could not verify your identity."),
        ("sandbox-outcome-review", "In Review", "Thank you. Your verification is being reviewed."),
    ],
)
def test_decline_and_review_in_embed(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
    button: str,
    expected: str,
    message: str,
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"])
    status = page.get_by_test_id("verify-status")
    expect(status).to_have_text("Not Started")
    start_in_embed(page)
    embed(page).get_by_test_id(button).click()
    expect(status).to_have_text(expected, timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("verify-message")).to_have_text(message)
    assert_not_reloaded(page)
    slug = expected.lower().replace(" ", "-")
    shoot(page, shots_dir, f"verify-{slug}-desktop")
    phone = open_page(page_factory, portal.origin + link["path"], viewport=MOBILE)
    expect(phone.get_by_test_id("verify-status")).to_have_text(expected)
    shoot(phone, shots_dir, f"verify-{slug}-mobile")


def test_resizing_across_the_breakpoint_keeps_the_flow_in_progress(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"])
    status = page.get_by_test_id("verify-status")
    start_in_embed(page)
    frame_id = page.locator('[data-testid="verify-iframe"] > div').first.get_attribute("id")
    page.set_viewport_size(MOBILE)  # phone-sized: the embed is hidden, the big button shown
    expect(page.get_by_test_id("verify-iframe")).to_be_hidden()
    expect(page.get_by_test_id("verify-start-phone")).to_be_visible()
    page.set_viewport_size(DESKTOP)
    expect(page.get_by_test_id("verify-iframe")).to_be_visible()
    # The same flow, where the user left it (before, the SDK was torn down and Didit's page restarted).
    assert page.locator('[data-testid="verify-iframe"] > div').first.get_attribute("id") == frame_id
    embed(page).get_by_test_id("sandbox-outcome-approve").click()
    expect(status).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    assert_not_reloaded(page)


def test_expired_session_restarts_with_a_fresh_session_and_qr(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"])
    expect(page.get_by_test_id("verify-status")).to_have_text("Not Started")
    assert decode_qr(page, "verify-qr") == link["hosted_url"]

    links.sandbox_outcome(link["session_id"], "expire")
    # The page starts again by itself: a new Didit session, a new hosted URL, a new QR code — no reload.
    qr = page.get_by_test_id("verify-qr")
    expect(qr).to_be_visible(timeout=LIVE_TIMEOUT)
    page.wait_for_function(
        "old => { const f = document.querySelector('[data-testid=verify-iframe] iframe');"
        " return f && !f.src.startsWith(old); }",
        arg=link["hosted_url"],
        timeout=LIVE_TIMEOUT,
    )
    expect(page.get_by_test_id("verify-status")).to_have_text("Not Started")
    fresh = decode_qr(page, "verify-qr")
    assert fresh != link["hosted_url"]
    assert fresh.startswith(portal.origin + "/didit-sandbox/session/")
    assert page.locator('[data-testid="verify-iframe"] iframe').get_attribute("src").startswith(fresh)
    assert_not_reloaded(page)
    shoot(page, shots_dir, "verify-restarted-desktop")

    # The old session really is Expired at Didit, and a reload keeps showing the fresh one.
    page.reload(wait_until="networkidle")
    expect(page.get_by_test_id("verify-status")).to_have_text("Not Started")
    assert decode_qr(page, "verify-qr") == fresh


def test_resubmitted_reopens_the_same_link(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"])
    status = page.get_by_test_id("verify-status")
    start_in_embed(page)
    embed(page).get_by_test_id("sandbox-outcome-decline").click()
    expect(status).to_have_text("Declined", timeout=LIVE_TIMEOUT)

    links.sandbox_outcome(link["session_id"], "resubmit")  # a reviewer asks for steps to be redone
    expect(status).to_have_text("Resubmitted", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("verify-next-step")).to_have_text(
        "Use this same link: the verification reopens at the steps to redo."
    )
    assert decode_qr(page, "verify-qr") == link["hosted_url"]  # the same session, the same link
    shoot(page, shots_dir, "verify-resubmitted-desktop")
    phone = open_page(page_factory, portal.origin + link["path"], viewport=MOBILE)
    expect(phone.get_by_test_id("verify-status")).to_have_text("Resubmitted")
    shoot(phone, shots_dir, "verify-resubmitted-mobile")

    start_in_embed(page)
    embed(page).get_by_test_id("sandbox-outcome-approve").click()
    expect(status).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    assert_not_reloaded(page)


def test_started_on_the_phone_says_continue_there(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"])
    expect(page.get_by_test_id("verify-status")).to_have_text("Not Started")
    # The "phone": another browser context opens the URL from the QR code.
    phone = page_factory(viewport=MOBILE)
    phone.goto(decode_qr(page, "verify-qr"), wait_until="networkidle")
    phone.get_by_test_id("sandbox-start").click()
    expect(page.get_by_test_id("verify-status")).to_have_text("In Progress", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("verify-next-step")).to_have_text(
        "Continue on your phone: this page updates by itself when you finish there."
    )
    shoot(page, shots_dir, "verify-in-progress-elsewhere-desktop")
    phone.get_by_test_id("sandbox-outcome-approve").click()
    expect(page.get_by_test_id("verify-status")).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    assert_not_reloaded(page)


def test_phone_sized_screen_gets_one_big_start_button(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"], viewport=MOBILE)
    start = page.get_by_role("link", name="Start verification")
    expect(start).to_be_visible()
    expect(start).to_have_attribute("href", link["hosted_url"])
    expect(page.get_by_test_id("verify-qr")).to_be_hidden()
    expect(page.get_by_test_id("verify-iframe")).to_be_hidden()
    assert len(page.frames) == 1, "a phone must not load the embedded flow"
    assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    shoot(page, shots_dir, "verify-not-started-mobile")

    # Keyboard only: Tab reaches the button, Enter opens Didit's flow.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.dataset?.testid") == "verify-start-phone":
            break
    else:
        pytest.fail("the start button is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(link["hosted_url"])
    page.get_by_test_id("sandbox-start").click()
    page.go_back(wait_until="networkidle")
    expect(page.get_by_test_id("verify-status")).to_have_text("In Progress")
    shoot(page, shots_dir, "verify-in-progress-mobile")


def test_language_from_query_and_browser_and_didit_language_passed_through(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    link = new_link(links, language="es")
    page = open_page(page_factory, portal.origin + link["path"] + "?lang=es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Verifica tu identidad")
    expect(page.get_by_test_id("verify-status")).to_have_text("Not Started")  # Didit's string, untranslated
    expect(page.get_by_test_id("verify-message")).to_have_text("Todavía no has empezado.")
    shoot(page, shots_dir, "verify-not-started-es-desktop")

    browser_es = open_page(page_factory, portal.origin + link["path"], locale="es-ES")
    expect(browser_es.get_by_role("heading", level=1)).to_have_text("Verifica tu identidad")
    browser_en = open_page(page_factory, portal.origin + link["path"], locale="en-GB")
    expect(browser_en.get_by_role("heading", level=1)).to_have_text("Verify your identity")
    query_wins = open_page(page_factory, portal.origin + link["path"] + "?lang=en", locale="es-ES")
    expect(query_wins.get_by_role("heading", level=1)).to_have_text("Verify your identity")


def test_unknown_token_shows_not_found(portal: Portal, page_factory: Callable[..., Page], shots_dir: Path) -> None:
    page = open_page(page_factory, portal.origin + "/verify/" + "A" * 32)
    expect(page.get_by_test_id("verify-not-found")).to_be_visible()
    expect(page.get_by_test_id("verify-status")).to_have_count(0)
    shoot(page, shots_dir, "verify-not-found-desktop")


def test_copy_link_puts_the_hosted_url_on_the_clipboard(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
) -> None:
    link = new_link(links)
    page = open_page(page_factory, portal.origin + link["path"], permissions=["clipboard-read", "clipboard-write"])
    button = page.get_by_test_id("verify-copy-link")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_text("Link copied")
    assert page.evaluate("navigator.clipboard.readText()") == link["hosted_url"]


def test_security_headers_on_end_user_pages(portal: Portal, links: LinkFactory) -> None:
    link = new_link(links)
    for path in (link["path"], link["path"] + "/done", "/share/" + "B" * 32):
        response = httpx.get(portal.origin + path, headers={"Accept-Encoding": "gzip, br"}, timeout=10)
        assert response.status_code == 200, path
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
        assert policy["frame-src"] == f"https://*.didit.me {portal.origin}"
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "<script" in response.text
        assert policy["frame-ancestors"] == "'self'"
    # Every page carries the policy (issue 10, item 15), never framed except the end-user pages above.
    home = httpx.get(portal.origin + "/", timeout=10)
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
