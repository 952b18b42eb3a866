"""The webhook inbox: Didit's deliveries stored before they are acknowledged, then applied in order.

* :mod:`.receive` — acknowledge path: dedupe key and one group commit per burst (every 200 is durable);
* :mod:`.process` — apply path: claim a batch of committed rows, turn them into reports, apply them;
* :mod:`.reports` — the one path by which a session's status and decision change (webhooks and reconciliation);
* :mod:`.worker` — schedules processing after each commit without starving the acknowledgements;
* :mod:`.reconcile` — repairs drift from Didit's API when a webhook was lost.
"""

from didit_portal.services.inbox.process import (
    MAX_ATTEMPTS,
    SESSION_TYPES,
    PayloadCache,
    PendingEvent,
    process_pass,
    process_pending,
)
from didit_portal.services.inbox.receive import GroupCommitter, InboxRow, commit_batch, dedupe_key, row_from_payload
from didit_portal.services.inbox.worker import InboxProcessor, running

__all__ = [
    "MAX_ATTEMPTS",
    "SESSION_TYPES",
    "GroupCommitter",
    "InboxProcessor",
    "InboxRow",
    "PayloadCache",
    "PendingEvent",
    "commit_batch",
    "dedupe_key",
    "process_pass",
    "process_pending",
    "row_from_payload",
    "running",
]
