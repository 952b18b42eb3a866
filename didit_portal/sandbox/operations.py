"""Session operations: create, read, outcomes, manual updates, reviews and deletion.

Contract references: vendor_data idempotency §2.1, outcomes §10.4, manual updates and resubmission §2.4.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from didit_portal.sandbox import scenarios
from didit_portal.sandbox.core import EngineCore, Session, not_found
from didit_portal.sandbox.scenarios import SCENARIOS, OutcomePlan
from didit_portal.sandbox.store import dumps, loads
from didit_portal.sandbox.types import EngineError, OutcomeResult
from didit_portal.sandbox.util import iso
from didit_portal.sandbox.validation import CreateRequest
from didit_portal.sandbox.workflows import FEATURES, nodes_of, resolve_feature_name

#: Statuses a vendor_data-idempotent create may reuse (contract §2.1).
UNFINISHED = ("Not Started", "In Progress", "Resubmitted", "Awaiting User")
#: Statuses from which update-status may move a session (contract §2.4).
MANUAL_FROM = ("Approved", "Declined", "In Review", "Kyc Expired", "Abandoned", "Resubmitted")
MANUAL_TO = ("Approved", "Declined", "Resubmitted")
HOSTED_OUTCOMES = ("approve", "decline", "review", "abandon")


class SessionOperations(EngineCore):
    """Everything the v3 API and the control API do to sessions."""


    def session_url(self, token: str, language: str | None) -> str:
        """The hosted URL of a session (with the ``/{lang}/`` segment when a language was requested)."""
        base = self.config.public_url
        return f"{base}/{language}/session/{token}" if language else f"{base}/session/{token}"

    def _has_prior_liveness_approval(self, conn: sqlite3.Connection, vendor_data: str | None) -> bool:
        if not vendor_data:
            return False
        for row in conn.execute("SELECT data FROM sessions WHERE vendor_data = ? AND status = 'Approved'",
                                (vendor_data,)):
            if any(f["feature"] == "LIVENESS" for f in loads(row["data"])["features"]):
                return True
        return False

    def create_session(self, req: CreateRequest, *, legacy: bool = False) -> dict[str, Any]:
        """Create a session, or return the user's unfinished one (Didit's idempotency rule, contract §2.1).

        Args:
            req: The validated request.
            legacy: True for ``POST /v2/session/`` (its response lacks ``workflow_version``/``session_kind``).

        Returns:
            The create response body (always answered with 201).
        """
        wf = self.workflows.resolve(req.workflow_id)
        callback = req.callback if req.callback is not None else wf.get("callback")
        with self.store.tx() as conn:
            if wf["workflow_type"] == "biometric_authentication" and not req.has_portrait \
                    and not self._has_prior_liveness_approval(conn, req.vendor_data):
                field = "vendor_data" if legacy else "portrait_image"
                raise EngineError(400, {field: [
                    "Biometric authentication needs portrait_image, or the vendor_data of a user with an "
                    "approved session that included liveness."]})
            if req.vendor_data is not None:
                reused = self._reusable(conn, req.vendor_data, wf)
                if reused is not None:
                    reused["data"]["callback"] = callback
                    reused["data"]["metadata"] = req.metadata
                    self._save(conn, reused)
                    return self.present(reused, legacy=legacy)
            s = self._insert(conn, wf, req, callback)
        self._notify()  # a reuse check may have fired an expiry timer
        return self.present(s, legacy=legacy)

    def _reusable(self, conn: sqlite3.Connection, vendor_data: str, wf: dict[str, Any]) -> Session | None:
        rows = conn.execute(
            "SELECT * FROM sessions WHERE vendor_data = ? AND workflow_id = ? AND workflow_version = ? "
            "AND status IN (?, ?, ?, ?) ORDER BY created_at DESC",
            (vendor_data, wf["uuid"], wf["version"], *UNFINISHED),
        ).fetchall()
        for row in rows:
            s = self._row_to_session(row)
            self._apply_timers(conn, s)  # an overdue session has really expired: never hand it out again
            if s["status"] in UNFINISHED:
                return s
        return None

    def _insert(self, conn: sqlite3.Connection, wf: dict[str, Any], req: CreateRequest,
                callback: str | None) -> Session:
        now = self.clock()
        session_id = self.ids.new_uuid("session")
        token = self.ids.new_token("session_token")
        data = {
            "url": self.session_url(token, req.language), "workflow_label": wf["workflow_label"],
            "workflow_type": wf["workflow_type"], "features": wf["features"], "callback": callback,
            "callback_method": req.callback_method, "metadata": req.metadata, "language": req.language,
            "contact_details": req.contact_details, "expected_details": req.expected_details,
            "has_portrait": req.has_portrait, "scenario": req.sandbox_scenario, "nodes": {}, "reviews": [],
            "expires_at": now + self.config.session_expiry, "initiator_device": None, "completer_device": None,
        }
        s: Session = {"session_id": session_id, "session_number": self.store.next_counter("session_number"),
                      "token": token, "workflow_id": wf["uuid"], "workflow_version": wf["version"],
                      "vendor_data": req.vendor_data, "status": "Not Started", "created_at": now,
                      "updated_at": now, "data": data}
        conn.execute(
            "INSERT INTO sessions (session_id, session_number, token, workflow_id, workflow_version, vendor_data, "
            "status, created_at, updated_at, due_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, s["session_number"], token, s["workflow_id"], s["workflow_version"], s["vendor_data"],
             s["status"], now, now, self._due_at(s), dumps(data)),
        )
        return s

    def present(self, s: Session, *, legacy: bool = False, full: bool = False) -> dict[str, Any]:
        """The create/get response body of a session.

        Args:
            s: The session.
            legacy: v2 shape (no ``workflow_version``, no ``session_kind``).
            full: Add the get-only fields (``callback_method``, ``resubmit_info``).

        Returns:
            The JSON body.
        """
        data = s["data"]
        body: dict[str, Any] = {
            "session_id": s["session_id"], "session_number": s["session_number"], "session_token": s["token"],
            "url": data["url"], "vendor_data": s["vendor_data"], "metadata": data.get("metadata"),
            "status": s["status"], "workflow_id": s["workflow_id"],
        }
        if not legacy:
            body["workflow_version"] = s["workflow_version"]
        body["callback"] = data.get("callback")
        if not legacy:
            body["session_kind"] = "user"
        if full:
            body["callback_method"] = data.get("callback_method", "initiator")
            if data.get("resubmit_info"):
                body["resubmit_info"] = data["resubmit_info"]
        return body

    def get_session(self, session_id: str) -> dict[str, Any]:
        """``GET /v3/session/{id}/``: the create shape with the current status."""
        return self.present(self._read(session_id), full=True)

    def get_decision(self, session_id: str) -> dict[str, Any]:
        """``GET /v3/session/{id}/decision/``."""
        return self.decision(self._read(session_id))

    def load(self, session_id: str) -> Session:
        """Return a session (timers applied) for read-only callers such as listing and the PDF."""
        return self._read(session_id)

    def all_sessions(self) -> list[Session]:
        """Every session, timers applied first, newest first."""
        self.sweep()
        with self.store.read() as conn:
            rows = conn.execute("SELECT * FROM sessions ORDER BY created_at DESC, session_number DESC").fetchall()
        return [self._row_to_session(r) for r in rows]

    # ------------------------------------------------------------------ outcomes

    def _plan_for(self, s: Session, outcome: str) -> OutcomePlan:
        features = [f["feature"] for f in s["data"]["features"]]
        armed = s["data"].get("scenario")
        # The armed scenario shapes the outcome it belongs to; a different explicit outcome overrides it (§10.3).
        slug = armed if armed and SCENARIOS[armed].outcome == outcome else outcome
        return scenarios.plan(slug, features)

    def _apply_plan(self, s: Session, plan: OutcomePlan) -> None:
        data = s["data"]
        nodes: dict[str, Any] = data.setdefault("nodes", {})
        redo = data.get("resubmit_nodes")
        workflow_nodes = [n for n in nodes_of(data["features"]) if redo is None or n[0] in redo]
        if plan.outcome == "abandon":
            if not nodes and workflow_nodes:
                first = next((n for n in workflow_nodes if not n[2].get("fallback")), workflow_nodes[0])
                nodes[first[0]] = {"status": "Approved", "slug": None, "risk": None, "target": False}
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
            nodes[node_id] = {"status": plan.status if is_target else "Approved", "slug": plan.slug,
                              "risk": plan.risk if is_target else None, "target": is_target}

    def apply_outcome(self, session_id: str, outcome: str, *, nodes_to_resubmit: Any = None,
                      device_id: str | None = None, conflict: int = 409) -> OutcomeResult:
        """Apply a control-API or hosted-page outcome (contract §10.4).

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
        with self.store.tx() as conn:
            s = self._fresh(conn, session_id)
            if s is None:
                raise not_found()
            previous = s["status"]
            events: list[str] = []
            if kind in HOSTED_OUTCOMES:
                if previous not in ("Not Started", "In Progress", "Resubmitted"):
                    raise EngineError(conflict, {"detail": f"Cannot apply '{kind}' to a session in status "
                                                           f"'{previous}'; use update-status instead."})
                if previous == "Not Started":
                    events.append(self._move(conn, s, "In Progress"))  # Didit passes through In Progress
                plan = self._plan_for(s, kind) if outcome == kind else scenarios.plan(
                    outcome, [f["feature"] for f in s["data"]["features"]])
                self._apply_plan(s, plan)
                if device_id is not None:
                    s["data"]["completer_device"] = device_id
                events.append(self._move(conn, s, plan.status))
            elif kind == "expire":
                if previous not in ("Not Started", "In Progress", "Resubmitted"):
                    raise EngineError(conflict, {"detail": f"Cannot expire a session in status '{previous}'."})
                s["data"]["nodes"] = {}
                events.append(self._move(conn, s, "Expired"))
            elif kind == "kyc_expire":
                if previous != "Approved":
                    raise EngineError(conflict, {"detail": "Only an Approved session can reach Kyc Expired."})
                events.append(self._move(conn, s, "Kyc Expired"))
            else:  # resubmit
                events.append(self._resubmit(conn, s, nodes_to_resubmit, None, status_error=conflict))
        self._notify()
        return OutcomeResult(session_id, previous, s["status"], events)

    # ------------------------------------------------------------------ manual updates

    def _pick_nodes(self, s: Session, raw: Any) -> list[tuple[str, str]]:
        """Resolve ``nodes_to_resubmit`` (or the default: every node not Approved) to ``(node_id, feature)``."""
        data = s["data"]
        wf_nodes = {node_id: (spec, config) for node_id, spec, config in nodes_of(data["features"])}
        nodes = data.get("nodes", {})
        if raw is None:
            return [(node_id, spec.feature) for node_id, (spec, config) in wf_nodes.items()
                    if not (config.get("fallback") and node_id not in nodes)
                    and nodes.get(node_id, {}).get("status", "Not Finished") != "Approved"]
        if not isinstance(raw, list):
            raise EngineError(400, {"nodes_to_resubmit": ['Expected a list of items but got type "str".']})
        picked: list[tuple[str, str]] = []
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("node_id"), str) \
                    or not isinstance(item.get("feature"), str):
                raise EngineError(400, {"nodes_to_resubmit": ["Each item needs 'node_id' and 'feature'."]})
            node_id, raw_feature = item["node_id"], item["feature"].strip().upper()
            if raw_feature in ("KYB_REGISTRY", "KYB_KEY_PEOPLE", "KYB"):
                raise EngineError(400, {"nodes_to_resubmit": [f"Feature '{raw_feature}' cannot be resubmitted."]})
            if node_id not in wf_nodes:
                raise EngineError(400, {"nodes_to_resubmit": [f"Unknown node_id '{node_id}'."]})
            spec = wf_nodes[node_id][0]
            feature = resolve_feature_name(raw_feature)
            face_alias = feature == "FACE" and spec.feature in ("LIVENESS", "FACE_MATCH", "AGE_ESTIMATION")
            if feature != spec.feature and not face_alias:
                raise EngineError(400, {"nodes_to_resubmit": [
                    f"Node '{node_id}' is a {spec.feature} node, not {raw_feature}."]})
            if (node_id, spec.feature) not in picked:
                picked.append((node_id, spec.feature))
        return picked

    def _review(self, s: Session, new_status: str | None, comment: str | None, user: str = "api") -> dict[str, Any]:
        review = {"id": self.ids.new_uuid("review"), "user": user, "new_status": new_status, "comment": comment,
                  "created_at": iso(self.clock())}
        s["data"].setdefault("reviews", []).append(review)
        return review

    def _resubmit(self, conn: sqlite3.Connection, s: Session, raw_nodes: Any, comment: str | None, *,
                  status_error: int) -> str:
        if s["status"] not in MANUAL_FROM or s["status"] == "Resubmitted":
            raise EngineError(status_error, {"detail": f"Cannot resubmit a session in status '{s['status']}'."})
        picked = self._pick_nodes(s, raw_nodes)
        if not picked:
            raise EngineError(400, {"nodes_to_resubmit": ["There are no nodes to resubmit."]})
        data = s["data"]
        nodes = data.setdefault("nodes", {})
        redo: list[str] = []
        for node_id, feature in picked:
            if FEATURES[feature].backend:
                # Backend checks re-run at once with the data already on file (contract §2.4).
                nodes[node_id] = {"status": "Approved", "slug": None, "risk": None, "target": False}
            else:
                nodes.pop(node_id, None)  # its data is deleted; the user redoes the step at the same URL
                redo.append(node_id)
        data["resubmit_nodes"] = redo
        reason = comment or "Please repeat this step."
        data["resubmit_info"] = {"nodes_to_resubmit": [{"node_id": n, "feature": f} for n, f in picked],
                                 "reasons": {n: reason for n, _ in picked}}
        data["expires_at"] = self.clock() + self.config.session_expiry  # the expiry window restarts
        self._review(s, "Resubmitted", comment)
        return self._move(conn, s, "Resubmitted")

    def update_status(self, session_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /v3/session/{id}/update-status/`` (contract §2.4): current status first, then the body.

        Args:
            session_id: The session.
            body: The parsed JSON body.

        Returns:
            ``{"session_id", "session_kind"}``.
        """
        with self.store.tx() as conn:
            s = self._fresh(conn, session_id)
            if s is None:
                raise not_found()
            if s["status"] not in MANUAL_FROM:
                raise EngineError(400, {"detail": f"Cannot update the status of a session in status "
                                                  f"'{s['status']}'."})
            if not isinstance(body, dict):
                raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
            new_status = body.get("new_status")
            if new_status is None:
                raise EngineError(400, {"new_status": ["This field is required."]})
            if new_status not in MANUAL_TO:
                raise EngineError(400, {"new_status": [f'"{new_status}" is not a valid choice.']})
            if new_status == s["status"]:
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
            if new_status == "Resubmitted":
                self._resubmit(conn, s, body.get("nodes_to_resubmit"), comment, status_error=400)
            else:
                self._review(s, new_status, comment)
                self._move(conn, s, new_status)
        self._notify()
        return {"session_id": session_id, "session_kind": "user"}

    def add_review(self, session_id: str, body: Any) -> dict[str, Any]:
        """``POST /v3/sessions/{id}/reviews/``: a note, optionally moving the status (In Review allowed here)."""
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        comment, new_status = body.get("comment"), body.get("new_status")
        if comment is not None and not isinstance(comment, str):
            raise EngineError(400, {"comment": ["Not a valid string."]})
        if new_status is not None and new_status not in ("Approved", "Declined", "In Review"):
            raise EngineError(400, {"new_status": [f'"{new_status}" is not a valid choice.']})
        if comment is None and new_status is None:
            raise EngineError(400, {"comment": ["This field is required."]})
        with self.store.tx() as conn:
            s = self._fresh(conn, session_id)
            if s is None:
                raise not_found()
            if new_status is not None and (s["status"] not in MANUAL_FROM or new_status == s["status"]):
                raise EngineError(400, {"new_status": [f"Cannot move a session from '{s['status']}' to "
                                                       f"'{new_status}'."]})
            review = self._review(s, new_status, comment)
            if new_status is not None:
                self._move(conn, s, new_status)
            else:
                self._save(conn, s)
        self._notify()
        return review

    def reviews(self, session_id: str) -> list[dict[str, Any]]:
        """The session's reviews, oldest first."""
        return list(self._read(session_id)["data"].get("reviews", []))

    def delete_session(self, session_id: str) -> None:
        """Delete a session permanently, with its outbox events and delivery log."""
        with self.store.tx() as conn:
            if conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,)).rowcount == 0:
                raise not_found()
            conn.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM attempts WHERE session_id = ?", (session_id,))

    def batch_delete(self, body: Any) -> dict[str, Any]:
        """``POST /v3/sessions/delete/``: ``{"session_numbers": [...]}`` or ``{"delete_all": true}``."""
        if not isinstance(body, dict) or not (body.get("delete_all") is True or "session_numbers" in body):
            raise EngineError(400, ["Provide either 'session_numbers' or 'delete_all'."])
        if body.get("delete_all") is True:
            with self.store.read() as conn:
                ids = [r["session_id"] for r in conn.execute("SELECT session_id FROM sessions")]
        else:
            numbers = body.get("session_numbers")
            if not isinstance(numbers, list) or not all(isinstance(n, int) and not isinstance(n, bool)
                                                        for n in numbers):
                raise EngineError(400, {"session_numbers": ["Expected a list of integers."]})
            with self.store.read() as conn:
                ids = [r["session_id"] for r in conn.execute(
                    # Only "?" placeholders are interpolated, never values.
                    f"SELECT session_id FROM sessions WHERE session_number IN ({','.join('?' * len(numbers))})",  # noqa: S608
                    numbers)] if numbers else []
        for session_id in ids:
            self.delete_session(session_id)
        return {"deleted": len(ids)}
