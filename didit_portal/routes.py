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
#: The end user's verification page of a link (token: the link's URL token, ≥ 128 bits).
VERIFY: Final = "/verify/[token]"
#: Didit's callback landing for a verification link.
VERIFY_DONE: Final = "/verify/[token]/done"
#: The end user's Auth + Data sharing page of a share link.
SHARE: Final = "/share/[token]"
