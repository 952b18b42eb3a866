"""Schemathesis over ``/api/v1/openapi.json``: every answer is documented, none is a 5xx.

In process: Schemathesis loads the document from the ASGI app and calls it there, with a token that holds every
scope, so generated requests reach the handlers; those call the embedded Didit sandbox over HTTP (a running
portal), on SQLite and PostgreSQL (``db_url``). Bounded and stable for CI: a fixed number of examples per
operation and generation mode, derandomized, no example database.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from portal_server import running_portal
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from starlette.applications import Starlette
from starlette.routing import Mount

from didit_portal import routes
from didit_portal.api.business import business_app
from didit_portal.db import get_engine
from didit_portal.services.access import api_tokens as tokens

#: Per operation and generation mode (positive, negative): four operations, at most 500 calls per database
EXAMPLES = 60
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]


@pytest.fixture
def token(db_url: str) -> str:
    _, raw = tokens.create_token(get_engine(db_url), name="schemathesis")
    return raw


@pytest.fixture
def schema(db_url: str, tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    """The document as Schemathesis loads it from the app, mounted at /api/v1 as in the portal."""
    with running_portal(db_url, tmp_path) as (portal, _api):
        v1 = business_app(portal, get_engine(db_url))

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            async with v1.state.runtime:  # closes the Didit client on the loop that used it
                yield

        app = Starlette(routes=[Mount(routes.API_V1, app=v1)], lifespan=lifespan)
        loaded = schemathesis.openapi.from_asgi(routes.API_V1 + routes.API_V1_OPENAPI, app)
        # Requests carry the test's valid token (the 401s have their own tests in test_business_api.py).
        loaded.config.generation.update(with_security_parameters=False)
        yield loaded
        asgi.shutdown_lifespans()  # Schemathesis started the app's lifespan on its own loop; end it here


def _reaches_the_api(case: schemathesis.Case) -> bool:
    # Starlette's Mount matches the rest of a path with ``.*``, which stops at a newline: a path with one inside
    # never reaches /api/v1 and gets the outer app's plain-text 404, in the portal as here. Not this API's answer.
    # (Schemathesis hands path parameters over percent-encoded.)
    return not any("\n" in unquote(str(value)).rstrip("\n") for value in (case.path_parameters or {}).values())


# Schemathesis's own pytest loader (``@schema.parametrize``) does not run under pytest 9, so the cases come from
# its Hypothesis strategies, one operation and generation mode at a time.
@pytest.mark.timeout(60)
def test_business_api_matches_its_openapi_document(schema: schemathesis.BaseSchema, token: str) -> None:
    """No 5xx and no status, header, content type or body outside the document; bad input refused."""
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results  # the document itself is valid
    operations = {r.ok().label: r.ok() for r in results if isinstance(r, Ok)}
    assert len(operations) == 4, operations
    calls: Counter[tuple[str, int]] = Counter()
    created: dict[str, str] = {}  # an id each POST made, for the GETs of links that exist

    def run(strategy: SearchStrategy[schemathesis.Case]) -> None:
        @given(case=strategy.filter(_reaches_the_api))
        @BOUNDED
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
            calls[(case.operation.label, response.status_code)] += 1
            if response.status_code == 201:
                created.setdefault(case.operation.path, response.json()["id"])

        check()

    for operation in operations.values():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run(operation.as_strategy(generation_mode=mode))
    # Random ids are all 404s: read links that exist too, so the 200 bodies are checked against the document.
    for path in (routes.API_V1_VERIFICATIONS, routes.API_V1_DATA_REQUESTS):
        run(operations[f"GET {path}/{{id}}"].as_strategy(path_parameters={"id": created[path]}))

    statuses = {label: {status for (op, status) in calls if op == label} for label in operations}
    # The run reached the handlers: links created (201) and read (200), bad input refused by validation (422).
    assert {201, 422} <= statuses["POST /verifications"] and {201, 422} <= statuses["POST /data-requests"], calls
    assert {200, 404} <= statuses["GET /verifications/{id}"] and {200, 404} <= statuses["GET /data-requests/{id}"]
    assert sum(calls.values()) >= 100, calls
