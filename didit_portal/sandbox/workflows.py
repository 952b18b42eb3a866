"""Workflows: feature catalogue, preloaded workflows and the management API rules (contract §7.1).

The preloaded workflows have fixed UUIDs; the management API creates, edits (a new version) and deletes.

A session copies its workflow's features and version when it is created, so editing or deleting a workflow never
changes sessions already running on it (Didit pins sessions to the published version).
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.store import Store, dumps, loads
from didit_portal.sandbox.types import EngineError
from didit_portal.sandbox.util import iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureSpec:
    """How one workflow feature shows up in decisions and on the hosted page."""

    feature: str  #: workflow enum, e.g. ``OCR``
    name: str  #: name in the decision's ``features[]`` and in warnings, e.g. ``ID_VERIFICATION``
    array: str  #: the decision's plural array, e.g. ``id_verifications``
    node_id: str  #: the sandbox's node id, e.g. ``feature_ocr``
    steps: tuple[str, ...]  #: hosted steps, in order; empty for native-only and backend features
    backend: bool = False  #: runs server-side (AML, IP, database): re-runs at once after a resubmission
    price: float = 0.0


FEATURES: dict[str, FeatureSpec] = {
    spec.feature: spec
    for spec in (
        FeatureSpec("OCR", "ID_VERIFICATION", "id_verifications", "feature_ocr",
                    ("document_selection", "document_front", "document_back"), price=0.15),
        FeatureSpec("NFC", "NFC", "nfc_verifications", "feature_nfc", (), price=0.1),
        FeatureSpec("LIVENESS", "LIVENESS", "liveness_checks", "feature_liveness", ("face",), price=0.1),
        FeatureSpec("FACE_MATCH", "FACE_MATCH", "face_matches", "feature_face_match", ("face",), price=0.05),
        FeatureSpec("AGE_ESTIMATION", "AGE_ESTIMATION", "liveness_checks", "feature_age_estimation", ("face",),
                    price=0.1),
        FeatureSpec("PHONE_VERIFICATION", "PHONE", "phone_verifications", "feature_phone", ("phone",), price=0.1),
        FeatureSpec("EMAIL_VERIFICATION", "EMAIL_VERIFICATION", "email_verifications", "feature_email", ("email",),
                    price=0.03),
        FeatureSpec("PROOF_OF_ADDRESS", "POA", "poa_verifications", "feature_poa", ("poa",), price=0.2),
        FeatureSpec("QUESTIONNAIRE", "QUESTIONNAIRE", "questionnaire_responses", "feature_questionnaire",
                    ("questionnaire",), price=0.0),
        FeatureSpec("AML", "AML", "aml_screenings", "feature_aml", (), backend=True, price=0.2),
        FeatureSpec("IP_ANALYSIS", "IP_ANALYSIS", "ip_analyses", "feature_ip_analysis", (), backend=True, price=0.0),
        FeatureSpec("DATABASE_VALIDATION", "DATABASE_VALIDATION", "database_validations",
                    "feature_database_validation", (), backend=True, price=0.3),
    )
}

#: Every plural array a v3 decision carries; those the workflow lacks are ``[]``, never null (contract §2.3).
DECISION_ARRAYS: tuple[str, ...] = (
    "id_verifications", "nfc_verifications", "liveness_checks", "face_matches", "phone_verifications",
    "email_verifications", "poa_verifications", "aml_screenings", "ip_analyses", "database_validations",
    "questionnaire_responses", "signatures", "bank_verifications",
)

#: Names a client may use for a feature in ``nodes_to_resubmit`` (didit-sdk's aliases, contract §2.4).
FEATURE_ALIASES: dict[str, str] = {
    "ID_VERIFICATION": "OCR", "OCR_BACK": "OCR", "POA": "PROOF_OF_ADDRESS", "PHONE": "PHONE_VERIFICATION",
    "EMAIL": "EMAIL_VERIFICATION",
}
KYB_FEATURES = frozenset({"KYB_REGISTRY", "KYB_DOCUMENTS", "KYB_KEY_PEOPLE", "KYB"})
#: OCR must come before these (contract §7.1).
NEEDS_OCR_FIRST = frozenset({"FACE_MATCH", "NFC", "DATABASE_VALIDATION"})

DEFAULT_FACE_MATCH_CONFIG = {"face_match_score_decline_threshold": 40, "face_match_score_review_threshold": 60}


def _f(feature: str, **config: Any) -> dict[str, Any]:
    if feature == "FACE_MATCH":
        config = {**DEFAULT_FACE_MATCH_CONFIG, **config}
    return {"feature": feature, "config": config}


_KYC = [_f("OCR"), _f("LIVENESS", method="PASSIVE"), _f("FACE_MATCH"), _f("IP_ANALYSIS")]

#: name -> (fixed uuid, label, workflow_type, features). Fixed so tests and scripts can hard-code them.
PRELOADED: dict[str, tuple[str, str, str, list[dict[str, Any]]]] = {
    "kyc": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c01", "KYC", "kyc", _KYC),
    "kyc_aml": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c02", "KYC + AML", "kyc", [*_KYC, _f("AML")]),
    # Adaptive age verification: a selfie estimate; the document (OCR) node only runs as the fallback near the
    # threshold, so it appears in decisions only when it ran.
    "age": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c03", "Adaptive Age Verification", "adaptive_age_verification",
            [_f("AGE_ESTIMATION", age_threshold=18), _f("OCR", fallback=True)]),
    "biometric": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c04", "Biometric Authentication", "biometric_authentication",
                  [_f("LIVENESS", method="PASSIVE"), _f("FACE_MATCH")]),
    "poa": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c05", "Address Verification", "address_verification",
            [_f("PROOF_OF_ADDRESS")]),
    "all_features": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c06", "All features", "kyc", [
        _f("OCR"), _f("NFC"), _f("LIVENESS", method="PASSIVE"), _f("FACE_MATCH"), _f("AGE_ESTIMATION"),
        _f("PHONE_VERIFICATION"), _f("EMAIL_VERIFICATION"), _f("PROOF_OF_ADDRESS"), _f("QUESTIONNAIRE"),
        _f("AML"), _f("IP_ANALYSIS"), _f("DATABASE_VALIDATION"),
    ]),
}

#: The older flat create form: ``workflow_type`` picks a template, ``is_*_enabled`` flags add features.
_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "kyc": [_f("OCR"), _f("LIVENESS", method="PASSIVE"), _f("FACE_MATCH")],
    "adaptive_age_verification": PRELOADED["age"][3],
    "biometric_authentication": PRELOADED["biometric"][3],
    "address_verification": PRELOADED["poa"][3],
    "questionnaire": [_f("QUESTIONNAIRE")],
}
_FLAGS = {
    "is_nfc_enabled": "NFC", "is_liveness_enabled": "LIVENESS", "is_face_match_enabled": "FACE_MATCH",
    "is_aml_enabled": "AML", "is_phone_verification_enabled": "PHONE_VERIFICATION",
    "is_email_verification_enabled": "EMAIL_VERIFICATION", "is_ip_analysis_enabled": "IP_ANALYSIS",
    "is_database_validation_enabled": "DATABASE_VALIDATION", "is_age_estimation_enabled": "AGE_ESTIMATION",
    "is_poa_enabled": "PROOF_OF_ADDRESS", "is_questionnaire_enabled": "QUESTIONNAIRE",
}


def nodes_of(features: list[dict[str, Any]]) -> list[tuple[str, FeatureSpec, dict[str, Any]]]:
    """Return a workflow's nodes in order: ``(node_id, spec, config)``."""
    return [(FEATURES[f["feature"]].node_id, FEATURES[f["feature"]], f.get("config") or {}) for f in features]


def hosted_steps(features: list[dict[str, Any]]) -> list[str]:
    """The hosted page's steps for a workflow, in order and without repeats (fallback nodes excluded)."""
    steps: list[str] = []
    for _node_id, spec, config in nodes_of(features):
        if config.get("fallback"):
            continue
        for step in spec.steps:
            if step not in steps:
                steps.append(step)
    return steps


def resolve_feature_name(name: str) -> str | None:
    """Map a client's feature name (or didit-sdk alias) to the workflow enum; None when unknown."""
    name = name.strip().upper()
    name = FEATURE_ALIASES.get(name, name)
    return name if name in FEATURES or name == "FACE" else None


def unilink_url(public_url: str, workflow_id: str) -> str:
    """The workflow's UniLink: ``/u/{base64(workflow_id)}`` (contract §9)."""
    return f"{public_url}/u/{base64.urlsafe_b64encode(workflow_id.encode()).decode().rstrip('=')}"


def _validate_features(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise EngineError(400, {"features": ["At least one feature is required."]})
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw:
        feature = item.get("feature") if isinstance(item, dict) else item
        if not isinstance(feature, str):
            raise EngineError(400, {"features": ["Each feature must be an object with a 'feature' name."]})
        feature = feature.strip().upper()
        if feature in KYB_FEATURES:
            # [I] the sandbox imitates user (KYC) workflows only.
            raise EngineError(400, {"features": [f"KYB feature '{feature}' is not available in the sandbox."]})
        if feature not in FEATURES:
            raise EngineError(400, {"features": [f'"{feature}" is not a valid choice.']})
        if feature in seen:
            raise EngineError(400, {"features": [f"Feature '{feature}' appears twice."]})
        if feature in NEEDS_OCR_FIRST and "OCR" not in seen:
            raise EngineError(400, {"features": [f"OCR must come before {feature}."]})
        seen.add(feature)
        config = item.get("config") if isinstance(item, dict) else None
        if config is not None and not isinstance(config, dict):
            raise EngineError(400, {"features": ["'config' must be an object."]})
        out.append(_f(feature, **(config or {})))
    return out


def _int_in(body: dict[str, Any], key: str, low: int, high: int, errors: dict[str, list[str]]) -> None:
    if key in body:
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[key] = [f"Ensure this value is an integer between {low} and {high}."]


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

    def _insert(self, conn: Any, wf_id: str, label: str, wf_type: str, features: list[dict[str, Any]], *,
                name: str | None = None, is_default: bool = False, extra: dict[str, Any] | None = None,
                ) -> dict[str, Any]:
        now = self._clock()
        data = {
            "uuid": wf_id, "workflow_id": wf_id, "workflow_label": label, "workflow_type": wf_type,
            "sandbox_name": name, "is_default": is_default, "is_archived": False, "features": features,
            "is_simple_workflow": True, "is_editable": True, "is_white_label_enabled": False,
            "is_desktop_allowed": True, "max_retry_attempts": 3, "retry_window_days": 7,
            "session_expiration_time": 1440, "version": 1, "status": "published", "has_draft": False,
            "callback": None, "updated_at": iso(now), "created_at": iso(now),
        }
        data.update(extra or {})
        conn.execute("INSERT INTO workflows (uuid, data, deleted, created_at) VALUES (?, ?, 0, ?)",
                     (wf_id, dumps(data), now))
        return data

    def present(self, data: dict[str, Any]) -> dict[str, Any]:
        """The management API's view of a stored workflow (prices and UniLink filled in)."""
        total = round(sum(FEATURES[f["feature"]].price for f in data["features"]), 2)
        view = {k: v for k, v in data.items() if k not in ("sandbox_name", "created_at")}
        view.update(total_price=total, min_price=total, max_price=total,
                    workflow_url=unilink_url(self._config.public_url, data["uuid"]))
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
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        errors: dict[str, list[str]] = {}
        label = body.get("workflow_label")
        if not isinstance(label, str) or not label.strip():
            errors["workflow_label"] = ["This field is required."]
        _int_in(body, "max_retry_attempts", 0, 10, errors)
        _int_in(body, "retry_window_days", 1, 365, errors)
        if errors:
            raise EngineError(400, errors)
        wf_type = body.get("workflow_type") or "kyc"
        if "features" in body:
            features = _validate_features(body["features"])
        elif wf_type in _TEMPLATES:
            features = [dict(f) for f in _TEMPLATES[wf_type]]
            for flag, feature in _FLAGS.items():
                if body.get(flag) and all(f["feature"] != feature for f in features):
                    features.append(_f(feature))
            features = _validate_features(features)
        else:
            raise EngineError(400, {"workflow_type": [f'"{wf_type}" is not a valid choice.']})
        extra = {k: body[k] for k in ("is_white_label_enabled", "is_desktop_allowed", "max_retry_attempts",
                                      "retry_window_days", "callback") if k in body}
        with self._store.tx() as conn:
            return self._insert(conn, wf_id, str(label).strip(), str(wf_type), features, extra=extra)

    def register_unknown(self, wf_id: str) -> dict[str, Any]:
        """Register a well-formed but unknown workflow id as a ``kyc`` workflow (non-strict mode)."""
        log.warning("Unknown workflow_id %s: registering it as a 'kyc' sandbox workflow", wf_id)
        with self._store.tx() as conn:
            row = conn.execute("SELECT data FROM workflows WHERE uuid = ?", (wf_id,)).fetchone()
            if row is not None:
                return loads(row["data"])
            return self._insert(conn, wf_id, f"KYC ({wf_id[:8]})", "kyc", [dict(f) for f in _KYC])

    def patch(self, wf_id: str, body: Any) -> dict[str, Any]:
        """Edit a workflow and publish it as a new version.

        Args:
            wf_id: The workflow UUID.
            body: Fields to change.

        Returns:
            The updated workflow.
        """
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        errors: dict[str, list[str]] = {}
        _int_in(body, "max_retry_attempts", 0, 10, errors)
        _int_in(body, "retry_window_days", 1, 365, errors)
        if "workflow_label" in body and (not isinstance(body["workflow_label"], str)
                                         or not body["workflow_label"].strip()):
            errors["workflow_label"] = ["This field may not be blank."]
        if errors:
            raise EngineError(400, errors)
        features = _validate_features(body["features"]) if "features" in body else None
        with self._store.tx() as conn:
            row = conn.execute("SELECT data FROM workflows WHERE uuid = ? AND deleted = 0", (wf_id,)).fetchone()
            if row is None:
                raise EngineError(404, {"detail": "Not found."})
            data = loads(row["data"])
            for key in ("workflow_label", "is_white_label_enabled", "is_desktop_allowed", "max_retry_attempts",
                        "retry_window_days", "callback", "is_default", "is_archived"):
                if key in body:
                    data[key] = body[key]
            if features is not None:
                data["features"] = features
            # Every published edit is a new version: sessions pinned to the old one are never reused (§2.1).
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
        """Find the workflow a create request names, applying the unknown-workflow rule (§7.1).

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
