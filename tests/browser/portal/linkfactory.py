"""Create end-user links in a running portal's database, for the browser tests: ``python -m tests.browser.portal.linkfactory``.

Runs in its own process with the portal's environment (``PORTAL_DATA_DIR``, ``PORT``, ``PUBLIC_BASE_URL``), so it
uses the portal's settings, secret key and database, and reaches the portal's embedded Didit sandbox over HTTP
exactly as the portal does. It calls the same service functions as the business API
(:func:`didit_portal.services.links.verification.create_verification` / ``create_data_request``) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from sqlmodel import Session

from didit_portal.config import get_settings
from didit_portal.db import get_engine
from didit_portal.didit.factory import client_from_settings
from didit_portal.models import DataTransferSession, ShareLink, VerificationSession
from didit_portal.security import configure_keys
from didit_portal.services import links


async def _verify(args: argparse.Namespace) -> dict[str, object]:
    engine = get_engine()
    async with client_from_settings() as client:
        link, token = await links.create_verification(
            engine, client, vendor_data=args.vendor_data, language=args.language, return_url=args.return_url
        )
    with Session(engine) as db:
        row = db.get(VerificationSession, link.session_id)
        assert row is not None
        return {
            "token": token,
            "path": f"/verify/{token}",
            "link_id": link.id,
            "session_id": link.session_id,
            "hosted_url": row.url,
            "status": row.status,
        }


async def _share(args: argparse.Namespace) -> dict[str, object]:
    engine = get_engine()
    async with client_from_settings() as client:
        share, token = await links.create_data_request(engine, client, vendor_data=args.vendor_data, scope=args.scope)
    with Session(engine) as db:
        row = db.get(DataTransferSession, share.data_session_id)
        assert row is not None
        return {
            "token": token,
            "path": f"/share/{token}",
            "share_id": share.id,
            "data_session_id": share.data_session_id,
            "authorize_url": row.url,
        }


def _shared(args: argparse.Namespace) -> dict[str, object]:
    with Session(get_engine()) as db:
        share = db.get(ShareLink, args.share_id)
        assert share is not None
        row = db.get(DataTransferSession, share.data_session_id)
        assert row is not None
        data = row.user_data or {}
        return {"data_session_id": row.session_id, "status": row.status, "user_data_keys": sorted(data)}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="kind", required=True)
    verify = sub.add_parser("verify")
    verify.add_argument("--vendor-data", required=True)
    verify.add_argument("--language")
    verify.add_argument("--return-url")
    share = sub.add_parser("share")
    share.add_argument("--vendor-data")
    share.add_argument("--scope", default="names email")
    shared = sub.add_parser("shared", help="what the portal stored for a share link (keys only, never values)")
    shared.add_argument("--share-id", required=True)
    args = parser.parse_args()
    configure_keys(get_settings().secret_key())
    if args.kind == "shared":
        result = _shared(args)
    else:
        result = asyncio.run(_verify(args) if args.kind == "verify" else _share(args))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
