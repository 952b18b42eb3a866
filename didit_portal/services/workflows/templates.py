"""Didit's workflow templates, and the ``POST /v3/workflows/`` body built from an admin's choices.

Didit's create call takes ``workflow_label``, the ``features`` in execution order (``[{feature, config}]``) and
``max_retry_attempts`` (0 to 10): https://docs.didit.me/management-api/workflows/create. The config fields come from
https://docs.didit.me/management-api/workflows/feature-configs: OCR's ``documents_allowed`` (country → document
type → ``{"enabled": 1}``; omitted means every country and type), LIVENESS's ``face_liveness_method``, FACE_MATCH's
decline and review thresholds (0 to 100), QUESTIONNAIRE's ``questionnaire_uuid``; and its order rules: OCR comes
before FACE_MATCH, NFC, DATABASE_VALIDATION and person AML. The template types are the ``workflow_type`` values of
https://docs.didit.me/management-api/create-settings; what each template may add is
https://docs.didit.me/reference/workflows.

Pure: no database and no network. The form is parsed here so that the state only passes it on, and so that the
rules are tested without a browser.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final


@dataclass(frozen=True)
class Template:
    """One of Didit's workflow templates and the options the form offers for it."""

    #: Didit's ``workflow_type``.
    key: str
    title: str
    #: Option groups shown for it (besides phone, email, IP analysis and retries, which every template has).
    options: frozenset[str] = field(default_factory=frozenset)


#: Didit's templates, in the order the form lists them.
TEMPLATES: Final[dict[str, Template]] = {
    t.key: t
    for t in (
        Template("kyc", "KYC", frozenset({"documents", "liveness", "face_match", "nfc", "aml"})),
        Template("adaptive_age_verification", "Adaptive Age Verification"),
        Template("biometric_authentication", "Biometric Authentication", frozenset({"liveness", "face_match"})),
        Template("address_verification", "Address Verification"),
        Template("questionnaire_verification", "Questionnaire", frozenset({"questionnaire"})),
    )
}
#: Didit's liveness methods (passive selfie, 3D action + flash, 3D flash).
LIVENESS_METHODS: Final = ("PASSIVE", "ACTIVE_3D", "FLASHING")
#: Document types of OCR's ``documents_allowed``, Didit's code → label.
DOCUMENT_TYPES: Final = {"P": "Passport", "ID": "Identity card", "DL": "Driving licence", "RP": "Residence permit"}
#: Didit's defaults: decline below 40, review below 60.
DEFAULT_DECLINE: Final = 40
DEFAULT_REVIEW: Final = 60
DEFAULT_RETRIES: Final = 3
MAX_LABEL: Final = 255
_COUNTRY = re.compile(r"[A-Z]{3}")


class OptionsError(ValueError):
    """The form's choices cannot make a workflow; ``messages`` says why, one line each."""

    def __init__(self, messages: list[str]) -> None:
        """Create the error.

        Args:
            messages: What to fix, for the form.
        """
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class WorkflowOptions:
    """What the admin chose in the create form."""

    template: str
    label: str
    document_types: tuple[str, ...] = tuple(DOCUMENT_TYPES)
    countries: tuple[str, ...] = ()
    liveness_method: str = "PASSIVE"
    face_match_decline: int = DEFAULT_DECLINE
    face_match_review: int = DEFAULT_REVIEW
    aml: bool = False
    nfc: bool = False
    phone: bool = False
    email: bool = False
    ip_analysis: bool = True
    max_retry_attempts: int = DEFAULT_RETRIES
    questionnaire_uuid: str | None = None


def _flag(form: Mapping[str, Any], name: str) -> bool:
    # A checked checkbox posts "on" (or true from Reflex's form data); an unchecked one posts nothing.
    value = form.get(name)
    return value is True or str(value).lower() in {"on", "true", "1", "yes"}


def _int(form: Mapping[str, Any], name: str, *, default: int, low: int, high: int, what: str, errors: list[str]) -> int:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"{what} must be a whole number from {low} to {high}.")
        return default
    if not low <= value <= high:
        errors.append(f"{what} must be from {low} to {high}.")
    return value


def options_from_form(form: Mapping[str, Any]) -> WorkflowOptions:
    """Read the create form (``workflow-create``).

    Args:
        form: Field name → value: ``template``, ``label``, ``doc_<code>`` checkboxes, ``countries``
            (ISO 3166-1 alpha-3, comma or space separated), ``liveness_method``, ``face_match_decline``,
            ``face_match_review``, ``aml``/``nfc``/``phone``/``email``/``ip_analysis`` checkboxes,
            ``max_retry_attempts``, ``questionnaire_uuid``.

    Returns:
        The options.

    Raises:
        OptionsError: Unknown template, blank label, numbers out of range, and the like.
    """
    errors: list[str] = []
    template = str(form.get("template", "")).strip()
    if template not in TEMPLATES:
        errors.append("Choose one of Didit's templates.")
    label = " ".join(str(form.get("label", "")).split())
    if not label:
        errors.append("Give the workflow a label.")
    elif len(label) > MAX_LABEL:
        errors.append(f"The label may be at most {MAX_LABEL} characters.")
    offered = TEMPLATES[template].options if template in TEMPLATES else frozenset()
    numbers = _numbers(form, offered, errors)
    method = str(form.get("liveness_method", "PASSIVE")).strip().upper() or "PASSIVE"
    if "liveness" in offered and method not in LIVENESS_METHODS:
        errors.append("Choose a liveness method: passive, active 3D or flashing.")
    countries = tuple(dict.fromkeys(c.upper() for c in re.split(r"[\s,;]+", str(form.get("countries", ""))) if c))
    doc_types = tuple(code for code in DOCUMENT_TYPES if _flag(form, f"doc_{code}"))
    if "documents" in offered:
        errors += _document_errors(countries, doc_types)
    questionnaire = str(form.get("questionnaire_uuid", "")).strip() or None
    if "questionnaire" in offered:
        errors += _questionnaire_errors(questionnaire)
    if errors:
        raise OptionsError(errors)
    return WorkflowOptions(
        template=template,
        label=label,
        document_types=doc_types,
        countries=countries,
        liveness_method=method,
        aml=_flag(form, "aml"),
        nfc=_flag(form, "nfc"),
        phone=_flag(form, "phone"),
        email=_flag(form, "email"),
        ip_analysis=_flag(form, "ip_analysis"),
        questionnaire_uuid=questionnaire,
        **numbers,
    )


def _numbers(form: Mapping[str, Any], offered: frozenset[str], errors: list[str]) -> dict[str, int]:
    decline = _int(
        form,
        "face_match_decline",
        default=DEFAULT_DECLINE,
        low=0,
        high=100,
        what="The face-match decline threshold",
        errors=errors,
    )
    review = _int(
        form,
        "face_match_review",
        default=DEFAULT_REVIEW,
        low=0,
        high=100,
        what="The face-match review threshold",
        errors=errors,
    )
    if "face_match" in offered and decline > review:
        errors.append("The decline threshold must not be above the review threshold.")
    retries = _int(
        form, "max_retry_attempts", default=DEFAULT_RETRIES, low=0, high=10, what="Retry attempts", errors=errors
    )
    return {"face_match_decline": decline, "face_match_review": review, "max_retry_attempts": retries}


def _document_errors(countries: tuple[str, ...], doc_types: tuple[str, ...]) -> list[str]:
    errors = []
    if not doc_types:
        errors.append("Allow at least one document type.")
    bad = [c for c in countries if not _COUNTRY.fullmatch(c)]
    if bad:
        errors.append(f"Countries are three-letter ISO codes (e.g. ESP, USA): not {', '.join(bad[:5])}.")
    elif doc_types and len(doc_types) < len(DOCUMENT_TYPES) and not countries:
        # Didit's documents_allowed is keyed by country: a restriction of types needs the countries it applies to.
        errors.append("Name the issuing countries (e.g. ESP, USA) that the chosen document types apply to.")
    return errors


def _questionnaire_errors(questionnaire: str | None) -> list[str]:
    if questionnaire is None:
        return ["A questionnaire workflow needs the id of a questionnaire made in Didit's console."]
    try:
        uuid.UUID(questionnaire)
    except ValueError:
        return ["The questionnaire id is a UUID, as Didit's console shows it."]
    return []


def _documents_allowed(options: WorkflowOptions) -> dict[str, Any] | None:
    if not options.countries:
        return None  # Didit's default: every supported country and document type
    types = {code: {"enabled": 1} for code in options.document_types}
    return {country: dict(types) for country in options.countries}


def _face_match(options: WorkflowOptions) -> dict[str, Any]:
    return {
        "feature": "FACE_MATCH",
        "config": {
            "face_match_score_decline_threshold": options.face_match_decline,
            "face_match_score_review_threshold": options.face_match_review,
        },
    }


def _liveness(options: WorkflowOptions) -> dict[str, Any]:
    # Didit's example spells the method in lower case ({"face_liveness_method": "passive"}).
    return {"feature": "LIVENESS", "config": {"face_liveness_method": options.liveness_method.lower()}}


def _main_features(options: WorkflowOptions) -> list[dict[str, Any]]:
    if options.template == "kyc":
        documents = _documents_allowed(options)
        features: list[dict[str, Any]] = [
            {"feature": "OCR", "config": {"documents_allowed": documents}} if documents else {"feature": "OCR"}
        ]
        if options.nfc:
            features.append({"feature": "NFC"})  # after OCR: it reads the chip of the document just scanned
        features += [_liveness(options), _face_match(options)]
        return features
    if options.template == "adaptive_age_verification":
        return [{"feature": "AGE_ESTIMATION"}]
    if options.template == "biometric_authentication":
        return [_liveness(options), _face_match(options)]
    if options.template == "address_verification":
        return [{"feature": "PROOF_OF_ADDRESS"}]
    return [{"feature": "QUESTIONNAIRE", "config": {"questionnaire_uuid": options.questionnaire_uuid}}]


def build_body(options: WorkflowOptions) -> dict[str, Any]:
    """The ``POST /v3/workflows/`` body for the chosen template and options, features in Didit's order.

    Args:
        options: From :func:`options_from_form`.

    Returns:
        ``{workflow_label, workflow_type, features, max_retry_attempts}``.
    """
    features = _main_features(options)
    if options.phone:
        features.append({"feature": "PHONE_VERIFICATION"})
    if options.email:
        features.append({"feature": "EMAIL_VERIFICATION"})
    if options.aml and "aml" in TEMPLATES[options.template].options:
        features.append({"feature": "AML"})  # person AML screens the document's holder: KYC (after OCR) only
    if options.ip_analysis:
        features.append({"feature": "IP_ANALYSIS"})
    return {
        "workflow_label": options.label,
        "workflow_type": options.template,
        "features": features,
        "max_retry_attempts": options.max_retry_attempts,
    }


def feature_names(features: Any) -> list[str]:
    """Feature names of a workflow as Didit lists it (names, or ``{feature, config}`` objects).

    Args:
        features: The ``features`` field of a workflow.

    Returns:
        Names in order, e.g. ``["OCR", "LIVENESS"]``.
    """
    if not isinstance(features, list):
        return []
    names = [str(f.get("feature", "")) if isinstance(f, Mapping) else str(f) for f in features]  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType, reportUnknownVariableType]
    return [n for n in names if n]
