"""The Didit account's workflows: the local record and its sync, creating from templates, per-purpose defaults.

``sync.py`` keeps ``didit_workflow`` in step with ``GET /v3/workflows/`` and creates workflows through Didit;
``templates.py`` turns the admin's form into Didit's create body (pure); ``defaults.py`` holds the workflow chosen
for each purpose and the Auth + Data scope presets, which the business API and ``/demo`` read.
"""

from didit_portal.services.workflows.defaults import (
    DEFAULT_PURPOSE,
    PURPOSES,
    SCOPE_PRESETS,
    DefaultsError,
    default_scope_preset,
    default_workflow_for,
    effective_workflow,
)
from didit_portal.services.workflows.sync import SyncReport, WorkflowCreateError, create_workflow, sync_workflows

__all__ = [
    "DEFAULT_PURPOSE",
    "PURPOSES",
    "SCOPE_PRESETS",
    "DefaultsError",
    "SyncReport",
    "WorkflowCreateError",
    "create_workflow",
    "default_scope_preset",
    "default_workflow_for",
    "effective_workflow",
    "sync_workflows",
]
