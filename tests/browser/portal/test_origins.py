"""Only the portal's own pages may open its websocket or make credentialed requests (issue 10, item 7).

Tried against the running portal as a page on another site would: a websocket handshake and CORS requests that
carry a foreign ``Origin``. Before, the websocket accepted any origin and CORS echoed any origin with
credentials allowed (Reflex's default ``cors_allowed_origins = *``).
"""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

EVIL = "http://evil.example"


def _handshake(origin_url: str, origin_header: str) -> str:
    """The status line the portal answers a websocket upgrade of Reflex's event socket with."""
    parts = urlsplit(origin_url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin_header}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = sock.recv(4096).decode(errors="replace")
    return answer.split("\r\n", 1)[0]


def test_a_websocket_from_another_origin_is_refused(portal: Portal) -> None:
    assert " 101 " in _handshake(portal.origin, portal.origin) + " "  # the portal's own page connects
    refused = _handshake(portal.origin, EVIL)
    assert " 101" not in refused, refused
    assert refused.split()[1].startswith("4"), refused


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/v1/verifications"])
def test_credentialed_requests_from_another_origin_get_no_cors_grant(portal: Portal, path: str) -> None:
    with httpx.Client(base_url=portal.origin, timeout=10) as http:
        preflight = http.options(
            path,
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        simple = http.get(path, headers={"Origin": EVIL})
        own = http.get(path, headers={"Origin": portal.origin})
    for answer in (preflight, simple):
        assert answer.headers.get("access-control-allow-origin") not in {EVIL, "*"}, answer.headers
    assert own.headers.get("access-control-allow-origin") == portal.origin
