"""Identifiers the sandbox hands out: UUIDs, 12-character session tokens, and the fixed application id.

Without a seed, ids are random (UUID4, ``secrets``). With ``--seed N`` every id is
``uuid5(NAMESPACE, f"{N}:{kind}:{counter}")`` and tokens come from the same hash, so a rerun against a fresh
database hands out identical ids (a sandbox-only feature). Counters live in the store, so they continue across restarts
and stay unique when two processes share one database file.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable

#: Namespace for seeded uuid5 ids; any fixed UUID works, this one is the sandbox's own.
NAMESPACE = uuid.UUID("6f1d3c0e-2b7a-4c59-8e43-5a9d0b1c2e3f")
#: The one application every sandbox session belongs to (Didit's ``application_id``).
APPLICATION_ID = "5e0c9a4b-7d21-4f3a-9b68-2c1d0e4f5a6b"
#: Didit session tokens are 12 URL-safe characters.
TOKEN_LENGTH = 12


class IdFactory:
    """Hands out ids, random or seeded.

    Args:
        seed: The ``--seed`` value, or None for random ids.
        next_counter: Returns the next value (1, 2, …) of a named counter; the store provides it.
    """

    def __init__(self, seed: int | None, next_counter: Callable[[str], int]) -> None:
        self._seed = seed
        self._next = next_counter

    @property
    def seeded(self) -> bool:
        """True when ids are deterministic."""
        return self._seed is not None

    def _seeded_uuid(self, kind: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"{self._seed}:{kind}:{self._next('id:' + kind)}")

    def new_uuid(self, kind: str) -> str:
        """Return a new UUID string for ``kind`` (``session``, ``event``, …).

        Args:
            kind: What the id is for; seeded ids of different kinds never collide.

        Returns:
            The UUID as a lowercase hyphenated string.
        """
        if self._seed is None:
            return str(uuid.uuid4())
        return str(self._seeded_uuid(kind))

    def new_token(self, kind: str = "token") -> str:
        """Return a new 12-character URL-safe token.

        Args:
            kind: Token family (session tokens and data-transfer tokens count separately).

        Returns:
            12 characters from ``[A-Za-z0-9_-]``.
        """
        if self._seed is None:
            return secrets.token_urlsafe(9)[:TOKEN_LENGTH]  # 9 random bytes encode to exactly 12 characters
        raw = self._seeded_uuid(kind).bytes
        return base64.urlsafe_b64encode(raw).decode("ascii")[:TOKEN_LENGTH]
