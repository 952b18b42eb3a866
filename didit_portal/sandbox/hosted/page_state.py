"""What the verification page's script knows about its session, and where its callback sends this device.

The server decides *which device* is redirected to the session's callback (``callback_method``; Didit:
https://docs.didit.me/sessions-api/create-session and https://docs.didit.me/integration/web-sdks/incontext-iframe),
because that needs the HttpOnly device cookie, which the page's script cannot (and must not) read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from starlette.requests import Request

from didit_portal.sandbox.hosted.common import context_of, root
from didit_portal.sandbox.types import HostedSession

#: Statuses whose callback redirect Didit documents (``callback`` on its create-session page, above).
REDIRECT_STATUSES = frozenset({"Approved", "Declined", "In Review"})
#: Schemes a callback may not navigate to: they would run code in (or read from) the sandbox page's origin.
#: Custom app schemes (``myapp://done``) stay allowed, as on Didit.
_FORBIDDEN_CALLBACK_SCHEMES = frozenset({"javascript", "data", "vbscript", "blob", "file"})


def build_callback_url(callback: str, session_id: str, status: str) -> str | None:
    """Build Didit's browser redirect: ``callback?verificationSessionId=…&status=…`` (create-session page, above).

    The parameters are percent-encoded (``In Review`` → ``In%20Review``) and appended with ``&`` when the
    callback already has a query; a fragment stays at the end.

    Args:
        callback: The session's callback URL (any scheme; custom app schemes included).
        session_id: The session id.
        status: The exact Didit status string.

    Returns:
        The URL to navigate to, or None when the callback's scheme could run code in the page's origin
        (``javascript:``, ``data:``, …) or it is empty.
    """
    callback = callback.strip()
    if not callback:
        return None
    parts = urlsplit(callback)
    if parts.scheme.lower() in _FORBIDDEN_CALLBACK_SCHEMES:
        return None
    added = urlencode([("verificationSessionId", session_id), ("status", status)], quote_via=quote)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def device_selected(session: HostedSession, device_id: str, completer: str | None) -> bool:
    """Whether ``callback_method`` sends this device to the callback (Didit's create-session page, above).

    Args:
        session: The session.
        device_id: This browser's device cookie.
        completer: The device that finished the session, if any.

    Returns:
        True for the initiator under ``initiator``, the completer under ``completer``, either under ``both``.
    """
    is_initiator = session.initiator_device is not None and session.initiator_device == device_id
    is_completer = completer is not None and completer == device_id
    if session.callback_method == "initiator":
        return is_initiator
    if session.callback_method == "completer":
        return is_completer
    return is_initiator or is_completer


def redirect_url(session: HostedSession, device_id: str, completer: str | None) -> str | None:
    """Where this device goes after the flow: the callback URL when its status redirects and the device is chosen."""
    if not session.callback or session.status not in REDIRECT_STATUSES:
        return None
    if not device_selected(session, device_id, completer):
        return None
    return build_callback_url(session.callback, session.session_id, session.status)


def effective_steps(session: HostedSession) -> list[str]:
    """The steps this visit walks through: only the ones to redo after a resubmission."""
    if session.status == "Resubmitted" and session.resubmit_steps:
        return list(session.resubmit_steps)
    return list(session.steps)


def page_state(request: Request, session: HostedSession, device_id: str) -> dict[str, Any]:
    """What the page's script knows about its session. Runs in the thread pool (may call the engine)."""
    completer = None
    if session.status in REDIRECT_STATUSES and session.callback and session.callback_method != "initiator":
        completer = context_of(request).engine.completer_device(session.session_id)
    return {
        "sessionId": session.session_id,
        "sessionNumber": session.session_number,
        "status": session.status,
        "steps": effective_steps(session),
        "resubmitted": session.status == "Resubmitted" and bool(session.resubmit_steps),
        "armedOutcome": session.armed_outcome,
        "workflowLabel": session.workflow_label,
        "redirectUrl": redirect_url(session, device_id, completer),
        "api": f"{root(request)}/session/{session.session_token}/sandbox",
    }
