"""Decision nodes of the other checks: phone, email, proof of address, AML, IP analysis, database, questionnaire."""

from __future__ import annotations

from typing import Any

from didit_portal.sandbox.model.decision.context import NodeContext, parsed_address
from didit_portal.sandbox.model.persona import Persona, media_url


def _lifecycle(ctx: NodeContext, sent: str, verified: str) -> list[dict[str, Any]]:
    at = ctx.finished_at
    return [
        {"type": sent, "timestamp": at, "fee": 0.1, "details": {"status": "Success"}},
        {"type": verified, "timestamp": at, "fee": 0.0, "details": {"code_tried": "123456", "status": "Approved"}},
    ]


def phone(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    """A ``phone_verifications`` entry; a targeted node is a virtual number that was never verified."""
    phone = ctx.persona.phone
    prefix = "+34" if phone.startswith("+34") else phone[:3]
    return {
        "phone_number_prefix": prefix,
        "phone_number": phone[len(prefix) :],
        "full_number": phone,
        "country_code": "ES",
        "country_name": "Spain",
        "carrier": {"name": "Movistar", "type": "mobile"},
        "is_disposable": False,
        "is_virtual": is_target,
        "verification_method": "sms",
        "verification_attempts": 1,
        "verified_at": None if is_target else ctx.finished_at,
        "lifecycle": _lifecycle(ctx, "PHONE_VERIFICATION_MESSAGE_SENT", "VALID_CODE_ENTERED"),
    }


def email(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    """An ``email_verifications`` entry; a targeted node is a breached address that was never verified."""
    return {
        "email": ctx.persona.email,
        "is_breached": is_target,
        "breaches": [],
        "is_disposable": False,
        "is_undeliverable": False,
        "verification_attempts": 1,
        "verified_at": None if is_target else ctx.finished_at,
        "lifecycle": _lifecycle(ctx, "EMAIL_VERIFICATION_MESSAGE_SENT", "VALID_CODE_ENTERED"),
    }


def proof_of_address(ctx: NodeContext, slug: str | None, is_target: bool, plan_status: str | None) -> dict[str, Any]:
    """A ``poa_verifications`` entry; a targeted node shows another street and a lower name match."""
    p = ctx.persona
    expected_address = (ctx.expected or {}).get("address")
    street = p.street
    name_score = 100.0
    if is_target:
        declined = plan_status == "Declined"
        street, name_score = ("Avenida de América 7", 35.0) if declined else ("Calle de Alcalá 44", 80.0)
    parsed = parsed_address(p, street)
    return {
        "document_type": "UTILITY_BILL",
        "document_language": "es",
        "document_file": media_url(ctx.public_url, ctx.session_id, "poa_document"),
        "document_metadata": {
            "content_type": "image/png",
            "file_size": 48213,
            "creation_date": "2026-01-02",
            "modified_date": "2026-01-02",
        },
        "issuer": "Iberdrola Clientes S.A.U.",
        "issuing_state": "ESP",
        "issue_date": "2026-01-02",
        "expiration_date": None,
        "name_on_document": p.full_name,
        "name_match_score_id_verification": name_score,
        "name_match_score_expected_details": name_score if ctx.expected else None,
        "poa_address": parsed["formatted_address"],
        "poa_formatted_address": parsed["formatted_address"],
        "poa_parsed_address": parsed,
        "expected_details_address": expected_address,
        "expected_details_formatted_address": expected_address,
        "expected_details_parsed_address": None,
        "extra_fields": {"bank_iban": None},
        "extra_files": [],
    }


def _aml_hit(p: Persona, confirmed: bool) -> dict[str, Any]:
    score = 0.96 if confirmed else 0.71
    return {
        "id": "NK-SBX-8842",
        "url": "https://sandbox.didit.invalid/aml/NK-SBX-8842",
        "caption": p.full_name,
        "match": confirmed,
        "score": score,
        "match_score": score * 100,
        "risk_score": 88.0 if confirmed else 41.0,
        "review_status": "Unreviewed",
        "datasets": ["Sanctions"] if confirmed else ["PEP"],
        "first_seen": "2021-04-01T00:00:00Z",
        "last_seen": "2026-01-01T00:00:00Z",
        "properties": {"name": [p.full_name], "alias": [], "birthDate": [p.date_of_birth]},
        "risk_view": {
            "crimes": [],
            "countries": [p.nationality],
            "categories": ["Sanction"] if confirmed else ["PEP"],
            "custom_list": [],
        },
        "score_breakdown": {"name_score": score * 100, "dob_score": 100.0, "country_score": 100.0},
        "pep_matches": [] if confirmed else [{"list": "PEP", "position": "Municipal councillor"}],
        "sanction_matches": [{"list": "Sandbox Sanctions List", "program": "SBX"}] if confirmed else [],
        "warning_matches": [],
        "adverse_media_matches": [],
        "adverse_media_details": None,
        "linked_entities": [],
    }


def aml(ctx: NodeContext, slug: str | None, is_target: bool, plan_status: str | None) -> dict[str, Any]:
    """An ``aml_screenings`` entry; a targeted node has one hit (confirmed when declined)."""
    p = ctx.persona
    hits = [_aml_hit(p, plan_status == "Declined")] if is_target else []
    return {
        "entity_type": "person",
        "total_hits": len(hits),
        "score": hits[0]["match_score"] if hits else 0.0,
        "screened_data": {
            "full_name": p.full_name,
            "date_of_birth": p.date_of_birth,
            "nationality": p.nationality,
            "document_number": p.document_number,
        },
        "is_ongoing_monitoring_enabled": False,
        "next_ongoing_monitoring_bill_date": None,
        "hits": hits,
    }


def ip_analysis(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    """An ``ip_analyses`` entry; a targeted node comes through a VPN or Tor."""
    here = {"latitude": 40.4165, "longitude": -3.70256}
    near = {"distance": 2.1, "direction": "NE"}
    return {
        "ip_address": ctx.persona.ip_address,
        "ip_country": "Spain",
        "ip_country_code": "ES",
        "ip_state": "Madrid",
        "ip_city": "Madrid",
        "latitude": here["latitude"],
        "longitude": here["longitude"],
        "isp": "Telefonica de Espana",
        "organization": "Telefonica de Espana",
        "is_vpn_or_tor": is_target,
        "is_data_center": False,
        "time_zone": "Europe/Madrid",
        "time_zone_offset": "+0100",
        "device_brand": "Apple",
        "device_model": "iPhone",
        "device_fingerprint": "sbx-5f2c9e1a7b3d",
        "browser_family": "Mobile Safari",
        "os_family": "iOS",
        "platform": "mobile",
        "ip": {"location": here, "distance_from_id_document": near, "distance_from_poa_document": near},
        "id_document": {"location": {"latitude": 40.4189, "longitude": -3.6919}, "distance_from_ip": near},
        "poa_document": {"location": {"latitude": 40.4189, "longitude": -3.6919}, "distance_from_ip": near},
    }


def database_validation(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    """A ``database_validations`` entry; a targeted node finds no match."""
    p = ctx.persona
    match = "no_match" if is_target else "full_match"
    return {
        "issuing_state": p.issuing_state,
        "validation_type": "one_by_one",
        "match_type": match,
        "screened_data": {
            "full_name": p.full_name,
            "date_of_birth": p.date_of_birth,
            "identification_number": p.personal_number,
        },
        "validations": [
            {
                "validation": {"full_name": match, "date_of_birth": match, "identification_number": match},
                "source_data": {} if is_target else {"full_name": p.full_name, "date_of_birth": p.date_of_birth},
            }
        ],
    }


def questionnaire(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    """A ``questionnaire_responses`` entry with the persona's answers."""
    return {
        "questionnaire_id": "9a1e5c37-2f4b-4d8e-a6c1-3b7d0e9f2a11",
        "title": "Source of funds",
        "version": 1,
        "sections": [
            {
                "title": "About you",
                "items": [
                    {
                        "uuid": "c2f0a9e4-6b1d-4e3a-9c57-1d2e3f4a5b6c",
                        "value": "employment",
                        "title": "Main source of funds",
                        "element_type": "SINGLE_CHOICE",
                        "choices": [
                            {"value": "employment", "label": "Employment"},
                            {"value": "savings", "label": "Savings"},
                        ],
                        "answer": {"value": "employment"},
                    },
                    {
                        "uuid": "d3a1b0f5-7c2e-4f4b-8d68-2e3f4a5b6c7d",
                        "value": None,
                        "title": "Anything else?",
                        "element_type": "LONG_TEXT",
                        "choices": [],
                        "answer": {"text": "Nada más, gracias."},
                    },
                ],
            }
        ],
    }
