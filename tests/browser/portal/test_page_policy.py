"""The pages' Content-Security-Policy in a real browser, on the real portal (prod mode, one port): issue 10, item 15.

Reflex navigates between its pages without loading a new document, so a page runs under the policy of whichever
document the visitor opened first. The demo opens ``/verify/{token}`` with a full page load, so the verification
page runs under its own document's policy (framable by the portal only, the hosted URL's origin allowed); and
every page document carries the same strict script policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, ViewportSize, expect

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}

#: Appends an inline script to the page and reports what the document's CSP did about it: the violation's
#: directive and the policy in force, or "ran" when the script executed (no policy, or 'unsafe-inline').
_PROBE = """() => new Promise((resolve) => {
  document.addEventListener("securitypolicyviolation",
    (e) => resolve({directive: e.effectiveDirective, policy: e.originalPolicy}), {once: true});
  const script = document.createElement("script");
  script.textContent = "window.__inlineProbeRan = true;";
  document.head.appendChild(script);
  setTimeout(() => resolve(window.__inlineProbeRan ? {directive: "ran", policy: ""} : {directive: "none", policy: ""}), 3000);
})"""


def _main_documents(page: Page) -> list[Response]:
    documents: list[Response] = []

    def on_response(response: Response) -> None:
        if response.request.is_navigation_request() and response.frame == page.main_frame:
            documents.append(response)

    page.on("response", on_response)
    return documents


def test_verify_after_the_demo_runs_under_its_own_csp(portal: Portal, chromium_browser: Browser) -> None:
    """Before: the demo's button navigated inside the /demo document, which had no CSP at all, so the verification
    page ran without one (the probe's inline script ran)."""
    # Its own context, not page_factory: the probe's refused script is a console error by design.
    context = chromium_browser.new_context(viewport=DESKTOP, color_scheme="light")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error.message}"))
    documents = _main_documents(page)
    try:
        page.goto(portal.origin + "/demo", wait_until="networkidle")
        page.get_by_test_id("demo-start").click()
        expect(page).to_have_url(re.compile(re.escape(portal.origin) + r"/verify/[A-Za-z0-9_-]{20,}$"), timeout=30_000)
        expect(page.get_by_test_id("verify-status")).to_have_text("Not Started", timeout=30_000)
        # The verification page is a document of its own, loaded from its URL, with its own headers.
        assert httpx.URL(documents[0].url).path == "/demo"
        assert httpx.URL(documents[-1].url).path == httpx.URL(page.url).path and documents[-1].status == 200
        headers = documents[-1].all_headers()
        assert "frame-ancestors 'self'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
        iframe = page.locator('[data-testid="verify-iframe"] iframe')
        expect(iframe).to_have_attribute("src", re.compile(r"^http"))
        hosted = httpx.URL(iframe.get_attribute("src") or "")
        assert f"{hosted.scheme}://{hosted.netloc.decode()}" in headers["content-security-policy"]
        errors_before = list(errors)
        probe = page.evaluate(_PROBE)
        assert probe["directive"].startswith("script-src"), probe
        assert "frame-ancestors 'self'" in probe["policy"]  # /verify's own policy, not /demo's ('none')
        assert errors_before == [], errors_before
        assert all("Content Security Policy directive 'script-src" in e for e in errors), errors
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/", "/demo", "/login"])
def test_pages_run_under_a_hash_pinned_policy_without_console_errors(
    portal: Portal, page_factory: Callable[..., Page], path: str
) -> None:
    """Every page document carries the strict script policy (before: none but /verify and /share), and Reflex's
    compiled pages still hydrate under it: page_factory fails the test on any console error, CSP refusals
    included."""
    page = page_factory(viewport=DESKTOP)
    documents = _main_documents(page)
    page.goto(portal.origin + path, wait_until="networkidle")
    policy = documents[-1].all_headers()["content-security-policy"]
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert documents[-1].all_headers()["x-frame-options"] == "DENY"
    # Hydrated (event handlers attached): the colour-mode toggle works under the policy.
    toggle = page.get_by_test_id("color-mode-toggle")
    html = page.locator("html")
    before = html.get_attribute("class") or ""
    toggle.click()
    expect(html).not_to_have_class(before)
