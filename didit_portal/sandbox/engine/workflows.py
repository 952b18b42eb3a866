"""The workflows component of the engine: workflows kept in the sandbox database.

Didit's workflow docs: https://docs.didit.me/management-api/workflows/create.

The preloaded workflows have fixed UUIDs; the management API creates, edits (a new version) and deletes.

A session copies its workflow's features and version when it is created, so editing or deleting a workflow never
changes sessions already running on it (Didit pins sessions to the published version).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.store import Store, dumps, loads
from didit_portal.sandbox.isotime import iso
from didit_portal.sandbox.model.features import FEATURES
from didit_portal.sandbox.model.workflow_defs import (
    KYC_FEATURES,
    PRELOADED,
    check_int_range,
    features_from_body,
    unilink_url,
    validate_features,
)
from didit_portal.sandbox.types import EngineError

log = logging.getLogger(__name__)

#: Fields a management-API create may set directly, besides the label and features.
_CREATE_FIELDS = ("is_white_label_enabled", "is_desktop_allowed", "max_retry_attempts", "retry_window_days", "callback")
#: Fields a management-API patch may change, besides the features.
_PATCH_FIELDS = ("workflow_label", *_CREATE_FIELDS, "is_default", "is_archived")


def _range_errors(body: Any) -> dict[str, list[str]]:
    """The checks create and patch share: a JSON object, and retry settings in range."""
    if not isinstance(body, dict):
        raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
    errors: dict[str, list[str]] = {}
    check_int_range(body, "max_retry_attempts", 0, 10, errors)
    check_int_range(body, "retry_window_days", 1, 365, errors)
    return errors


class WorkflowRegistry:
    """Workflows kept in the store.

    Args:
        store: The sandbox database.
        config: The sandbox configuration.
        clock: Returns epoch seconds.
    """

    def __init__(self, store: Store, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._config = config
        self._clock = clock

    def ensure_preloaded(self) -> None:
        """Insert the preloaded workflows when missing (their UUIDs never change)."""
        for name, (wf_id, label, wf_type, features) in PRELOADED.items():
            with self._store.tx() as conn:
                if conn.execute("SELECT 1 FROM workflows WHERE uuid = ?", (wf_id,)).fetchone():
                    continue
                self._insert(conn, wf_id, label, wf_type, features, name=name, is_default=name == "kyc")

    def _insert(
        self,
        conn: sqlite3.Connection,
        wf_id: str,
        label: str,
        wf_type: str,
        features: list[dict[str, Any]],
        *,
        name: str | None = None,
        is_default: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = self._clock()
        data = {
            "uuid": wf_id,
            "workflow_id": wf_id,
            "workflow_label": label,
            "workflow_type": wf_type,
            "sandbox_name": name,
            "is_default": is_default,
            "is_archived": False,
            "features": features,
            "is_simple_workflow": True,
            "is_editable": True,
            "is_white_label_enabled": False,
            "is_desktop_allowed": True,
            "max_retry_attempts": 3,
            "retry_window_days": 7,
            "session_expiration_time": 1440,
            "version": 1,
            "status": "published",
            "has_draft": False,
            "callback": None,
            "updated_at": iso(now),
            "created_at": iso(now),
        }
        data.update(extra or {})
        conn.execute(
            "INSERT INTO workflows (uuid, data, deleted, created_at) VALUES (?, ?, 0, ?)", (wf_id, dumps(data), now)
        )
        return data

    def present(self, data: dict[str, Any]) -> dict[str, Any]:
        """The management API's view of a stored workflow (prices and UniLink filled in)."""
        total = round(sum(FEATURES[f["feature"]].price for f in data["features"]), 2)
        view = {k: v for k, v in data.items() if k not in ("sandbox_name", "created_at")}
        view.update(
            total_price=total,
            min_price=total,
            max_price=total,
            workflow_url=unilink_url(self._config.public_url, data["uuid"]),
        )
        return view

    def get(self, wf_id: str, *, include_deleted: bool = False) -> dict[str, Any] | None:
        """Return a stored workflow's data, or None."""
        with self._store.read() as conn:
            row = conn.execute("SELECT data, deleted FROM workflows WHERE uuid = ?", (wf_id,)).fetchone()
        if row is None or (row["deleted"] and not include_deleted):
            return None
        return loads(row["data"])

    def list(self) -> list[dict[str, Any]]:
        """All live workflows, oldest first."""
        with self._store.read() as conn:
            rows = conn.execute("SELECT data FROM workflows WHERE deleted = 0 ORDER BY created_at, uuid").fetchall()
        return [loads(r["data"]) for r in rows]

    def create(self, body: Any, wf_id: str) -> dict[str, Any]:
        """Create a workflow from a management API body (new or flat legacy form).

        Args:
            body: The parsed request body.
            wf_id: The new workflow's UUID.

        Returns:
            The stored workflow.
        """
        label = body.get("workflow_label") if isinstance(body, dict) else None
        errors: dict[str, list[str]] = {}
        if not isinstance(label, str) or not label.strip():
            errors["workflow_label"] = ["This field is required."]
        errors.update(_range_errors(body))  # the label's error comes first, as DRF lists fields
        if errors:
            raise EngineError(400, errors)
        wf_type, features = features_from_body(body)
        extra = {k: body[k] for k in _CREATE_FIELDS if k in body}
        with self._store.tx() as conn:
            return self._insert(conn, wf_id, str(label).strip(), wf_type, features, extra=extra)

    def register_unknown(self, wf_id: str) -> dict[str, Any]:
        """Register a well-formed but unknown workflow id as a ``kyc`` workflow (non-strict mode)."""
        log.warning("Unknown workflow_id %s: registering it as a 'kyc' sandbox workflow", wf_id)
        with self._store.tx() as conn:
            row = conn.execute("SELECT data FROM workflows WHERE uuid = ?", (wf_id,)).fetchone()
            if row is not None:
                return loads(row["data"])
            return self._insert(conn, wf_id, f"KYC ({wf_id[:8]})", "kyc", [dict(f) for f in KYC_FEATURES])

    def patch(self, wf_id: str, body: Any) -> dict[str, Any]:
        """Edit a workflow and publish it as a new version.

        Args:
            wf_id: The workflow UUID.
            body: Fields to change.

        Returns:
            The updated workflow.
        """
        errors = _range_errors(body)
        if "workflow_label" in body and (
            not isinstance(body["workflow_label"], str) or not body["workflow_label"].strip()
        ):
            errors["workflow_label"] = ["This field may not be blank."]
        if errors:
            raise EngineError(400, errors)
        features = validate_features(body["features"]) if "features" in body else None
        with self._store.tx() as conn:
            row = conn.execute("SELECT data FROM workflows WHERE uuid = ? AND deleted = 0", (wf_id,)).fetchone()
            if row is None:
                raise EngineError(404, {"detail": "Not found."})
            data = loads(row["data"])
            for key in _PATCH_FIELDS:
                if key in body:
                    data[key] = body[key]
            if features is not None:
                data["features"] = features
            # Every published edit is a new version: sessions pinned to the old one are never reused
            # (Didit's idempotency rule: https://docs.didit.me/sessions-api/create-session).
            data["version"] = int(data["version"]) + 1
            data["updated_at"] = iso(self._clock())
            conn.execute("UPDATE workflows SET data = ? WHERE uuid = ?", (dumps(data), wf_id))
            return data

    def delete(self, wf_id: str) -> None:
        """Delete a workflow; sessions already running on it keep running (they hold a copy)."""
        with self._store.tx() as conn:
            cur = conn.execute("UPDATE workflows SET deleted = 1 WHERE uuid = ? AND deleted = 0", (wf_id,))
            if cur.rowcount == 0:
                raise EngineError(404, {"detail": "Not found."})

    def resolve(self, raw: Any) -> dict[str, Any]:
        """Find the workflow a create request names, applying the sandbox's own unknown-workflow rule.

        Args:
            raw: The request's ``workflow_id`` value.

        Returns:
            The workflow data.

        Raises:
            EngineError: 400 for a missing, malformed, deleted or (strict mode) unknown id.
        """
        if raw is None or raw == "":
            raise EngineError(400, {"workflow_id": ["This field is required."]})
        try:
            wf_id = str(uuid.UUID(str(raw)))
        except (ValueError, AttributeError):
            raise EngineError(400, {"workflow_id": ["Must be a valid UUID."]}) from None
        with self._store.read() as conn:
            row = conn.execute("SELECT data, deleted FROM workflows WHERE uuid = ?", (wf_id,)).fetchone()
        if row is not None and row["deleted"]:
            raise EngineError(400, {"workflow_id": [f'Invalid pk "{wf_id}" - object does not exist.']})
        data = None if row is None else loads(row["data"])
        if data is None:
            if self._config.strict_workflows:
                raise EngineError(400, {"workflow_id": [f'Invalid pk "{wf_id}" - object does not exist.']})
            data = self.register_unknown(wf_id)
        return data
