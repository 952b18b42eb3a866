"""Live push to connected end-user pages: which browser tabs watch which session, and the push itself.

A page registers ``(session_id, client_token)`` when it loads; :func:`running` (a lifespan task of the Reflex
app, so once per worker) subscribes to :mod:`didit_portal.services.notify` and, for every
:class:`~didit_portal.services.notify.SessionChanged`, calls the registered page callback for each tab that
watches that session — concurrently, so 50 tabs cost about as much as one. Tabs are dropped when their
websocket disconnects (the app's socket namespace is wrapped once) and, as a safety net, when a push finds
them gone.

The registry holds only ids (Didit session ids and Reflex client tokens): nothing personal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from didit_portal.services import notify
from didit_portal.services.notify import SessionChanged

log = logging.getLogger(__name__)

#: Pushes one change to one tab; returns False when the tab is gone (then it is dropped).
Pusher = Callable[[str, SessionChanged], Awaitable[bool]]


@dataclass
class LiveRegistry:
    """session_id → client tokens of the tabs showing it (and the reverse), per kind of page.

    ``kind`` separates verification pages from share pages: a data-transfer id never reaches a verify page.
    """

    _by_session: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _by_client: dict[str, tuple[str, str]] = field(default_factory=dict)

    def register(self, client_token: str, session_id: str, kind: str = "verify") -> None:
        """Make a tab follow a session (a tab follows one session at a time; the newest wins).

        Args:
            client_token: Reflex's per-tab client token.
            session_id: The Didit session the tab shows.
            kind: ``verify`` or ``share``.
        """
        self.drop(client_token)
        key = (kind, session_id)
        self._by_session.setdefault(key, set()).add(client_token)
        self._by_client[client_token] = key

    def drop(self, client_token: str) -> None:
        """Forget a tab (disconnected, or moved to another session).

        Args:
            client_token: Reflex's per-tab client token.
        """
        key = self._by_client.pop(client_token, None)
        if key is None:
            return
        tokens = self._by_session.get(key)
        if tokens is not None:
            tokens.discard(client_token)
            if not tokens:
                del self._by_session[key]

    def clients(self, session_id: str, kind: str = "verify") -> frozenset[str]:
        """The tabs following a session.

        Args:
            session_id: Didit session id.
            kind: ``verify`` or ``share``.

        Returns:
            Their client tokens.
        """
        return frozenset(self._by_session.get((kind, session_id), ()))

    def __len__(self) -> int:
        return len(self._by_client)


#: Pushes started per event-loop turn (see :func:`dispatch`).
PUSH_CHUNK = 8

#: This worker's registry (module-level: one per process, like the notify listeners).
registry = LiveRegistry()
_pushers: dict[str, Pusher] = {}
_app: Any = None
_tasks: dict[str, asyncio.Task[None]] = {}


def app() -> Any:
    """The running ``rx.App`` (set by :func:`running`).

    Returns:
        The app.

    Raises:
        RuntimeError: Before the app's lifespan started.
    """
    if _app is None:
        raise RuntimeError("live push is not running (register didit_portal.realtime.tabs.running)")
    return _app


def is_connected(client_token: str) -> bool:
    """Whether a tab's websocket is connected to this worker.

    Args:
        client_token: Reflex's per-tab client token.

    Returns:
        True when the app knows a socket for the token.
    """
    return socket_connected(_app, client_token)


def socket_connected(rx_app: Any, client_token: str) -> bool:
    """Whether ``rx_app`` holds a socket for a tab *on this worker*: one dictionary lookup.

    Reflex's public ``token_to_sid`` builds a fresh mapping of every connected tab on each access, which made a
    push to N tabs cost O(N²); the token manager's own ``token_to_socket`` dict is what it is built from. With
    Redis, that dict also caches records of sockets held by other workers; those are not ours to push to: the
    worker that holds a socket handled its page's on_load, so its own registry has the tab (and it alone holds
    the tab's session cookie, see ``realtime/cookies.py``).

    Args:
        rx_app: The ``rx.App`` (or None before start-up).
        client_token: Reflex's per-tab client token.

    Returns:
        True when this worker holds a socket for the token.
    """
    namespace = getattr(rx_app, "event_namespace", None)
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


def spawn_once(key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run ``work()`` in the background unless a task with the same key is still running.

    Used for "start again": every tab of a link may ask at once; one fresh session is enough.

    Args:
        key: Deduplication key (e.g. the link id).
        work: Coroutine factory.

    Returns:
        True when a task was started.
    """
    running_task = _tasks.get(key)
    if running_task is not None and not running_task.done():
        return False
    task = asyncio.get_running_loop().create_task(work(), name=f"live:{key}")
    _tasks[key] = task
    task.add_done_callback(lambda done: _tasks.pop(key, None) if _tasks.get(key) is done else None)
    return True


def set_pusher(kind: str, pusher: Pusher) -> None:
    """Install how changes reach one kind of page (the page's state module does this at import).

    Args:
        kind: ``verify`` or ``share``.
        pusher: Coroutine function ``(client_token, change) -> still_connected``.
    """
    _pushers[kind] = pusher


async def dispatch(change: SessionChanged) -> int:
    """Push one change to every tab following its session, concurrently.

    Args:
        change: What changed.

    Returns:
        How many tabs were pushed to successfully.
    """
    kind = "share" if change.kind == "data_transfer" else "verify"
    pusher = _pushers.get(kind)
    tokens = registry.clients(change.session_id, kind)
    if pusher is None or not tokens:
        return 0
    # A fresh random order for every change: pushes start a chunk at a time, so a fixed order (say, by token)
    # would make the same tabs wait for the whole fan-out on every update.
    ordered = list(tokens)
    random.shuffle(ordered)

    async def staggered(index: int, token: str) -> bool:
        # All pushes run concurrently (a slow tab never holds up the others), but they start PUSH_CHUNK per
        # event-loop turn, so the socket writers send the first tabs' frames while later tabs' states are still
        # being updated: the first tabs get the news in about a millisecond, not after the whole fan-out.
        for _ in range(index // PUSH_CHUNK):
            await asyncio.sleep(0)
        return await pusher(token, change)

    results = await asyncio.gather(*(staggered(i, token) for i, token in enumerate(ordered)),
                                   return_exceptions=True)
    delivered = 0
    for token, result in zip(ordered, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("live push to a page failed: %s", type(result).__name__)
        elif result:
            delivered += 1
        else:
            registry.drop(token)
    return delivered


def _watch_disconnects(app: Any) -> None:
    """Drop a tab from the registry when its websocket disconnects.

    Reflex offers no per-state disconnect hook, so this wraps the socket namespace's ``on_disconnect`` on the
    instance (python-socketio looks the handler up by name on each disconnect).
    """
    namespace = getattr(app, "event_namespace", None)
    if namespace is None or getattr(namespace, "_didit_live_wrapped", False):
        return
    original = namespace.on_disconnect

    def on_disconnect(sid: str, *_reason: Any) -> Any:
        token = namespace.sid_to_token.get(sid)
        if token is not None:
            registry.drop(token)
        return original(sid)  # Reflex's handler takes no reason argument

    namespace.on_disconnect = on_disconnect
    namespace._didit_live_wrapped = True


@contextlib.asynccontextmanager
async def running(rx_app: Any) -> AsyncIterator[None]:
    """Subscribe this worker to session changes for the app's lifetime (register as a lifespan task).

    Args:
        rx_app: The ``rx.App`` (its socket namespace exists by the time lifespan tasks run).

    Yields:
        Nothing.
    """
    global _app  # noqa: PLW0603 -- one app per worker process
    _app = rx_app
    _watch_disconnects(rx_app)
    unsubscribe = notify.subscribe(dispatch)
    try:
        yield
    finally:
        unsubscribe()
        for task in list(_tasks.values()):
            task.cancel()
        _app = None
