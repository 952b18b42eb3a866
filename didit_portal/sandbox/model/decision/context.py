"""The session context every decision node builder reads: the public URL, the persona and the expected details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from didit_portal.sandbox.model.persona import Persona, persona_for

#: Statuses whose decision carries no node data at all (nothing collected, or wiped by expiry).
NO_DATA_STATUSES = frozenset({"Not Started", "Expired"})


@dataclass(frozen=True)
class NodeContext:
    """What a node builder needs besides the node's own result."""

    public_url: str
    session_id: str
    persona: Persona
    expected: dict[str, Any] | None
    finished_at: str | None


def context_for(public_url: str, session_id: str, data: dict[str, Any]) -> NodeContext:
    """The :class:`NodeContext` of a stored session."""
    return NodeContext(
        public_url=public_url,
        session_id=session_id,
        persona=persona_for(data.get("expected_details"), data.get("contact_details")),
        expected=data.get("expected_details"),
        finished_at=data.get("finished_at_iso"),
    )


def parsed_address(p: Persona, street: str | None = None) -> dict[str, Any]:
    """A Didit ``parsed_address`` object for the persona's address (or another street in the same city)."""
    street = street or p.street
    formatted = f"{street}, {p.postal_code} {p.city}, {p.country_name}"
    return {
        "street_1": street,
        "street_2": None,
        "city": p.city,
        "region": p.region,
        "postal_code": p.postal_code,
        "country": "ES",
        "label": "Home",
        "address_type": "residential",
        "category": "home",
        "is_verified": True,
        "formatted_address": formatted,
        "document_location": {"latitude": 40.4189, "longitude": -3.6919},
        "raw_results": {},
    }
