"""Didit's real web SDK (npm ``@didit-protocol/sdk-web`` 0.4.0), unchanged, embeds a sandbox session.

An integrator page on one port loads the SDK's UMD build and starts it in embedded mode on the URL the sandbox
returned from ``POST /v3/session/``; the sandbox runs standalone on another port of the same host (the SDK's
origin check compares hostnames only). The test clicks through the sandbox page inside the SDK's iframe and checks
what the SDK itself reports through ``onEvent`` and ``onComplete``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page

if TYPE_CHECKING:
    from tests.browser.conftest import SandboxProcess

pytestmark = pytest.mark.browser

KYC_STEPS = ["document_selection", "document_front", "document_back", "face"]


def _expected_iframe_events(session_id: str, final_status: str, completed_status: str) -> list[tuple[str, dict]]:
    """The sandbox page's messages for a kyc workflow (its hosted steps), start then an outcome button."""
    sid = {"sessionId": session_id}
    events: list[tuple[str, dict]] = [
        ("didit:ready", sid),
        ("didit:started", sid),
        ("didit:status_updated", {"status": "In Progress", **sid}),
        ("didit:step_started", {"step": "document_selection", **sid}),
        ("didit:document_selected", {"documentType": "P", "country": "ESP", **sid}),
        ("didit:step_completed", {"step": "document_selection", "nextStep": "document_front", **sid}),
        ("didit:media_captured", {"step": "document_front", "isAuto": False, **sid}),
        ("didit:step_completed", {"step": "document_front", "nextStep": "document_back", **sid}),
        ("didit:media_captured", {"step": "document_back", "isAuto": False, **sid}),
        ("didit:step_completed", {"step": "document_back", "nextStep": "face", **sid}),
        ("didit:step_completed", {"step": "face", **sid}),
        ("didit:verification_submitted", {"step": "face", **sid}),
        ("didit:status_updated", {"status": final_status, **sid}),
        ("didit:completed", {"status": completed_status, "country": "ESP", "documentType": "P", **sid}),
    ]
    return events


def test_sdk_web_embedded_approve(
    sdk_web_dist: Path, didit_sandbox: SandboxProcess, embedder_origin: str, checked_page: Page
) -> None:
    assert (sdk_web_dist / "didit-sdk.umd.js").is_file()
    created = didit_sandbox.create_session(vendor_data="sdk-web-user")
    session_id = created["session_id"]
    page = checked_page
    page.goto(f"{embedder_origin}/sdk_embed.html")
    page.wait_for_function("window.sdkReady === true")
    assert page.evaluate("window.DiditSDK.SDK_VERSION") == "0.4.0"

    started_at = time.time() * 1000
    page.evaluate("url => window.startDidit(url)", created["url"])
    frame = page.frame_locator("#didit-container iframe.didit-verification-iframe")
    frame.get_by_test_id("sandbox-start").click()
    frame.get_by_test_id("sandbox-outcome-approve").click()
    page.wait_for_function("window.sdkResults.length > 0")

    # onComplete: exactly the SDK's completed result, carrying the sandbox's session id.
    results = page.evaluate("window.sdkResults")
    assert results == [{"type": "completed", "session": {"sessionId": session_id, "status": "Approved"}}]

    # onEvent: the SDK's own local didit:started first, then everything the sandbox page posted, in order.
    events: list[dict[str, Any]] = page.evaluate("window.sdkEvents")
    assert (events[0]["type"], events[0]["data"]) == ("didit:started", {})
    seen = [(event["type"], event["data"]) for event in events[1:]]
    assert seen == _expected_iframe_events(session_id, "Approved", "Approved")
    for event in events:
        assert isinstance(event["timestamp"], int | float)
        assert started_at - 1000 <= event["timestamp"] <= time.time() * 1000 + 1000

    # The SDK appended its camera options to the URL; the page ignored them and still served the session.
    iframe_src = page.locator("#didit-container iframe").get_attribute("src") or ""
    assert iframe_src.startswith(created["url"])
    assert "document_camera=back" in iframe_src
    assert "liveness_camera_switch=false" in iframe_src

    # The server had the final status (and its webhook) before the page said "completed".
    assert didit_sandbox.decision(session_id)["status"] == "Approved"
    # No callback: the iframe stays on the sandbox page, showing the result.
    page.wait_for_timeout(1200)
    assert frame.locator("#result-title").inner_text() == "Verification approved"
