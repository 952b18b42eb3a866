"""The client factory: clients built from settings share one rate budget and breaker per Didit target."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from didit_portal.config import Settings
from didit_portal.didit import factory
from didit_portal.didit.client import DiditClient

BASE = "https://verification.didit.test"


def test_shared_client_is_one_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "_shared", None)
    first = factory.shared_client()
    assert factory.shared_client() is first
    assert isinstance(first, DiditClient)


def test_clients_of_one_target_share_the_rate_budget_and_breaker() -> None:
    settings = Settings(didit_api_key=SecretStr("key-a"), didit_base_url=BASE)
    first, second = factory.client_from_settings(settings), factory.client_from_settings(settings)
    # The business API, the pages and the reconciler each build a client; Didit counts one key's calls together.
    assert first.limiter is second.limiter and first.breaker is second.breaker
    for _ in range(first.breaker.failure_threshold):
        first.breaker.record_failure()
    assert not second.breaker.allow()  # a Didit that is down is down for every caller in the process
    other = factory.client_from_settings(Settings(didit_api_key=SecretStr("key-b"), didit_base_url=BASE))
    assert other.limiter is not first.limiter and other.breaker.allow()
