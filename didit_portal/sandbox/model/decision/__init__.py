"""Realistic v3 decision payloads (Didit: https://docs.didit.me/reference/data-models).

``context`` holds what every node builder reads, ``identity`` and ``checks`` build one array entry per feature,
and ``arrays`` assembles the decision's plural arrays from a session's stored node results.
"""

from didit_portal.sandbox.model.decision.arrays import feature_arrays, feature_names, node_entry, warning
from didit_portal.sandbox.model.decision.context import NO_DATA_STATUSES, NodeContext, context_for
from didit_portal.sandbox.model.decision.identity import NFC_SERIAL

__all__ = [
    "NFC_SERIAL",
    "NO_DATA_STATUSES",
    "NodeContext",
    "context_for",
    "feature_arrays",
    "feature_names",
    "node_entry",
    "warning",
]
