"""Reviewer data edits: the sandbox's stand-in for correcting a session's data in Didit's console.

Didit sends ``data.updated`` when a reviewer edits a session's KYC, proof-of-address or NFC data in its console:
the envelope is a ``status.updated`` one (same session, its current status) with the updated ``decision``
(https://docs.didit.me/integration/webhooks). The console edit is not part of Didit's API, so the sandbox
offers its own control call (``POST /sandbox/sessions/{id}/data``); the event goes through the usual outbox.
"""

from __future__ import annotations

import copy
from typing import Any

from didit_portal.sandbox.engine.decisions import DECISION_STATUSES
from didit_portal.sandbox.engine.parts import EngineParts
from didit_portal.sandbox.model.decision.edits import apply_edits, validate_edits
from didit_portal.sandbox.types import EngineError


class DataEdits:
    """Applies reviewer edits to a session's decision data and emits ``data.updated``.

    Args:
        parts: The engine's configuration, storage and lower components.
    """

    def __init__(self, parts: EngineParts) -> None:
        self._store = parts.store
        self._lifecycle = parts.lifecycle
        self._rows = parts.rows
        self._outbox = parts.outbox
        self._decisions = parts.decisions

    def edit(self, session_id: str, body: Any) -> dict[str, Any]:
        """Store the edits, then write one ``data.updated`` event in the same transaction.

        Args:
            session_id: The session.
            body: ``{section: {field: value}}``; see :data:`~didit_portal.sandbox.model.decision.edits.EDITABLE`.

        Returns:
            ``{"session_id", "status", "event_id", "decision"}``: the event written and the updated decision.

        Raises:
            EngineError: 400 for a malformed body or a section the session has no data for, 404 for an unknown
                session, 409 when the session has no decision yet (or no longer has one).
        """
        edits = validate_edits(body)
        with self._store.tx() as conn:
            s = self._lifecycle.fresh(conn, session_id)
            if s["status"] not in DECISION_STATUSES:
                raise EngineError(409, {"detail": f"A session in status '{s['status']}' has no decision to edit."})
            built = self._decisions.build(s)
            for section, fields in edits.items():
                # Each section needs a finished node to correct, else there is nothing Didit would show to edit.
                if apply_edits(copy.deepcopy(built), {section: fields}) == 0:
                    raise EngineError(400, {section: ["This session has no such data to edit."]})
            stored: dict[str, dict[str, str]] = s["data"].setdefault("data_edits", {})
            for section, fields in edits.items():
                stored.setdefault(section, {}).update(fields)
            self._rows.save(conn, s)
            event_id = self._outbox.emit(conn, s, "data.updated")
        self._outbox.notify()
        return {
            "session_id": session_id,
            "status": s["status"],
            "event_id": event_id,
            "decision": self._decisions.build(s),
        }
