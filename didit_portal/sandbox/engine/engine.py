"""The sandbox's session engine: one small object holding its components together.

Each component is one job (Didit's sessions, statuses and webhooks, plus the sandbox's own extras):
:class:`~didit_portal.sandbox.engine.rows.SessionRows` stores sessions,
:class:`~didit_portal.sandbox.engine.lifecycle.Lifecycle` moves them and runs their timers,
:class:`~didit_portal.sandbox.engine.outbox.Outbox` writes their webhook events,
:class:`~didit_portal.sandbox.engine.decisions.Decisions` builds their decision objects, and the components
below serve the HTTP routes and the hosted pages. Components receive what they use; none inherits from another.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.auth_data import AuthDataService
from didit_portal.sandbox.engine.data_edits import DataEdits
from didit_portal.sandbox.engine.decisions import Decisions
from didit_portal.sandbox.engine.destinations import WebhookDestinations
from didit_portal.sandbox.engine.hosted import HostedSessions
from didit_portal.sandbox.engine.lifecycle import Lifecycle
from didit_portal.sandbox.engine.outbox import Outbox
from didit_portal.sandbox.engine.outcomes import Outcomes
from didit_portal.sandbox.engine.parts import EngineParts
from didit_portal.sandbox.engine.reviews import ManualReviews
from didit_portal.sandbox.engine.rows import SessionRows
from didit_portal.sandbox.engine.sessions import SessionOperations
from didit_portal.sandbox.engine.store import Store
from didit_portal.sandbox.engine.workflows import WorkflowRegistry
from didit_portal.sandbox.ids import IdFactory
from didit_portal.sandbox.types import HostedEngine


class SandboxEngine:
    """Sessions, outcomes, timers and outbox of one sandbox instance.

    Attributes:
        sessions: Create, read, list and delete sessions; their webhook log (the v3 API).
        outcomes: Control-API outcomes and scenarios.
        data_edits: Control-API data edits (the console's edit, not part of Didit's API) and ``data.updated``.
        reviews: Update-status, review notes and resubmissions.
        workflows: The workflow registry (the management API).
        auth_data: Auth + Data (data-transfer) sessions.
        destinations: Webhook destinations (the management API) and the routing of events to them.
        outbox: Webhook events; its listeners wake the delivery worker.
        lifecycle: Status moves and timers (``sweep`` runs the due ones).
        hosted: The hosted pages' view (implements :class:`~didit_portal.sandbox.types.HostedEngine`).
        ids: The id factory.

    Args:
        config: The sandbox configuration.
        store: The sandbox database.
        clock: Returns epoch seconds (injectable for tests).
    """

    def __init__(self, config: SandboxConfig, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.ids = IdFactory(config.seed, store.next_counter)
        self.workflows = WorkflowRegistry(store, config, clock)
        self.workflows.ensure_preloaded()
        self.auth_data = AuthDataService(config, store, self.ids, clock)
        rows = SessionRows(config, store, clock)
        decisions = Decisions(config.public_url)
        self.destinations = WebhookDestinations(store, self.ids, clock)
        self.outbox = Outbox(config, store, self.ids, clock=clock, decisions=decisions, destinations=self.destinations)
        self.lifecycle = Lifecycle(config, store, rows=rows, outbox=self.outbox, auth_data=self.auth_data, clock=clock)
        parts = EngineParts(
            config=config,
            store=store,
            ids=self.ids,
            clock=clock,
            rows=rows,
            lifecycle=self.lifecycle,
            outbox=self.outbox,
            decisions=decisions,
            workflows=self.workflows,
            auth_data=self.auth_data,
        )
        self.sessions = SessionOperations(parts)
        self.reviews = ManualReviews(parts)
        self.outcomes = Outcomes(parts, self.reviews)
        self.data_edits = DataEdits(parts)
        # Typed as the protocol so the type checker proves the pages' interface is complete.
        self.hosted: HostedEngine = HostedSessions(parts, self.sessions, self.outcomes)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Register a callback run after new outbox events commit (the delivery worker's wake-up)."""
        self.outbox.add_listener(callback)

    def sweep(self) -> int:
        """Apply every due timer (sessions and data-transfer sessions). Returns how many sessions moved."""
        return self.lifecycle.sweep()
