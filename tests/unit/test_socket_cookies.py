"""The staff session cookie stays in worker memory: out of the router data Reflex persists with the state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reflex_base import constants

from didit_portal.realtime import cookies as socket_cookies

COOKIE = "theme=dark; didit_portal_session=secret-token-value"


class Namespace:
    """The two members of Reflex's EventNamespace that ``install`` wraps, recording what Reflex would do."""

    def __init__(self) -> None:
        self.disconnected: list[str] = []

    def _build_static_router_data(self, sid: str, environ: dict[str, Any]) -> dict[str, Any]:
        headers = dict(environ["headers"])
        return {constants.RouteVar.SESSION_ID: sid, constants.RouteVar.HEADERS: headers,
                constants.RouteVar.CLIENT_IP: "203.0.113.9"}

    def on_disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)


class App:
    def __init__(self) -> None:
        self.event_namespace = Namespace()


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    socket_cookies._by_sid.clear()  # pyright: ignore[reportPrivateUsage]
    yield
    socket_cookies._by_sid.clear()  # pyright: ignore[reportPrivateUsage]


def test_router_data_loses_the_cookie_and_the_worker_keeps_it() -> None:
    app = App()
    socket_cookies.install(app)
    data = app.event_namespace._build_static_router_data(
        "sid-1", {"headers": {"cookie": COOKIE, "accept-language": "es"}})
    assert data[constants.RouteVar.HEADERS] == {"accept-language": "es"}  # other headers untouched
    assert COOKIE not in repr(data)
    assert socket_cookies.cookie_header("sid-1") == COOKIE
    assert socket_cookies.cookie_header("sid-2") == ""
    assert socket_cookies.cookie_header(None) == ""


def test_a_socket_without_cookies_holds_nothing() -> None:
    app = App()
    socket_cookies.install(app)
    app.event_namespace._build_static_router_data("sid-1", {"headers": {"accept-language": "en"}})
    assert socket_cookies.connected() == 0


def test_disconnect_forgets_the_cookie_and_reflex_still_cleans_up() -> None:
    app = App()
    socket_cookies.install(app)
    app.event_namespace._build_static_router_data("sid-1", {"headers": {"cookie": COOKIE}})
    app.event_namespace.on_disconnect("sid-1", "client disconnect")  # python-socketio may pass a reason
    assert socket_cookies.cookie_header("sid-1") == ""
    assert app.event_namespace.disconnected == ["sid-1"]


def test_install_is_idempotent() -> None:
    app = App()
    socket_cookies.install(app)
    socket_cookies.install(app)
    app.event_namespace._build_static_router_data("sid-1", {"headers": {"cookie": COOKIE}})
    app.event_namespace.on_disconnect("sid-1")
    assert app.event_namespace.disconnected == ["sid-1"]  # wrapped once, not twice


def test_a_reflex_without_the_hook_refuses_to_start() -> None:
    class Bare:
        event_namespace = object()

    with pytest.raises(RuntimeError, match="_build_static_router_data"):
        socket_cookies.install(Bare())


def test_the_real_reflex_namespace_has_the_hook() -> None:
    from reflex.app import EventNamespace

    assert callable(getattr(EventNamespace, "_build_static_router_data", None))
