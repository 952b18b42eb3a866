"""Which browser tabs show what: one registry for end-user and staff pages, keyed by (page kind, id).

A page's ``on_load`` handler calls :func:`follow`; :mod:`.push` looks tabs up by the change it delivers. A Reflex
client token is one browser tab for its whole life, across page navigations, so a tab follows one thing at a
time and the newest ``follow`` wins. Tabs are dropped when their websocket disconnects (:mod:`.reflex_bridge`)
and, as a safety net, when a push finds them gone.

The registry holds only ids (Didit session ids and Reflex client tokens): nothing personal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: ``verify``: an end user's ``/verify`` page (id: Didit session); ``share``: an Auth + Data ``/share`` page (id: the
#: share link); ``queue``: the staff queue (id: :data:`ALL`, every change concerns it); ``session``: a staff session
#: page (id: Didit session).
TabKind = Literal["verify", "share", "queue", "session"]

#: The id queue tabs follow: every session change concerns the queue.
ALL: str = ""


@dataclass
class TabRegistry:
    """(kind, id) → client tokens of the tabs showing it, and the reverse."""

    _by_key: dict[tuple[TabKind, str], set[str]] = field(default_factory=dict)
    _by_client: dict[str, tuple[TabKind, str]] = field(default_factory=dict)

    def follow(self, client_token: str, kind: TabKind, ident: str = ALL) -> None:
        """Make a tab follow one page's subject (a tab follows one at a time; the newest wins).

        Args:
            client_token: Reflex's per-tab client token.
            kind: The kind of page.
            ident: What the page shows (a Didit session id, a data-transfer id; :data:`ALL` for the queue).
        """
        self.drop(client_token)
        key = (kind, ident)
        self._by_key.setdefault(key, set()).add(client_token)
        self._by_client[client_token] = key

    def drop(self, client_token: str) -> None:
        """Forget a tab (disconnected, moved to another page, or gone when pushed to).

        Args:
            client_token: Reflex's per-tab client token.
        """
        key = self._by_client.pop(client_token, None)
        if key is None:
            return
        tokens = self._by_key.get(key)
        if tokens is not None:
            tokens.discard(client_token)
            if not tokens:
                del self._by_key[key]

    def clients(self, kind: TabKind, ident: str = ALL) -> frozenset[str]:
        """The tabs following one subject.

        Args:
            kind: The kind of page.
            ident: The subject's id.

        Returns:
            Their client tokens.
        """
        return frozenset(self._by_key.get((kind, ident), ()))

    def count(self, kind: TabKind) -> int:
        """How many tabs of one kind this worker follows (diagnostics and metrics).

        Args:
            kind: The kind of page.

        Returns:
            The number of tabs.
        """
        return sum(1 for key in self._by_client.values() if key[0] == kind)

    def __len__(self) -> int:
        return len(self._by_client)


#: This worker's registry (module-level: one per process, like the notify listeners).
registry = TabRegistry()


def follow(client_token: str, kind: TabKind, ident: str = ALL) -> None:
    """Make a tab of this worker follow a subject (see :meth:`TabRegistry.follow`).

    Args:
        client_token: Reflex's per-tab client token.
        kind: The kind of page.
        ident: The subject's id.
    """
    registry.follow(client_token, kind, ident)


def forget(client_token: str) -> None:
    """Stop pushing to a tab.

    Args:
        client_token: Reflex's per-tab client token.
    """
    registry.drop(client_token)
