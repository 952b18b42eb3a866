"""The engine's outcomes: what the control API and the hosted page's buttons do to a session.

The control API is the sandbox's own, not part of Didit's API. An outcome is a bare result (``approve``,
``decline``…) or a scenario slug (Didit's sandbox scenarios: https://docs.didit.me/integration/sandbox-testing;
the sandbox accepts more). It resolves to a plan for the session's workflow (which node fails, with which risk
code) that is written into the session's node results before the move.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from didit_portal.sandbox.engine.parts import EngineParts
from didit_portal.sandbox.engine.reviews import ManualReviews
from didit_portal.sandbox.engine.rows import Session
from didit_portal.sandbox.model import scenarios
from didit_portal.sandbox.model.features import nodes_of
from didit_portal.sandbox.model.scenarios import SCENARIOS, OutcomePlan
from didit_portal.sandbox.types import EngineError, OutcomeResult

#: Outcomes that finish a verification the way a user would on the hosted page.
HOSTED_OUTCOMES = ("approve", "decline", "review", "abandon")
#: Statuses a user can still finish from.
_OPEN = ("Not Started", "In Progress", "Resubmitted")
_APPROVED_NODE = {"status": "Approved", "slug": None, "risk": None, "target": False}


def _plan_for(s: Session, outcome: str) -> OutcomePlan:
    features = [f["feature"] for f in s["data"]["features"]]
    armed = s["data"].get("scenario")
    # The armed scenario shapes the outcome it belongs to; a different explicit outcome overrides it (a sandbox rule).
    slug = armed if armed and SCENARIOS[armed].outcome == outcome else outcome
    return scenarios.plan(slug, features)


def _apply_plan(s: Session, plan: OutcomePlan) -> None:
    """Write the plan's node results into the session (only the redone nodes after a resubmission)."""
    data = s["data"]
    nodes: dict[str, Any] = data.setdefault("nodes", {})
    redo = data.get("resubmit_nodes")
    workflow_nodes = [n for n in nodes_of(data["features"]) if redo is None or n[0] in redo]
    if plan.outcome == "abandon":
        if not nodes and workflow_nodes:
            first = next((n for n in workflow_nodes if not n[2].get("fallback")), workflow_nodes[0])
            nodes[first[0]] = dict(_APPROVED_NODE)
        return
    target = plan.feature
    features_here = {spec.feature for _, spec, _ in workflow_nodes}
    if plan.outcome in ("decline", "review") and target not in features_here and workflow_nodes:
        # After a resubmission only the redone nodes change; retarget to one of them.
        target = workflow_nodes[0][1].feature
        risks = scenarios.DECLINE_RISK if plan.outcome == "decline" else scenarios.REVIEW_RISK
        plan = OutcomePlan(plan.outcome, plan.status, target, risks.get(target), None)
    for node_id, spec, config in workflow_nodes:
        is_target = plan.outcome in ("decline", "review") and spec.feature == target
        if config.get("fallback") and not is_target:
            nodes.pop(node_id, None)  # the fallback only runs when its feature decides the outcome
            continue
        nodes[node_id] = {
            "status": plan.status if is_target else "Approved",
            "slug": plan.slug,
            "risk": plan.risk if is_target else None,
            "target": is_target,
        }


class Outcomes:
    """Applies outcomes to sessions.

    Args:
        parts: The engine's configuration, storage and lower components.
        reviews: The manual-review component (an outcome may be a resubmission).
    """

    def __init__(self, parts: EngineParts, reviews: ManualReviews) -> None:
        self._store = parts.store
        self._lifecycle = parts.lifecycle
        self._outbox = parts.outbox
        self._reviews = reviews

    def apply_outcome(
        self,
        session_id: str,
        outcome: str,
        *,
        nodes_to_resubmit: Any = None,
        device_id: str | None = None,
        conflict: int = 409,
    ) -> OutcomeResult:
        """Apply an outcome from the sandbox's own control API (not part of Didit's API) or the hosted page.

        Args:
            session_id: The session.
            outcome: ``approve|decline|review|abandon|expire|kyc_expire|resubmit``, or a scenario slug.
            nodes_to_resubmit: For ``resubmit``: the nodes to redo (default: every failed one).
            device_id: The hosted page's device, recorded as the completer.
            conflict: HTTP status for an illegal move.

        Returns:
            The previous and new status and the event ids, in order.
        """
        if not isinstance(outcome, str) or outcome not in SCENARIOS or outcome == "decline_kyb_registry_mismatch":
            raise EngineError(400, {"outcome": [f'"{outcome}" is not a valid choice.']})
        kind = SCENARIOS[outcome].outcome
        with self._store.tx() as conn:
            s = self._lifecycle.fresh(conn, session_id)
            previous = s["status"]
            if kind in HOSTED_OUTCOMES:
                events = self._finish(conn, s, outcome, device_id, conflict)
            else:
                events = [self._administrative(conn, s, kind, nodes_to_resubmit, conflict)]
        self._outbox.notify()
        return OutcomeResult(session_id, previous, s["status"], events)

    def _finish(
        self, conn: sqlite3.Connection, s: Session, outcome: str, device_id: str | None, conflict: int
    ) -> list[str]:
        """The user finishes the flow: through In Progress, then the plan's status."""
        kind = SCENARIOS[outcome].outcome
        previous = s["status"]
        if previous not in _OPEN:
            raise EngineError(
                conflict,
                {"detail": f"Cannot apply '{kind}' to a session in status '{previous}'; use update-status instead."},
            )
        events: list[str] = []
        if previous == "Not Started":
            events.append(self._lifecycle.move(conn, s, "In Progress"))  # Didit passes through In Progress
        plan = (
            _plan_for(s, kind)
            if outcome == kind
            else scenarios.plan(outcome, [f["feature"] for f in s["data"]["features"]])
        )
        _apply_plan(s, plan)
        if device_id is not None:
            s["data"]["completer_device"] = device_id
        events.append(self._lifecycle.move(conn, s, plan.status))
        return events

    def _administrative(
        self, conn: sqlite3.Connection, s: Session, kind: str, nodes_to_resubmit: Any, conflict: int
    ) -> str:
        """Expiry, KYC expiry or a resubmission request: one move, one event."""
        previous = s["status"]
        if kind == "expire":
            if previous not in _OPEN:
                raise EngineError(conflict, {"detail": f"Cannot expire a session in status '{previous}'."})
            s["data"]["nodes"] = {}
            return self._lifecycle.move(conn, s, "Expired")
        if kind == "kyc_expire":
            if previous != "Approved":
                raise EngineError(conflict, {"detail": "Only an Approved session can reach Kyc Expired."})
            return self._lifecycle.move(conn, s, "Kyc Expired")
        return self._reviews.resubmit(conn, s, nodes_to_resubmit, None, status_error=conflict)
