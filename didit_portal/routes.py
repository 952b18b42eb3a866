"""Every URL of the portal, in one place: page routes, backend paths, and the builders that fill them in.

Pages, links, redirects and the backend's route tables import these names instead of spelling paths, so a
route changes in one line. The values are an interface (bookmarks, Didit's callbacks, operators' scripts and
the business API's clients use them): renaming a constant is fine, changing a value is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, overload
from urllib.parse import quote

if TYPE_CHECKING:
    from reflex.vars import StringVar

# ---- Pages (Reflex routes) ---------------------------------------------------------------------------------------

#: The public landing page: what this installation is, links to the demo and the staff sign-in.
HOME: Final = "/"
#: The end-user verification demo (the flow a customer's visitor goes through).
DEMO: Final = "/demo"
#: Staff sign-in.
LOGIN: Final = "/login"
#: The staff back office (review queue, sessions, settings).
ADMIN: Final = "/admin"
#: The audit trail (admins).
ADMIN_AUDIT: Final = "/admin/audit"
#: Prefix of the staff session pages (links: :func:`admin_session_url`).
ADMIN_SESSIONS: Final = "/admin/sessions"
#: One verification session for staff: checks, history, notes, decisions.
ADMIN_SESSION: Final = f"{ADMIN_SESSIONS}/[session_id]"
#: Prefix of the end user's verification pages (links: :func:`verify_url_path`).
VERIFY_PREFIX: Final = "/verify"
#: The end user's verification page of a link (token: the link's URL token, ≥ 128 bits).
VERIFY: Final = f"{VERIFY_PREFIX}/[token]"
#: Didit's callback landing for a verification link.
VERIFY_DONE: Final = f"{VERIFY_PREFIX}/[token]/done"
#: Prefix of the end user's Auth + Data sharing pages (links: :func:`share_url_path`).
SHARE_PREFIX: Final = "/share"
#: The end user's Auth + Data sharing page of a share link.
SHARE: Final = f"{SHARE_PREFIX}/[token]"

# ---- Backend (Starlette / FastAPI routes beside Reflex's) -------------------------------------------------------

#: Staff sign-in routes (:mod:`didit_portal.api.auth_routes`); the login page's forms post to them natively.
API_AUTH: Final = "/api/auth"
#: ``POST``: email + password (+ TOTP code) → new staff session, cookie, redirect.
API_AUTH_LOGIN: Final = f"{API_AUTH}/login"
#: ``POST``: the TOTP step of a pending staff session.
API_AUTH_TOTP: Final = f"{API_AUTH}/totp"
#: ``POST``: confirm a new TOTP secret with one code.
API_AUTH_TOTP_ENROL: Final = f"{API_AUTH}/totp/enrol"
#: ``GET``: the pending TOTP secret as a QR code (SVG).
API_AUTH_TOTP_SETUP: Final = f"{API_AUTH}/totp/setup"
#: ``POST``: end the staff session, clear the cookie.
API_AUTH_LOGOUT: Final = f"{API_AUTH}/logout"
#: ``GET``: who the session cookie belongs to.
API_AUTH_ME: Final = f"{API_AUTH}/me"
#: ``POST``: Didit's webhook receiver (:mod:`didit_portal.api.webhooks`); Didit's console holds this URL.
API_WEBHOOK_DIDIT: Final = "/api/webhooks/didit"
#: Mount point of the business API (:mod:`didit_portal.api.business`).
API_V1: Final = "/api/v1"
#: The business API's OpenAPI document, relative to :data:`API_V1`.
API_V1_OPENAPI: Final = "/openapi.json"
#: Business API verification resources, relative to :data:`API_V1` (``/{id}`` for one).
API_V1_VERIFICATIONS: Final = "/verifications"
#: Business API Auth + Data requests, relative to :data:`API_V1` (``/{id}`` for one).
API_V1_DATA_REQUESTS: Final = "/data-requests"
#: Where the embedded Didit sandbox is mounted on the portal's origin (same-origin hosted page).
SANDBOX_PREFIX: Final = "/didit-sandbox"


# ---- Builders --------------------------------------------------------------------------------------------------


@overload
def admin_session_url(session_id: str) -> str: ...
@overload
def admin_session_url(session_id: StringVar) -> StringVar: ...
def admin_session_url(session_id: str | StringVar) -> str | StringVar:
    """The staff page of one verification session.

    Args:
        session_id: Didit's session id, or a Var holding it (a row of a ``rx.foreach``).

    Returns:
        ``/admin/sessions/{session_id}``; a Var (concatenated in the browser) when given a Var.
    """
    # ``str + Var`` goes through the Var's ``__radd__``, so one expression serves both cases.
    return f"{ADMIN_SESSIONS}/" + session_id


def verify_url_path(token: str) -> str:
    """The path of a verification link's page.

    Args:
        token: The link's URL token.

    Returns:
        ``/verify/{token}`` (prefix it with ``PUBLIC_BASE_URL`` for a link handed out).
    """
    return f"{VERIFY_PREFIX}/{token}"


def verify_done_path(token: str) -> str:
    """The path Didit's callback returns the end user to after a verification.

    Args:
        token: The link's URL token.

    Returns:
        ``/verify/{token}/done``.
    """
    return f"{verify_url_path(token)}/done"


def share_url_path(token: str) -> str:
    """The path of an Auth + Data share link's page.

    Args:
        token: The share link's URL token.

    Returns:
        ``/share/{token}``.
    """
    return f"{SHARE_PREFIX}/{token}"


def login_url(next_path: str | None = None, *, step: str | None = None, error: str | None = None) -> str:
    """The sign-in page, optionally at a step, showing an error, or returning to a page afterwards.

    Args:
        next_path: Page to open after signing in. Left out when None or :data:`ADMIN`, where the login page
            goes by default. The caller checks it is a local path (``accounts.safe_next``).
        step: ``totp`` or ``enrol`` for the second-factor forms.
        error: Any value shows the generic error message (``1`` by convention).

    Returns:
        ``/login`` with the query in the order ``step``, ``error``, ``next``.
    """
    query = []
    if step:
        query.append(f"step={step}")
    if error:
        query.append(f"error={error}")
    if next_path is not None and next_path != ADMIN:
        query.append(f"next={quote(next_path, safe='/')}")
    return LOGIN + ("?" + "&".join(query) if query else "")


# ---- Staff account (issue 10) -----------------------------------------------------------------------------------

#: A staff member's own account: change password (every staff role).
ADMIN_ACCOUNT: Final = "/admin/account"
#: ``POST``: current + new password → password changed, the user's other sessions ended, a new session.
API_AUTH_PASSWORD: Final = f"{API_AUTH}/password"


# ---- Admin console (issue 11) -----------------------------------------------------------------------------------

#: The Didit account's workflows: sync, create from Didit's templates, defaults per purpose (admins).
ADMIN_WORKFLOWS: Final = "/admin/workflows"
#: The Didit webhook delivery log, replay and test delivery (admins).
ADMIN_WEBHOOKS: Final = "/admin/webhooks"
#: The Didit connection and portal settings (admins).
ADMIN_SETTINGS: Final = "/admin/settings"
