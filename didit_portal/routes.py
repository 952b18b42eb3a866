"""Every page route of the portal, in one place.

Pages, links and redirects import these constants instead of spelling paths, so a route changes in one line.
"""

from __future__ import annotations

from typing import Final

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
#: Prefix of the staff session pages (links are ``ADMIN_SESSIONS + "/" + session_id``).
ADMIN_SESSIONS: Final = "/admin/sessions"
#: One verification session for staff: checks, history, notes, decisions.
ADMIN_SESSION: Final = "/admin/sessions/[session_id]"
#: The end user's verification page of a link (token: the link's URL token, ≥ 128 bits).
VERIFY: Final = "/verify/[token]"
#: Didit's callback landing for a verification link.
VERIFY_DONE: Final = "/verify/[token]/done"
#: The end user's Auth + Data sharing page of a share link.
SHARE: Final = "/share/[token]"
