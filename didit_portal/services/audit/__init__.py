"""The audit trail: a keyed hash chain of every sensitive action (:mod:`.chain`), anchored daily (:mod:`.anchors`).

``from didit_portal.services import audit`` then ``audit.record(...)`` is how the rest of the portal writes it.
"""

from didit_portal.services.audit.chain import (
    FORBIDDEN_DETAIL_KEYS,
    GENESIS_HASH,
    KEYED,
    AuditDetailError,
    ChainBrokenError,
    canonical,
    latest_anchor,
    parse_anchor,
    rechain,
    record,
    row_hash,
    verify_chain,
)

__all__ = [
    "FORBIDDEN_DETAIL_KEYS",
    "GENESIS_HASH",
    "KEYED",
    "AuditDetailError",
    "ChainBrokenError",
    "canonical",
    "latest_anchor",
    "parse_anchor",
    "rechain",
    "record",
    "row_hash",
    "verify_chain",
]
