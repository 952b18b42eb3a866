"""Every staff page and handler, called as anonymous and as each role: lower roles are refused on the server.

The walk finds its subjects itself, so handlers added later are included without editing this file:

* every ``StaffState`` subclass in ``didit_portal.states`` / ``didit_portal.pages`` (all their modules are
  imported), and every public event handler of each. Each handler must declare its minimum role with
  ``@requires(role)`` (``didit_portal.states.base``); a handler without one fails the walk.
* For each handler and each identity (anonymous, viewer, reviewer, admin — real users with real session cookies
  in the websocket's ``Cookie`` header — and two admins whose sessions still owe a step: one awaiting its TOTP
  code, one that must change its password first), ``_guard`` / ``_require`` are spied on:
  - allowed identities must pass the guard with exactly the declared role (the walk stops the handler right
    there, so no feature side effect runs);
  - lower identities must be refused: ``Unauthorized`` raised, or the handler returns having changed no state
    var other than the identity display copies (no data loaded), with ``access_denied`` set for signed-in users.
    A session that owes a step counts as anonymous everywhere, whatever its user's role.
* ``PUBLIC`` handlers must run for everyone without error.
* No state may define a ``set_*`` method outside this walk: Reflex's built-in ``setvar`` handler calls any
  ``set_<name>`` attribute with a browser-chosen value.
* Every staff page registered through ``StaffState.check_access(role)`` redirects anonymous visitors and sets
  the 403 flag for lower roles (``check_access`` is walked with every role).

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import inspect
import pkgutil
import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from reflex_base import constants
from reflex_base.event import EventSpec

import didit_portal.pages
import didit_portal.states
from didit_portal.config import get_settings
from didit_portal.db import get_engine, session_scope
from didit_portal.realtime import cookies as socket_cookies
from didit_portal.services.access import signin
from didit_portal.services.access.accounts import ROLES, Unauthorized
from didit_portal.services.access.signin import COOKIE_NAME, HOST_COOKIE_NAME
from didit_portal.states.base import PUBLIC, StaffState
from tests.auth_helpers import create_user, fast_hashing, session_for

#: Sessions of admins that still owe a step: they must be treated as anonymous by every handler and page.
UNFINISHED = ("pending_totp", "must_change")
IDENTITIES = ("anonymous", *ROLES, *UNFINISHED)
#: Vars a refused call may change: the display copies of who is signed in.
IDENTITY_VARS = frozenset({"staff_email", "staff_role", "access_denied"})


def _import_all() -> None:
    for package in (didit_portal.states, didit_portal.pages):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")


def _staff_states() -> list[type[StaffState]]:
    _import_all()
    found: list[type[StaffState]] = [StaffState]
    stack: list[type[Any]] = [StaffState]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                stack.append(sub)
    return found


def _handlers() -> list[tuple[type[StaffState], str]]:
    return [(cls, name) for cls in _staff_states() for name in cls.event_handlers if name != "setvar"]


class _Stop(Exception):  # noqa: N818 -- a control-flow signal of the walk
    """Raised by the spy when a guard let an allowed identity through."""


def _dummy(annotation: Any) -> Any:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    for key, value in (("dict", {}), ("list", []), ("bool", False), ("int", 1), ("float", 1.0), ("str", "x")):
        if text.startswith(key) or f"[{key}" in text:
            return copy.deepcopy(value)
    return None


def _args(fn: Callable[..., Any]) -> list[Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    args = []
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        if param.default is not inspect.Parameter.empty or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        args.append(_dummy(hints.get(param.name, param.annotation)))
    return args


class _BackgroundProxy:
    """Stands in for Reflex's StateProxy so ``async with self`` works in background handlers."""

    def __init__(self, state: StaffState) -> None:
        object.__setattr__(self, "_state", state)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_state"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_state"), name, value)

    async def __aenter__(self) -> _BackgroundProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _call(cls: type[StaffState], name: str, state: StaffState) -> Any:
    handler = cls.event_handlers[name]
    fn = handler.fn
    target: Any = _BackgroundProxy(state) if handler.is_background else state
    result = fn(target, *_args(fn))
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    if inspect.isasyncgen(result):

        async def drain() -> list[Any]:
            return [item async for item in result]

        return asyncio.run(drain())
    if inspect.isgenerator(result):
        return list(result)
    return result


@pytest.fixture(autouse=True)
def _worker_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no socket cookies held (``_state_for`` adds the ones it needs)."""
    monkeypatch.setattr(socket_cookies, "_by_sid", {})


def _state_for(cls: type[StaffState], cookie: str, path: str, sid: str = "") -> StaffState:
    if not sid:  # as the running app does: the socket's cookie is held by the worker, keyed by socket id
        sid = f"sid-{uuid.uuid4().hex}"
        socket_cookies._by_sid[sid] = cookie  # pyright: ignore[reportPrivateUsage]
    root = rx.State(_reflex_internal_init=True)  # pyright: ignore[reportCallIssue] -- how Reflex builds states
    root.router = RouterData.from_router_data(
        {
            constants.RouteVar.SESSION_ID: sid,
            constants.RouteVar.HEADERS: {"origin": "http://portal.test"},
            constants.RouteVar.CLIENT_IP: "203.0.113.9",
            constants.RouteVar.PATH: path,
            constants.RouteVar.ORIGIN: path,
        }
    )
    state = root.get_substate(cls.get_full_name().split("."))
    assert isinstance(state, cls)
    return state


def _private_names(cls: type[StaffState]) -> list[str]:
    names = []
    for klass in cls.__mro__:
        if not (isinstance(klass, type) and issubclass(klass, StaffState)):
            continue
        for name in inspect.get_annotations(klass):
            if name.startswith("_") and not name.startswith("__"):
                names.append(name)
    return names


def _snapshot(state: StaffState) -> dict[str, Any]:
    values = {name: getattr(state, name) for name in type(state).base_vars if name not in IDENTITY_VARS}
    values.update({name: getattr(state, name, None) for name in _private_names(type(state))})
    return copy.deepcopy(values)


@pytest.fixture
def cookies(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """``Cookie`` headers per identity; the app's default engine points at ``db_url``."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    with fast_hashing():
        jar = {"anonymous": "theme=dark"}
        for role in ROLES:
            principal = create_user(db_url, f"{role}@example.org", role)
            jar[role] = f"theme=dark; {COOKIE_NAME}={session_for(db_url, principal)}"
        pending = create_user(db_url, "pending@example.org", "admin")
        changing = create_user(db_url, "changing@example.org", "admin", must_change_password=True)
        with session_scope(get_engine(db_url)) as db:
            jar["pending_totp"] = f"{COOKIE_NAME}={signin.start_session(db, principal=pending, second_factor_ok=False)}"
            jar["must_change"] = f"{COOKIE_NAME}={signin.start_session(db, principal=changing, second_factor_ok=True)}"
    yield jar
    get_settings.cache_clear()


def test_every_handler_declares_its_minimum_role() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls, name in _handlers()
        if getattr(cls.event_handlers[name].fn, "__min_role__", None) is None
    ]
    assert not missing, f"add @requires(role) under @rx.event to: {', '.join(missing)}"
    assert {"AuditState", "LoginState", "AccountState"} <= {cls.__name__ for cls in _staff_states()}


def test_no_state_has_a_setter_outside_the_walk() -> None:
    # Reflex's `setvar` handler calls `set_<name>` with a browser-chosen value: such methods must be real,
    # role-declared event handlers (then walked below), never plain helpers.
    offenders = [
        f"{cls.__name__}.{name}"
        for cls in _staff_states()
        for name in dir(cls)
        if name.startswith("set_") and name != "set_is_hydrated" and name not in cls.event_handlers
    ]
    assert not offenders, offenders


def test_walk_every_handler_as_every_identity(cookies: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, bool]] = []
    real_require, real_guard = StaffState._require, StaffState._guard

    def spy_require(self: StaffState, role: str) -> Any:
        try:
            principal = real_require(self, role)
        except Unauthorized:
            calls.append(("require", role, False))
            raise
        calls.append(("require", role, True))
        raise _Stop(principal)

    def spy_guard(self: StaffState, role: str) -> Any:
        principal = real_guard(self, role)
        calls.append(("guard", role, principal is not None))
        if principal is not None:
            raise _Stop(principal)
        return None

    monkeypatch.setattr(StaffState, "_require", spy_require)
    monkeypatch.setattr(StaffState, "_guard", spy_guard)
    walked = 0
    for cls, name in _handlers():
        declared = getattr(cls.event_handlers[name].fn, "__min_role__", None)
        # Without a marker (a failure of the test above) the handler is still walked: anonymous must be refused.
        identities = IDENTITIES if declared is not None else ("anonymous",)
        for identity in identities:
            calls.clear()
            state = _state_for(cls, cookies[identity], "/admin/walk")
            where = f"{cls.__name__}.{name} as {identity}"
            before = _snapshot(state)
            if declared == PUBLIC:
                _call(cls, name, state)  # must simply work for everyone
                assert state.staff_role == (identity if identity in ROLES else ""), where
                walked += 1
                continue
            allowed = identity in ROLES and ROLES.index(identity) >= ROLES.index(declared)
            if allowed:
                with pytest.raises(_Stop):
                    _call(cls, name, state)
                assert calls and calls[-1] == (calls[-1][0], declared, True), f"{where}: guarded with {calls}"
                walked += 1
                continue
            try:
                result = _call(cls, name, state)
            except Unauthorized:
                result = None
            except _Stop:
                pytest.fail(f"{where}: a guard let a too-low identity through ({calls})")
            assert calls, f"{where}: the handler never called _guard/_require"
            assert all((declared is None or role == declared) and not ok for _, role, ok in calls), f"{where}: {calls}"
            assert _snapshot(state) == before, f"{where}: a refused call changed state"
            if identity not in ROLES:
                assert state.staff_role == "", where
            else:
                assert state.staff_role == identity
                assert state.access_denied or not any(kind == "guard" for kind, _, _ in calls), where
            assert not isinstance(result, EventSpec) or "/login" in str(result.args), where
            walked += 1
    assert walked >= len(IDENTITIES) * 7


@pytest.mark.parametrize("min_role", ROLES)
def test_page_gate_check_access(cookies: dict[str, str], min_role: str) -> None:
    for identity in IDENTITIES:
        state = _state_for(StaffState, cookies[identity], "/admin/audit")
        result = StaffState.event_handlers["check_access"].fn(state, min_role)
        if identity not in ROLES:
            assert isinstance(result, EventSpec)
            assert "/login?next=/admin/audit" in str(result.args)
            assert not state.access_denied and not state.is_signed_in
            continue
        assert result is None
        assert state.staff_email == f"{identity}@example.org"
        assert state.access_denied == (ROLES.index(identity) < ROLES.index(min_role))


def test_unknown_role_name_from_the_browser_means_admin(cookies: dict[str, str]) -> None:
    state = _state_for(StaffState, cookies["reviewer"], "/admin")
    StaffState.event_handlers["check_access"].fn(state, "nobody")
    assert state.access_denied
    with pytest.raises(Unauthorized):
        state._require("superuser")


def test_forged_or_missing_cookie_is_anonymous(cookies: dict[str, str]) -> None:
    for cookie in ("", f"{COOKIE_NAME}=forged", f"{COOKIE_NAME}={'A' * 43}", cookies["admin"].upper()):
        state = _state_for(StaffState, cookie, "/admin")
        assert state._principal() is None
        with pytest.raises(Unauthorized):
            state._require("viewer")
    state = _state_for(StaffState, cookies["admin"], "/admin")
    assert state._require("admin").email == "admin@example.org"


def test_the_cookie_comes_from_the_worker_not_the_stored_router_data(
    cookies: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In the running app the cookie never reaches router data (realtime/cookies.py): it is looked up by the
    # socket id, which Reflex sets from the socket itself (an event cannot choose it).
    monkeypatch.setattr(socket_cookies, "_by_sid", {"sid-admin": cookies["admin"]})
    state = _state_for(StaffState, "", "/admin", sid="sid-admin")
    assert state._require("admin").email == "admin@example.org"
    other = _state_for(StaffState, "", "/admin", sid="sid-unknown")
    assert other._principal() is None


def test_staff_see_when_didit_is_unreachable(cookies: dict[str, str]) -> None:
    from didit_portal.didit.factory import shared_client

    breaker = shared_client().breaker
    reviewer = _state_for(StaffState, cookies["reviewer"], "/admin")
    assert reviewer._principal() is not None and not reviewer.didit_unreachable
    for _ in range(breaker.failure_threshold):  # e.g. the reconciler kept getting 503s from Didit
        breaker.record_failure()
    assert reviewer._principal() is not None and reviewer.didit_unreachable  # the staff pages show the banner
    anonymous = _state_for(StaffState, cookies["anonymous"], "/admin")
    assert anonymous._principal() is None and not anonymous.didit_unreachable  # nothing said to anonymous visitors
    breaker.reset_after = 0.0  # cool-down over: half-open, the next call decides, so the banner goes
    assert reviewer._principal() is not None and not reviewer.didit_unreachable
    breaker.reset_after = 30.0
    assert reviewer._principal() is not None and reviewer.didit_unreachable
    breaker.record_success()
    assert reviewer._principal() is not None and not reviewer.didit_unreachable


def test_a_session_owing_a_new_password_is_sent_to_that_step(cookies: dict[str, str]) -> None:
    """Issue 10 item 4: the login page shows a ``must_change`` session the change-password form, and nothing else
    accepts it (the walk above)."""
    from didit_portal.states.login import LoginState

    for identity, step in (("must_change", "change"), ("anonymous", "password"), ("pending_totp", "password")):
        state = _state_for(LoginState, cookies[identity], "/login")
        asyncio.run(LoginState.event_handlers["load"].fn(state))
        assert state.step == step, identity


def test_under_https_the_host_prefixed_cookie_is_the_one_read(
    cookies: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 8: with an https ``PUBLIC_BASE_URL`` the staff state reads ``__Host-didit_portal_session`` (what
    the sign-in route sets then) and ignores the plain name. Fails on the old code, which read the plain name only."""
    token = cookies["admin"].split(f"{COOKIE_NAME}=", 1)[1]
    with monkeypatch.context() as patch:
        patch.setenv("PUBLIC_BASE_URL", "https://portal.test")
        get_settings.cache_clear()
        try:
            assert _state_for(StaffState, f"{HOST_COOKIE_NAME}={token}", "/admin")._require("admin").user_id
            assert _state_for(StaffState, f"{COOKIE_NAME}={token}", "/admin")._principal() is None
        finally:
            get_settings.cache_clear()
    assert _state_for(StaffState, f"{COOKIE_NAME}={token}", "/admin")._principal() is not None  # http: plain name
