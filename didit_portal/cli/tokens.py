"""``python -m didit_portal tokens create|list|revoke``: business-API bearer tokens.

``create`` prints the token once (stdout, nothing else on that line); only its keyed hash is stored. Its
``--scope`` options choose what the token may do (every scope when none is given).
"""

from __future__ import annotations

import argparse
import json
import sys

from didit_portal.config import startup_check
from didit_portal.db import get_engine
from didit_portal.security import configure_keys
from didit_portal.services.access import api_tokens as tokens


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``tokens`` command.

    Args:
        sub: The main parser's subcommands.
    """
    parser = sub.add_parser("tokens", help="business-API bearer tokens (create, list, revoke)")
    actions = parser.add_subparsers(dest="tokens_command", required=True)
    create = actions.add_parser(
        "create",
        help="create a token and print it once",
        description="Create a business-API token and print it once. A token reaches only the links it created.",
    )
    create.add_argument("--name", required=True, help="unique label, e.g. the calling system")
    create.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help=f"what the token may do: {', '.join(tokens.SCOPES)}. Repeat the option or give a comma list. "
        "Without --scope the token gets all four scopes.",
    )
    actions.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke", help="revoke a token by name; it stops working at once")
    revoke.add_argument("--name", required=True)


def run(args: argparse.Namespace) -> int:
    """Run a ``tokens`` subcommand.

    Args:
        args: Parsed arguments.

    Returns:
        The exit code: 0 on success, 1 when the request was refused (message on stderr).
    """
    settings = startup_check()
    configure_keys(*settings.secret_keys())
    engine = get_engine()
    try:
        if args.tokens_command == "create":
            info, token = tokens.create_token(engine, name=args.name, scopes=args.scope)
            print(token)
            print(
                f"Token {info.name!r} created ({info.prefix}…) with scopes {' '.join(info.scopes)}. "
                "Store it now: it cannot be shown again.",
                file=sys.stderr,
            )
            return 0
        if args.tokens_command == "revoke":
            info = tokens.revoke_token(engine, name=args.name)
            print(
                json.dumps(
                    {
                        "name": info.name,
                        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
                    }
                )
            )
            return 0
        rows = [
            {
                "name": t.name,
                "prefix": t.prefix,
                "scopes": list(t.scopes),
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in tokens.list_tokens(engine)
        ]
        print(json.dumps(rows, indent=2))
        return 0
    except tokens.TokenError as exc:
        print(f"didit_portal: {exc}", file=sys.stderr)
        return 1
