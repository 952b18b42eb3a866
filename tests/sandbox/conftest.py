"""Fixtures for the sandbox's contract tests: sandbox apps on temporary databases, an in-process HTTP client and
a real webhook receiver on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sbx_helpers import KEY, ORIGIN, SECRET, Receiver, ServedApp

from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.config import SandboxConfig


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A running webhook receiver and its URL."""
    rec = Receiver()
    with ServedApp(rec.app()) as served:
        yield rec, f"{served.origin}/hook"


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., SandboxConfig]:
    """Build a sandbox configuration on a temporary database (keyword overrides allowed)."""

    def build(**overrides: Any) -> SandboxConfig:
        values: dict[str, Any] = {
            "api_key": KEY,
            "public_url": ORIGIN,
            "db_path": tmp_path / "sandbox.db",
            "webhook_secret": SECRET,
            "retry_scale": 0.001,
            "tick": 0.05,
        }
        values.update(overrides)
        return SandboxConfig(**values)

    return build


@pytest.fixture
async def api(make_config: Callable[..., SandboxConfig]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking in-process to a default sandbox (no webhook URL, no background worker)."""
    app = create_app(make_config())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
