"""The engine's shared building blocks, handed as one bundle to each component that needs several of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.auth_data import AuthDataService
from didit_portal.sandbox.engine.decisions import Decisions
from didit_portal.sandbox.engine.lifecycle import Lifecycle
from didit_portal.sandbox.engine.outbox import Outbox
from didit_portal.sandbox.engine.rows import SessionRows
from didit_portal.sandbox.engine.store import Store
from didit_portal.sandbox.engine.workflows import WorkflowRegistry
from didit_portal.sandbox.ids import IdFactory


@dataclass(frozen=True)
class EngineParts:
    """Configuration, storage and the lower components (rows, status moves, outbox, decisions, workflows)."""

    config: SandboxConfig
    store: Store
    ids: IdFactory
    clock: Callable[[], float]
    rows: SessionRows
    lifecycle: Lifecycle
    outbox: Outbox
    decisions: Decisions
    workflows: WorkflowRegistry
    auth_data: AuthDataService
