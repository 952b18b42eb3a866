"""The base state of every staff page: who is signed in, and the server-side access check.

How the session reaches the websocket: ``POST /api/auth/login`` sets the HttpOnly cookie
(:data:`~didit_portal.services.access.signin.COOKIE_NAME`) and redirects,
 so the browser loads the next page afresh and
opens a new websocket whose upgrade request carries that cookie. The app takes the cookie out of the connection's
headers before Reflex copies them into router data (which it persists with the state, in ``.states/`` or Redis)
and keeps it in this worker's memory by socket id (:mod:`didit_portal.realtime.cookies`); a client cannot
supply it through an event, since only the socket's own upgrade request counts. Page scripts cannot read the
cookie, and nothing the client sends in state is trusted: every check below reads the cookie and validates it
against ``staff_session`` again.

How feature states guard their handlers (any browser can call any public handler, so each one checks)::

    class QueueState(StaffState):
        @rx.event
        @requires("viewer")
        def load(self) -> None:                      # page on_load: quiet refusal, no exception
            principal = self._guard("viewer")
            if principal is None:
                return                               # check_access (below) already redirected or set 403
            ...                                      # use principal.user_id / principal.role (mask for viewers)

        @rx.event
        @requires("reviewer")
        def approve(self, reason: str) -> None:      # an action: refuse loudly
            principal = self._require("reviewer")    # raises Unauthorized before anything happens
            ...

    (Declare each handler's minimum role with ``@requires("viewer")`` under ``@rx.event``: the access-walk test
    calls every public handler of every ``StaffState`` subclass as anonymous and as each role, fails when a
    handler lacks the marker, and checks lower roles are refused and the handler guards with that role.)

    app.add_page(queue_page, route=routes.ADMIN,
                 on_load=[StaffState.check_access("viewer"), QueueState.load])

and render page content inside :func:`didit_portal.components.staff_guard.staff_only`, which shows the 403
message when ``access_denied`` is set. Never decide access from ``staff_role`` / ``is_admin`` on the server:
those are display copies for the browser. Background events (``@rx.event(background=True)``) must call
``_require`` inside ``async with self`` before touching data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import reflex as rx
from reflex_base.event import EventSpec

from didit_portal import routes
from didit_portal.db import reading, writing
from didit_portal.didit.factory import shared_client
from didit_portal.didit.ratelimit import BreakerState
from didit_portal.realtime import cookies
from didit_portal.services.access.accounts import ROLES, Principal, Unauthorized
from didit_portal.services.access.signin import COOKIE_NAME, cookie_name, principal_from_token


def cookie_value(cookie_header: str, name: str = COOKIE_NAME) -> str | None:
    """Pick one cookie out of a ``Cookie`` request header.

    A tiny parser instead of ``http.cookies.SimpleCookie``, which gives up on the whole header when any other
    cookie on the site is malformed.

    Args:
        cookie_header: The raw header.
        name: Cookie name.

    Returns:
        The value, or None when absent or empty.
    """
    for part in cookie_header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value.strip().strip('"')
    return None


#: ``requires(PUBLIC)``: a handler anyone may call (it must still never reveal or change protected data).
PUBLIC = "public"
_F = TypeVar("_F", bound=Callable[..., Any])


def requires(role: str) -> Callable[[_F], _F]:
    """Declare a handler's minimum role, for the access-walk test (``tests/unit/test_access_walk.py``).

    A marker only: the handler still calls ``self._guard(role)`` / ``self._require(role)`` itself, and the test
    checks it does so with this role and that every lower role is refused. Put it under ``@rx.event``.

    Args:
        role: One of ``ROLES``, or :data:`PUBLIC`.

    Returns:
        A decorator returning the function unchanged (with ``__min_role__`` set).
    """
    if role != PUBLIC and role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def mark(fn: _F) -> _F:
        fn.__min_role__ = role  # type: ignore[attr-defined]
        return fn

    return mark


def didit_unreachable() -> bool:
    """Whether this worker has stopped calling Didit because it kept failing (circuit breaker open).

    The breaker is shared by every client of the process (``didit.factory.process_guards``), so what the pages,
    the business API or the reconciler ran into shows here.

    Returns:
        True while the breaker is open. Once its cool-down is over (half-open) the next call goes out again, and
        nothing may call for a while: saying "not answering" then could be stale, so the banner goes until a call
        fails again.
    """
    return shared_client().breaker.state is BreakerState.OPEN


def _staff_page_states() -> list[type[StaffState]]:
    found: list[type[StaffState]] = []
    pending: list[type[StaffState]] = list(StaffState.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _valid_role(role: str) -> str:
    # An unknown role name from the browser must not lower the bar: treat it as the highest.
    return role if role in ROLES else ROLES[-1]


class StaffState(rx.State):
    """Who is signed in (display copies) and the checks every staff handler runs on the server."""

    #: Display copy of the signed-in email (empty when anonymous). Not trusted by the server.
    staff_email: str = ""
    #: Display copy of the role (empty when anonymous). Not trusted by the server.
    staff_role: str = ""
    #: True when the signed-in user's role is too low for the current page.
    access_denied: bool = False
    #: True while this worker's circuit breaker holds calls to Didit back (the staff pages show a banner).
    didit_unreachable: bool = False

    @rx.var
    def is_signed_in(self) -> bool:
        """Whether a staff member is signed in (for showing the header controls).

        Returns:
            True when a role is known.
        """
        return self.staff_role in ROLES

    @rx.var
    def can_review(self) -> bool:
        """Whether the role is reviewer or admin (for showing action buttons; the server re-checks).

        Returns:
            True for reviewer and admin.
        """
        return self.staff_role in ROLES[1:]

    @rx.var
    def is_admin(self) -> bool:
        """Whether the role is admin (for showing admin links; the server re-checks).

        Returns:
            True for admin.
        """
        return self.staff_role == "admin"

    def _session_token(self) -> str | None:
        # Only the worker's copy counts (``realtime.cookies``): the stored router data never holds the cookie. Its
        # name follows PUBLIC_BASE_URL (``__Host-`` prefixed under https), as the sign-in route set it.
        return cookie_value(cookies.cookie_header(self.router.session.session_id), cookie_name())

    def _client_ip(self) -> str | None:
        return self.router.session.client_ip or None

    def _principal(self, *, user_action: bool = True) -> Principal | None:
        """Validate the connection's session cookie against the database, now.

        Also refreshes the display copies (``staff_email``, ``staff_role``).

        Args:
            user_action: True for the staff member's own events, which keep the session alive; False for server
                pushes, which must not (an open queue would otherwise never time out).

        Returns:
            The principal, or None when anonymous, expired, ended, disabled or awaiting TOTP.
        """
        if user_action:
            with writing() as db:
                principal = principal_from_token(db, self._session_token())
        else:
            with reading() as db:
                principal = principal_from_token(db, self._session_token(), touch=False)
        email = principal.email if principal else ""
        role = principal.role if principal else ""
        # Every staff event passes here, so the banner follows Didit's reachability as the staff member works.
        unreachable = principal is not None and didit_unreachable()
        if self.didit_unreachable != unreachable:
            self.didit_unreachable = unreachable
        if self.staff_email != email:
            self.staff_email = email
        if self.staff_role != role:
            self.staff_role = role
        return principal

    async def _forget_staff_pages(self) -> None:
        """Empty every staff page's state in this tab: signed out (or expired), nothing personal stays stored.

        Reflex keeps a tab's state after its sign-in ended (sealed, in ``.states/`` or Redis); a session page
        holds names and document numbers, the queue vendor_data. Resetting them when the tab next shows the
        sign-in page leaves nothing of the person in the tab's stored state.
        """
        for cls in _staff_page_states():
            if cls is not type(self):
                page = await self.get_state(cls)
                page.reset()

    def _require(self, role: str) -> Principal:
        """The principal, when signed in with at least ``role``.

        Args:
            role: Minimum role.

        Returns:
            The principal.

        Raises:
            Unauthorized: Anonymous, expired, or role too low.
        """
        principal = self._principal()
        if principal is None or not principal.at_least(_valid_role(role)):
            raise Unauthorized
        return principal

    def _guard(self, role: str) -> Principal | None:
        """Like :meth:`_require` but quiet, for page loads: sets ``access_denied`` and returns None instead.

        Args:
            role: Minimum role.

        Returns:
            The principal, or None when the caller must stop.
        """
        principal = self._principal()
        allowed = principal is not None and principal.at_least(_valid_role(role))
        self.access_denied = principal is not None and not allowed
        return principal if allowed else None

    @rx.event
    @requires(PUBLIC)
    def check_access(self, min_role: str) -> EventSpec | None:
        """Page ``on_load`` gate: anonymous → ``/login?next=…``; too low a role → the 403 message.

        Args:
            min_role: The page's minimum role.

        Returns:
            A redirect for anonymous visitors, else None.
        """
        principal = self._principal()
        if principal is None:
            self.access_denied = False
            # The prod server serves pages as folders ("/admin/audit/"): hand the route back without the slash.
            path = self.router.url.path.rstrip("/") or routes.ADMIN
            return rx.redirect(f"{routes.LOGIN}?next={quote(path, safe='/')}")
        self.access_denied = not principal.at_least(_valid_role(min_role))
        return None
