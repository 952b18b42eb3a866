"""The one module that touches Reflex's internals: cookie capture, socket ownership, state tokens, disconnects.

Reflex (pinned in requirements.txt) offers no public hook for what live pages need, so everything that relies on
its private layout is here, installed once from the app module (:func:`install`), and checked by unit tests that
fail when an upgrade removes a hook (``tests/unit/realtime/``):

* ``EventNamespace._build_static_router_data``: wrapped so a socket's ``Cookie`` header never enters the router
  data Reflex persists (:mod:`.cookies` keeps it in this worker's memory instead). A Reflex without it makes
  :func:`install` refuse to start rather than persist session cookies again.
* ``EventNamespace.on_disconnect``: wrapped once, to forget the socket's cookies and its tab.
* ``EventNamespace._token_manager.token_to_socket``: whether this worker holds a tab's socket, in one lookup.
* ``reflex.istate.manager.token.BaseStateToken``: the key ``app.modify_state`` takes to change one tab's state.
* ``BaseState._serialize`` / ``BaseState._deserialize``: what Reflex stores of a tab (in ``.states/`` or Redis)
  is sealed with AES-256-GCM under a key derived from ``PORTAL_SECRET_KEY`` (:func:`seal_stored_state`): a staff
  tab holds the personal data the database keeps encrypted, and the state store must not undo that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import reflex as rx
from reflex.istate.manager.token import BaseStateToken
from reflex.state import BaseState
from reflex.utils import prerequisites
from reflex.utils.exceptions import StateSchemaMismatchError
from reflex_base import constants

from didit_portal import security
from didit_portal.realtime import cookies, tabs

#: What precedes a sealed tab state in the store (a plain pickle never starts with it).
SEALED_PREFIX = b"didit-sealed-state:v1:"
_STATE_PURPOSE = b"reflex-state/v1"

S = TypeVar("S", bound=rx.State)

_app: Any = None


def install(rx_app: Any) -> None:
    """Hook this worker's live-page plumbing into ``rx_app`` (once per app; call right after creating it).

    Args:
        rx_app: The ``rx.App``.

    Raises:
        RuntimeError: Reflex no longer builds router data the way this relies on (a Reflex upgrade): refuse to
            start rather than persist session cookies again.
    """
    global _app  # noqa: PLW0603 -- one app per worker process
    _app = rx_app
    seal_stored_state()
    _private_states_dir()
    namespace = getattr(rx_app, "event_namespace", None)
    if namespace is None or getattr(namespace, "_didit_portal_hooked", False):
        return
    build = getattr(namespace, "_build_static_router_data", None)
    if build is None:
        raise RuntimeError("Reflex's EventNamespace._build_static_router_data is gone: see realtime/reflex_bridge.py")

    def build_without_cookie(sid: str, environ: dict[str, Any]) -> dict[str, Any]:
        data = build(sid, environ)
        headers = data.get(constants.RouteVar.HEADERS)
        if isinstance(headers, dict) and "cookie" in headers:
            cookies.keep(sid, str(headers["cookie"]))
            data[constants.RouteVar.HEADERS] = {name: value for name, value in headers.items() if name != "cookie"}
        return data

    original_disconnect = namespace.on_disconnect

    def on_disconnect(sid: str, *_reason: Any) -> Any:
        # Reflex offers no per-state disconnect hook; python-socketio looks the handler up by name each time.
        token = getattr(namespace, "sid_to_token", {}).get(sid)
        if token is not None:
            tabs.forget(token)
        cookies.forget(sid)
        return original_disconnect(sid)  # Reflex's handler takes no reason argument

    namespace._build_static_router_data = build_without_cookie
    namespace.on_disconnect = on_disconnect
    namespace._didit_portal_hooked = True


def seal_stored_state() -> None:
    """Make Reflex seal every tab state it stores, and refuse any stored state that is not sealed (once per process).

    Reflex persists each tab's state between events (pickles in ``.states/``, or Redis with several workers). A
    reviewer's tab holds names, document numbers and image URLs that the database keeps only encrypted, so the
    pickle is sealed here (:func:`didit_portal.security.seal`). A stored state that is not sealed (written before
    this, or planted) or does not open (another key) is refused the way Reflex refuses a state of an older
    schema: the tab starts afresh and loads its data again from the database.
    """
    if getattr(BaseState, "_didit_portal_sealed", False):
        return
    plain_serialize = BaseState._serialize
    plain_deserialize = BaseState._deserialize.__func__  # pyright: ignore[reportFunctionMemberAccess]

    def sealed_serialize(self: BaseState) -> bytes:
        return SEALED_PREFIX + security.seal(plain_serialize(self), purpose=_STATE_PURPOSE)

    def sealed_deserialize(cls: type[BaseState], data: bytes | None = None, fp: Any = None) -> BaseState:
        if fp is not None and data is None:
            data = fp.read()
        if data is None or not data.startswith(SEALED_PREFIX):
            raise StateSchemaMismatchError("stored state is not sealed")
        try:
            plain = security.open_sealed(data[len(SEALED_PREFIX) :], purpose=_STATE_PURPOSE)
        except security.DecryptionError as exc:
            raise StateSchemaMismatchError("stored state does not open with this PORTAL_SECRET_KEY") from exc
        return plain_deserialize(cls, data=plain)

    BaseState._serialize = sealed_serialize  # type: ignore[method-assign]
    BaseState._deserialize = classmethod(sealed_deserialize)  # type: ignore[method-assign,assignment]
    BaseState._didit_portal_sealed = True  # type: ignore[attr-defined]


def _private_states_dir() -> None:
    """Make the folder Reflex stores tab states in (``.states/`` with one worker) readable by this user only.

    Its files are sealed (:func:`seal_stored_state`), but which tabs exist and when they changed is nobody
    else's business either; Reflex creates the folder with the umask's permissions.
    """
    folder = prerequisites.get_states_dir().absolute()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def uninstall() -> None:
    """Forget the app (its lifespan ended; tests)."""
    global _app  # noqa: PLW0603 -- one app per worker process
    _app = None


def app() -> Any:
    """The ``rx.App`` this worker serves.

    Returns:
        The app.

    Raises:
        RuntimeError: Before :func:`install`.
    """
    if _app is None:
        raise RuntimeError("live pages are not installed (didit_portal.realtime.install)")
    return _app


def is_connected(client_token: str) -> bool:
    """Whether this worker holds a socket for a tab: one dictionary lookup.

    Reflex's public ``token_to_sid`` builds a fresh mapping of every connected tab on each access, which made a
    push to N tabs cost O(N²); the token manager's own ``token_to_socket`` dict is what it is built from. With
    Redis, that dict also caches records of sockets held by other workers; those are not ours to push to: the
    worker that holds a socket handled its page's on_load, so its own registry has the tab (and it alone holds
    the tab's session cookie).

    Args:
        client_token: Reflex's per-tab client token.

    Returns:
        True when this worker holds a socket for the token.
    """
    namespace = getattr(_app, "event_namespace", None)
    if namespace is None:
        return False
    manager = getattr(namespace, "_token_manager", None)
    sockets = getattr(manager, "token_to_socket", None)
    if isinstance(sockets, dict):
        record = sockets.get(client_token)
        if record is None:
            return False
        owner = getattr(record, "instance_id", None)
        return owner is None or owner == getattr(manager, "instance_id", owner)
    return client_token in namespace.token_to_sid  # another Reflex layout: the slow, public way


@contextlib.asynccontextmanager
async def tab_state(client_token: str, cls: type[S]) -> AsyncIterator[S]:
    """Change one tab's state from outside an event (a push): its delta goes to the browser at the end.

    Args:
        client_token: Reflex's per-tab client token.
        cls: The page's state class.

    Yields:
        The tab's instance of ``cls``, locked for the block.
    """
    async with app().modify_state(BaseStateToken(ident=client_token, cls=cls)) as root:
        yield await root.get_state(cls)
