"""``python -m didit_portal …``: operator commands.

Commands:
    reconcile   Check silent unfinished sessions against Didit and apply missed transitions (prints counts).
    tokens      Business-API bearer tokens: create --name N (printed once), list, revoke --name N.
    users       Staff accounts: create, list, disable, bootstrap-admin, require-totp (see cli/staff.py).
    audit       verify [--anchor ID:HASH] | anchor: check the audit trail's hash chain, print its anchor.
    keys        rotate: re-encrypt and re-hash every row under PORTAL_SECRET_KEY (see cli/keys.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from didit_portal.cli import keys as cli_keys
from didit_portal.cli import staff as cli_staff
from didit_portal.cli import tokens as cli_tokens
from didit_portal.config import startup_check
from didit_portal.db import get_engine
from didit_portal.didit.factory import client_from_settings
from didit_portal.security import configure_keys
from didit_portal.services.inbox.reconcile import reconcile


async def _reconcile(silence_minutes: float, limit: int) -> dict[str, int]:
    settings = startup_check()
    configure_keys(*settings.secret_keys())
    async with client_from_settings() as client:
        report = await reconcile(get_engine(), client, silence=timedelta(minutes=silence_minutes), limit=limit)
    return {
        "checked": report.checked,
        "drift": report.drift,
        "decisions_fetched": report.decisions_fetched,
        "errors": report.errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m didit_portal", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconcile", help="apply transitions missed by webhooks")
    rec.add_argument(
        "--silence-minutes",
        type=float,
        default=10.0,
        help="check unfinished sessions silent for longer than this (default 10)",
    )
    rec.add_argument("--limit", type=int, default=100, help="maximum sessions per run (default 100)")
    cli_tokens.add_parser(sub)
    cli_staff.add_parsers(sub)
    cli_keys.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.command == "reconcile":
        result = asyncio.run(_reconcile(args.silence_minutes, args.limit))
        print(json.dumps(result))
        return 1 if result["errors"] else 0
    if args.command == "tokens":
        return cli_tokens.run(args)
    if args.command in ("users", "audit"):
        return cli_staff.run(args)
    if args.command == "keys":
        return cli_keys.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
