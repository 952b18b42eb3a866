"""The engine's manual reviews: update-status, review notes and resubmission requests.

Didit: https://docs.didit.me/sessions-api/update-status. A resubmission deletes the failed nodes' data and lets
the user redo only those steps at the same URL; backend checks (AML, IP, database) re-run at once instead.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from didit_portal.sandbox.engine.parts import EngineParts
from didit_portal.sandbox.engine.rows import Session
from didit_portal.sandbox.isotime import iso
from didit_portal.sandbox.model.features import FEATURES, nodes_of, resolve_feature_name
from didit_portal.sandbox.types import EngineError

#: Statuses from which update-status may move a session (Didit's update-status page, above).
MANUAL_FROM = ("Approved", "Declined", "In Review", "Kyc Expired", "Abandoned", "Resubmitted")
MANUAL_TO = ("Approved", "Declined", "Resubmitted")
_NOT_A_DICT = {"non_field_errors": ["Invalid data. Expected a dictionary."]}


def _default_nodes(s: Session) -> list[tuple[str, str]]:
    """Every node that ran and was not Approved (a fallback that never ran is skipped)."""
    nodes = s["data"].get("nodes", {})
    return [
        (node_id, spec.feature)
        for node_id, spec, config in nodes_of(s["data"]["features"])
        if not (config.get("fallback") and node_id not in nodes)
        and nodes.get(node_id, {}).get("status", "Not Finished") != "Approved"
    ]


def _pick_one(item: Any, wf_nodes: dict[str, Any]) -> tuple[str, str]:
    """Check one ``nodes_to_resubmit`` item against the workflow; returns ``(node_id, feature)``."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("node_id"), str)
        or not isinstance(item.get("feature"), str)
    ):
        raise EngineError(400, {"nodes_to_resubmit": ["Each item needs 'node_id' and 'feature'."]})
    node_id, raw_feature = item["node_id"], item["feature"].strip().upper()
    if raw_feature in ("KYB_REGISTRY", "KYB_KEY_PEOPLE", "KYB"):
        raise EngineError(400, {"nodes_to_resubmit": [f"Feature '{raw_feature}' cannot be resubmitted."]})
    if node_id not in wf_nodes:
        raise EngineError(400, {"nodes_to_resubmit": [f"Unknown node_id '{node_id}'."]})
    spec = wf_nodes[node_id]
    feature = resolve_feature_name(raw_feature)
    # didit-sdk names every face node "FACE".
    face_alias = feature == "FACE" and spec.feature in ("LIVENESS", "FACE_MATCH", "AGE_ESTIMATION")
    if feature != spec.feature and not face_alias:
        raise EngineError(
            400, {"nodes_to_resubmit": [f"Node '{node_id}' is a {spec.feature} node, not {raw_feature}."]}
        )
    return node_id, spec.feature


def pick_nodes(s: Session, raw: Any) -> list[tuple[str, str]]:
    """Resolve ``nodes_to_resubmit`` (or the default: every node not Approved) to ``(node_id, feature)``.

    Raises:
        EngineError: 400 for a malformed list or a node the workflow does not have.
    """
    if raw is None:
        return _default_nodes(s)
    if not isinstance(raw, list):
        raise EngineError(400, {"nodes_to_resubmit": ['Expected a list of items but got type "str".']})
    wf_nodes = {node_id: spec for node_id, spec, _config in nodes_of(s["data"]["features"])}
    picked: list[tuple[str, str]] = []
    for item in raw:
        pair = _pick_one(item, wf_nodes)
        if pair not in picked:
            picked.append(pair)
    return picked


def _update_body(body: Any, current: str) -> tuple[str, str | None]:
    """Validate an update-status body for a session in status ``current``; returns ``(new_status, comment)``."""
    if not isinstance(body, dict):
        raise EngineError(400, dict(_NOT_A_DICT))
    new_status = body.get("new_status")
    if new_status is None:
        raise EngineError(400, {"new_status": ["This field is required."]})
    if new_status not in MANUAL_TO:
        raise EngineError(400, {"new_status": [f'"{new_status}" is not a valid choice.']})
    if new_status == current:
        raise EngineError(400, {"new_status": [f"The session is already {new_status}."]})
    errors: dict[str, list[str]] = {}
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors["comment"] = ["Not a valid string."]
    send_email = body.get("send_email", False)
    if not isinstance(send_email, bool):
        errors["send_email"] = ["Must be a valid boolean."]
    elif send_email and not body.get("email_address"):
        errors["email_address"] = ["This field is required when send_email is true."]
    if errors:
        raise EngineError(400, errors)
    return str(new_status), comment


def _review_body(body: Any) -> tuple[str | None, str | None]:
    """Validate a review note's body; returns ``(comment, new_status)``."""
    if not isinstance(body, dict):
        raise EngineError(400, dict(_NOT_A_DICT))
    comment, new_status = body.get("comment"), body.get("new_status")
    if comment is not None and not isinstance(comment, str):
        raise EngineError(400, {"comment": ["Not a valid string."]})
    if new_status is not None and new_status not in ("Approved", "Declined", "In Review"):
        raise EngineError(400, {"new_status": [f'"{new_status}" is not a valid choice.']})
    if comment is None and new_status is None:
        raise EngineError(400, {"comment": ["This field is required."]})
    return comment, new_status


class ManualReviews:
    """Status changes a reviewer (or the operator's backend) makes by hand.

    Args:
        parts: The engine's configuration, storage and lower components.
    """

    def __init__(self, parts: EngineParts) -> None:
        self._config = parts.config
        self._store = parts.store
        self._ids = parts.ids
        self._clock = parts.clock
        self._rows = parts.rows
        self._lifecycle = parts.lifecycle
        self._outbox = parts.outbox

    def _record(self, s: Session, new_status: str | None, comment: str | None, user: str = "api") -> dict[str, Any]:
        review = {
            "id": self._ids.new_uuid("review"),
            "user": user,
            "new_status": new_status,
            "comment": comment,
            "created_at": iso(self._clock()),
        }
        s["data"].setdefault("reviews", []).append(review)
        return review

    def resubmit(
        self, conn: sqlite3.Connection, s: Session, raw_nodes: Any, comment: str | None, *, status_error: int
    ) -> str:
        """Ask the user to redo some steps: the session becomes Resubmitted with a fresh expiry window.

        Args:
            conn: The open write transaction.
            s: The session, loaded in that transaction.
            raw_nodes: The request's ``nodes_to_resubmit`` (None: every node that did not pass).
            comment: The reviewer's reason, shown per node.
            status_error: HTTP status when the session's status does not allow a resubmission.

        Returns:
            The event id of the move.
        """
        if s["status"] not in MANUAL_FROM or s["status"] == "Resubmitted":
            raise EngineError(status_error, {"detail": f"Cannot resubmit a session in status '{s['status']}'."})
        picked = pick_nodes(s, raw_nodes)
        if not picked:
            raise EngineError(400, {"nodes_to_resubmit": ["There are no nodes to resubmit."]})
        data = s["data"]
        nodes = data.setdefault("nodes", {})
        redo: list[str] = []
        for node_id, feature in picked:
            if FEATURES[feature].backend:
                # Backend checks re-run at once with the data already on file (Didit's update-status page).
                nodes[node_id] = {"status": "Approved", "slug": None, "risk": None, "target": False}
            else:
                nodes.pop(node_id, None)  # its data is deleted; the user redoes the step at the same URL
                redo.append(node_id)
        data["resubmit_nodes"] = redo
        reason = comment or "Please repeat this step."
        data["resubmit_info"] = {
            "nodes_to_resubmit": [{"node_id": n, "feature": f} for n, f in picked],
            "reasons": {n: reason for n, _ in picked},
        }
        data["expires_at"] = self._clock() + self._config.session_expiry  # the expiry window restarts
        self._record(s, "Resubmitted", comment)
        return self._lifecycle.move(conn, s, "Resubmitted")

    def update_status(self, session_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /v3/session/{id}/update-status/``: current status first, then the body, as Didit checks them.

        Args:
            session_id: The session.
            body: The parsed JSON body.

        Returns:
            ``{"session_id", "session_kind"}``.
        """
        with self._store.tx() as conn:
            s = self._lifecycle.fresh(conn, session_id)
            if s["status"] not in MANUAL_FROM:
                raise EngineError(400, {"detail": f"Cannot update the status of a session in status '{s['status']}'."})
            new_status, comment = _update_body(body, s["status"])
            if new_status == "Resubmitted":
                self.resubmit(conn, s, body.get("nodes_to_resubmit"), comment, status_error=400)
            else:
                self._record(s, new_status, comment)
                self._lifecycle.move(conn, s, new_status)
        self._outbox.notify()
        return {"session_id": session_id, "session_kind": "user"}

    def add_review(self, session_id: str, body: Any) -> dict[str, Any]:
        """``POST /v3/sessions/{id}/reviews/``: a note, optionally moving the status (In Review allowed here)."""
        comment, new_status = _review_body(body)
        with self._store.tx() as conn:
            s = self._lifecycle.fresh(conn, session_id)
            if new_status is not None and (s["status"] not in MANUAL_FROM or new_status == s["status"]):
                raise EngineError(
                    400, {"new_status": [f"Cannot move a session from '{s['status']}' to '{new_status}'."]}
                )
            review = self._record(s, new_status, comment)
            if new_status is not None:
                self._lifecycle.move(conn, s, new_status)
            else:
                self._rows.save(conn, s)
        self._outbox.notify()
        return review

    def reviews(self, session_id: str) -> list[dict[str, Any]]:
        """The session's reviews, oldest first."""
        return list(self._lifecycle.read(session_id)["data"].get("reviews", []))
