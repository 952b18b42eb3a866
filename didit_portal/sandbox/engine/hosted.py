"""The engine as the hosted pages see it: the :class:`~didit_portal.sandbox.types.HostedEngine` protocol.

Every method is synchronous and short, so the pages may call it from a threadpool; the store serialises writers
with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from didit_portal.sandbox.engine.auth_data import AuthDataService
from didit_portal.sandbox.engine.outcomes import HOSTED_OUTCOMES, Outcomes
from didit_portal.sandbox.engine.parts import EngineParts
from didit_portal.sandbox.engine.rows import Session, not_found
from didit_portal.sandbox.engine.sessions import SessionOperations
from didit_portal.sandbox.model.features import FEATURES, hosted_steps
from didit_portal.sandbox.model.scenarios import SCENARIOS
from didit_portal.sandbox.model.validation import CreateRequest
from didit_portal.sandbox.types import AuthDataView, EngineError, HostedSession, OutcomeResult

#: Outcomes the page's buttons and an armed scenario may apply.
_PAGE_OUTCOMES = (*HOSTED_OUTCOMES, "expire")


def _hosted(s: Session) -> HostedSession:
    data = s["data"]
    redo = data.get("resubmit_nodes")
    redo_features = [f for f in data["features"] if FEATURES[f["feature"]].node_id in (redo or [])]
    return HostedSession(
        session_id=s["session_id"],
        session_number=s["session_number"],
        session_token=s["token"],
        status=s["status"],
        workflow_id=s["workflow_id"],
        workflow_label=data["workflow_label"],
        steps=hosted_steps(data["features"]),
        resubmit_steps=hosted_steps(redo_features) if redo is not None else None,
        callback=data.get("callback"),
        callback_method=data.get("callback_method", "initiator"),
        language=data.get("language"),
        initiator_device=data.get("initiator_device"),
        armed_outcome=data.get("scenario"),
        expires_at=data.get("expires_at") if s["status"] in ("Not Started", "Resubmitted") else None,
    )


class HostedSessions:
    """Sessions and data-transfer sessions for the hosted pages; implements ``HostedEngine``.

    Args:
        parts: The engine's configuration, storage and lower components.
        sessions: The session operations (a UniLink visit creates a session).
        outcomes: The outcome component (the page's buttons finish the flow).
    """

    def __init__(self, parts: EngineParts, sessions: SessionOperations, outcomes: Outcomes) -> None:
        self._store = parts.store
        self._clock = parts.clock
        self._rows = parts.rows
        self._lifecycle = parts.lifecycle
        self._outbox = parts.outbox
        self._workflows = parts.workflows
        self._auth_data: AuthDataService = parts.auth_data
        self._sessions = sessions
        self._outcomes = outcomes

    def session_by_token(self, token: str) -> HostedSession | None:
        """Find a session by its token, timers applied."""
        session_id = self._rows.id_for_token(token)
        return None if session_id is None else self.session_by_id(session_id)

    def session_by_id(self, session_id: str) -> HostedSession | None:
        """Find a session by id, timers applied."""
        try:
            return _hosted(self._lifecycle.read(session_id))
        except EngineError:
            return None

    def mark_opened(self, session_id: str, device_id: str) -> HostedSession:
        """Record a device opening the page; the first one becomes the initiator."""
        with self._store.tx() as conn:
            s = self._lifecycle.fresh(conn, session_id)
            data = s["data"]
            if data.get("initiator_device") is None:
                data["initiator_device"] = device_id
                data["opened_at"] = self._clock()
                self._rows.save(conn, s)
        self._outbox.notify()
        return _hosted(s)

    def start(self, session_id: str, device_id: str) -> HostedSession:
        """``Not Started``/``Resubmitted`` → ``In Progress``; idempotent when already in progress."""
        with self._store.tx() as conn:
            s = self._lifecycle.fresh(conn, session_id)
            data = s["data"]
            if not data.get("initiator_device"):
                data["initiator_device"] = device_id
            if s["status"] in ("Not Started", "Resubmitted"):
                self._lifecycle.move(conn, s, "In Progress")
            elif s["status"] == "In Progress":
                data["last_activity"] = self._clock()
                self._rows.save(conn, s)
            else:
                raise EngineError(409, {"detail": f"The session is already {s['status']}."})
        self._outbox.notify()
        return _hosted(s)

    def finish(self, session_id: str, outcome: str | None, device_id: str) -> OutcomeResult:
        """Apply the hosted page's outcome (None: the armed scenario, else approve); committed on return."""
        chosen: str
        if outcome is None:
            armed = self._lifecycle.read(session_id)["data"].get("scenario")
            chosen = armed if armed and SCENARIOS[armed].outcome in _PAGE_OUTCOMES else "approve"
        elif outcome in _PAGE_OUTCOMES:
            chosen = outcome
        else:
            raise EngineError(400, {"outcome": [f'"{outcome}" is not a valid choice.']})
        return self._outcomes.apply_outcome(session_id, chosen, device_id=device_id)

    def completer_device(self, session_id: str) -> str | None:
        """The device that finished the session, if any."""
        try:
            return self._lifecycle.read(session_id)["data"].get("completer_device")
        except EngineError:
            return None

    def create_unilink_session(self, workflow_id: str) -> HostedSession:
        """Create a session for a UniLink visit, with the workflow's defaults."""
        if self._workflows.get(workflow_id) is None:
            raise not_found()
        req = CreateRequest(
            workflow_id=workflow_id,
            vendor_data=None,
            callback=None,
            callback_method="initiator",
            metadata=None,
            language=None,
            contact_details=None,
            expected_details=None,
            has_portrait=False,
            sandbox_scenario=None,
        )
        body = self._sessions.create_session(req)
        hosted = self.session_by_id(body["session_id"])
        assert hosted is not None  # just created
        return hosted

    def auth_data_by_token(self, token: str) -> AuthDataView | None:
        """Find a data-transfer session by token (expired first when its TTL passed)."""
        return self._auth_data.by_token(token)

    def auth_data_retrieve(self, session_id: str) -> AuthDataView:
        """The scan: ``initialized`` → ``retrieved``."""
        return self._auth_data.retrieve(session_id)

    def auth_data_confirm(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``confirmed``."""
        return self._auth_data.confirm(session_id)

    def auth_data_decline(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``declined``."""
        return self._auth_data.decline(session_id)
