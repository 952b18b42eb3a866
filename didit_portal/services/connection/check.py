"""The settings page's "test connection": is Didit up, and does it accept the key?

Two calls, cheapest first: Didit's health endpoint (``GET /system/healthcheck``, no key), then a call that needs
the key and changes nothing (``GET /v3/workflows/``; Didit answers 401 or 403 to a key it refuses, as its API
reference at docs.didit.me describes for ``x-api-key``). Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from didit_portal.didit.client import DiditClient
from didit_portal.didit.errors import DiditAuthError, DiditError, DiditUnavailableError


@dataclass(frozen=True)
class ConnectionCheck:
    """What the check found.

    Attributes:
        ok: Didit answered and accepted the key.
        message: One line for the page (the reason when not ok); never contains the key.
    """

    ok: bool
    message: str


async def check_connection(client: DiditClient) -> ConnectionCheck:
    """Check Didit's health endpoint, then the key.

    Args:
        client: The client to check (the portal's, with the key it uses).

    Returns:
        The outcome and its one-line message.
    """
    if not await client.healthcheck():
        return ConnectionCheck(False, f"Didit is not answering at {client.base_url} (health check failed).")
    try:
        workflows = await client.list_workflows()
    except DiditAuthError as exc:
        return ConnectionCheck(False, f"Didit is up, but key refused (HTTP {exc.status_code}): check the API key.")
    except DiditUnavailableError:
        return ConnectionCheck(False, "Didit is up, but did not answer the key check: try again shortly.")
    except DiditError as exc:
        return ConnectionCheck(False, f"Didit is up, but the key check failed (HTTP {exc.status_code or '—'}).")
    return ConnectionCheck(True, f"Connected to {client.base_url}: key accepted, {len(workflows)} workflows.")
