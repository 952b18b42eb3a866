"""The hooks into Reflex: cookies kept out of stored state, one disconnect hook, socket ownership, hooks present."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reflex_base import constants

from didit_portal.realtime import cookies as socket_cookies
from didit_portal.realtime import reflex_bridge, tabs

COOKIE = "theme=dark; didit_portal_session=secret-token-value"


class Namespace:
    """The two members of Reflex's EventNamespace that ``install`` wraps, recording what Reflex would do."""

    def __init__(self) -> None:
        self.disconnected: list[str] = []
        self.sid_to_token = {"sid-1": "tab-1"}

    def _build_static_router_data(self, sid: str, environ: dict[str, Any]) -> dict[str, Any]:
        headers = dict(environ["headers"])
        return {
            constants.RouteVar.SESSION_ID: sid,
            constants.RouteVar.HEADERS: headers,
            constants.RouteVar.CLIENT_IP: "203.0.113.9",
        }

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
    reflex_bridge.uninstall()


def test_router_data_loses_the_cookie_and_the_worker_keeps_it() -> None:
    app = App()
    reflex_bridge.install(app)
    data = app.event_namespace._build_static_router_data(
        "sid-1", {"headers": {"cookie": COOKIE, "accept-language": "es"}}
    )
    assert data[constants.RouteVar.HEADERS] == {"accept-language": "es"}  # other headers untouched
    assert COOKIE not in repr(data)
    assert socket_cookies.cookie_header("sid-1") == COOKIE
    assert socket_cookies.cookie_header("sid-2") == ""
    assert socket_cookies.cookie_header(None) == ""


def test_a_socket_without_cookies_holds_nothing() -> None:
    app = App()
    reflex_bridge.install(app)
    app.event_namespace._build_static_router_data("sid-1", {"headers": {"accept-language": "en"}})
    assert socket_cookies.connected() == 0


def test_disconnect_forgets_the_cookie_and_the_tab_and_reflex_still_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = tabs.TabRegistry()
    monkeypatch.setattr(tabs, "registry", registry)
    app = App()
    reflex_bridge.install(app)
    app.event_namespace._build_static_router_data("sid-1", {"headers": {"cookie": COOKIE}})
    registry.follow("tab-1", "queue")
    app.event_namespace.on_disconnect("sid-1", "client disconnect")  # python-socketio may pass a reason
    assert socket_cookies.cookie_header("sid-1") == ""
    assert registry.clients("queue") == frozenset()
    assert app.event_namespace.disconnected == ["sid-1"]


def test_install_is_idempotent() -> None:
    app = App()
    reflex_bridge.install(app)
    reflex_bridge.install(app)
    app.event_namespace._build_static_router_data("sid-1", {"headers": {"cookie": COOKIE}})
    app.event_namespace.on_disconnect("sid-1")
    assert app.event_namespace.disconnected == ["sid-1"]  # wrapped once, not twice


def test_a_reflex_without_the_hook_refuses_to_start() -> None:
    class Bare:
        event_namespace = object()

    with pytest.raises(RuntimeError, match="_build_static_router_data"):
        reflex_bridge.install(Bare())


def test_the_real_reflex_namespace_has_the_hook() -> None:
    from reflex.app import EventNamespace

    assert callable(getattr(EventNamespace, "_build_static_router_data", None))


def test_app_is_known_once_installed() -> None:
    with pytest.raises(RuntimeError):
        reflex_bridge.app()
    app = App()
    reflex_bridge.install(app)
    assert reflex_bridge.app() is app


async def test_is_connected_reads_reflexs_own_token_manager() -> None:
    from reflex.utils.token_manager import LocalTokenManager

    manager = LocalTokenManager()
    await manager.link_token_to_sid("tab-1", "sid-1")

    class Namespace:
        _token_manager = manager

        @property
        def token_to_sid(self) -> dict[str, str]:  # the slow public mapping must not be needed
            raise AssertionError("token_to_sid rebuilds a mapping of every tab on each access")

    class FastApp:
        event_namespace = Namespace()

    assert not reflex_bridge.is_connected("tab-1")  # nothing installed yet
    reflex_bridge._app = FastApp()  # pyright: ignore[reportPrivateUsage]
    assert reflex_bridge.is_connected("tab-1")
    assert not reflex_bridge.is_connected("tab-2")


async def test_is_connected_ignores_sockets_of_other_workers() -> None:
    from reflex.utils.token_manager import LocalTokenManager, SocketRecord

    manager = LocalTokenManager()
    await manager.link_token_to_sid("tab-1", "sid-1")
    # With Redis, Reflex caches records of sockets that another worker holds: not ours to push to.
    manager.token_to_socket["tab-elsewhere"] = SocketRecord(instance_id="another-worker", sid="sid-9")

    class Namespace:
        _token_manager = manager

    class OneApp:
        event_namespace = Namespace()

    reflex_bridge._app = OneApp()  # pyright: ignore[reportPrivateUsage]
    assert reflex_bridge.is_connected("tab-1")
    assert not reflex_bridge.is_connected("tab-elsewhere")


def test_the_real_reflex_has_every_hook_the_bridge_uses() -> None:
    """A Reflex upgrade that moves any of these fails here, before a page silently stops updating."""
    from reflex.app import EventNamespace
    from reflex.istate.manager.token import BaseStateToken
    from reflex.utils.token_manager import LocalTokenManager

    assert callable(getattr(EventNamespace, "on_disconnect", None))
    assert "token_to_socket" in vars(LocalTokenManager())
    assert "instance_id" in vars(LocalTokenManager()) or hasattr(LocalTokenManager, "instance_id")
    assert {"ident", "cls"} <= set(BaseStateToken.__dataclass_fields__)


def test_stored_tab_state_is_sealed_and_an_unsealed_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    from didit_portal import security

    monkeypatch.setattr(security, "_state", {})  # this test's keys only; the process's come back afterwards

    import reflex as rx
    from reflex.state import BaseState
    from reflex.utils.exceptions import StateSchemaMismatchError

    from didit_portal.security import configure_keys

    class SealProbeState(rx.State):
        last_name: str = ""

    configure_keys(b"k" * 32)
    reflex_bridge.seal_stored_state()
    reflex_bridge.seal_stored_state()  # idempotent
    state = SealProbeState(_reflex_internal_init=True)  # pyright: ignore[reportCallIssue]
    state.last_name = "Zyxwvuts"
    stored = state._serialize()
    assert stored.startswith(reflex_bridge.SEALED_PREFIX)
    assert b"Zyxwvuts" not in stored
    back = BaseState._deserialize(data=stored)
    assert isinstance(back, SealProbeState) and back.last_name == "Zyxwvuts"
    # A plain pickle (written before sealing, or planted in the store) is refused: Reflex starts the tab afresh.
    with pytest.raises(StateSchemaMismatchError):
        BaseState._deserialize(data=pickle.dumps((state._to_schema(), state)))
    # Another key cannot open it either.
    configure_keys(b"o" * 32)
    with pytest.raises(StateSchemaMismatchError):
        BaseState._deserialize(data=stored)


def test_the_state_folder_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Reflex makes ``.states/`` with the umask's permissions; the portal narrows it to its own user."""
    folder = tmp_path / "states"
    folder.mkdir(mode=0o755)
    monkeypatch.setenv("REFLEX_STATES_WORKDIR", str(folder))
    reflex_bridge.install(App())
    assert folder.stat().st_mode & 0o777 == 0o700
