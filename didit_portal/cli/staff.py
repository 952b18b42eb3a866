"""``python -m didit_portal users …`` and ``audit verify``: staff accounts and the audit chain.

users create --email E --password P --role admin|reviewer|viewer   (or --password-stdin)
users list
users disable --email E
users bootstrap-admin        only when no staff user exists: admin@localhost with a random password, printed once
users require-totp on|off    the admin setting that requires a TOTP second factor for everyone
audit verify [--anchor ID:HASH]
                             exit 0 and the number of rows when the chain holds; 1 and the first bad id otherwise
audit anchor                 print the newest row's ID:HASH, to keep outside the database (detects a cut tail)
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys

from sqlmodel import col, select

from didit_portal.config import startup_check
from didit_portal.db import get_engine, writing
from didit_portal.models import StaffUser
from didit_portal.security import configure_keys
from didit_portal.services import audit, settings_store
from didit_portal.services.access import accounts as auth

BOOTSTRAP_EMAIL = "admin@localhost"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``users`` and ``audit`` commands.

    Args:
        sub: The main parser's subcommands.
    """
    users = sub.add_parser("users", help="staff accounts (create, list, disable, bootstrap-admin, require-totp)")
    actions = users.add_subparsers(dest="users_command", required=True)
    create = actions.add_parser("create", help="create a staff account")
    create.add_argument("--email", required=True)
    password = create.add_mutually_exclusive_group(required=True)
    password.add_argument("--password", help=f"at least {auth.MIN_PASSWORD_LENGTH} characters")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (keeps it out of `ps`)",
    )
    create.add_argument("--role", required=True, choices=auth.ROLES)
    actions.add_parser("list", help="list staff accounts")
    disable = actions.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("--email", required=True)
    actions.add_parser("bootstrap-admin", help=f"create {BOOTSTRAP_EMAIL} with a random password if no user exists")
    totp = actions.add_parser("require-totp", help="require a TOTP second factor for every staff member")
    totp.add_argument("value", choices=("on", "off"))

    audit_parser = sub.add_parser("audit", help="the audit trail")
    audit_actions = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_actions.add_parser("verify", help="check the hash chain of the whole trail")
    verify.add_argument("--anchor", help="an ID:HASH printed earlier by `audit anchor`: that row must still be there")
    audit_actions.add_parser("anchor", help="print the newest row's ID:HASH to keep outside the database")


def _err(message: str) -> int:
    print(f"didit_portal: {message}", file=sys.stderr)
    return 1


def _users(args: argparse.Namespace) -> int:
    engine = get_engine()
    command = args.users_command
    if command == "create":
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
        try:
            with writing(engine) as db:
                user = auth.create_user(db, email=args.email, password=password, role=args.role)
                result = {"id": user.id, "email": user.email, "role": user.role}
        except auth.AuthError as exc:
            return _err(str(exc))
        print(json.dumps(result))
        return 0
    if command == "list":
        with writing(engine) as db:
            rows = [
                {
                    "id": u.id,
                    "email": u.email,
                    "role": u.role,
                    "totp": u.totp_enabled,
                    "disabled": u.disabled_at is not None,
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in db.exec(select(StaffUser).order_by(col(StaffUser.id)))
            ]
        print(json.dumps(rows, indent=2))
        return 0
    if command == "disable":
        with writing(engine) as db:
            found = auth.disable_user(db, email=args.email)
        return 0 if found else _err("no staff user with that email")
    if command == "bootstrap-admin":
        password = secrets.token_urlsafe(18)
        with writing(engine) as db:
            if auth.count_users(db) > 0:
                print("Staff accounts exist: no account created.", file=sys.stderr)
                return 0
            auth.create_user(db, email=BOOTSTRAP_EMAIL, password=password, role="admin")
        print(f"Created the first admin: {BOOTSTRAP_EMAIL}")
        print(f"Password (shown once, store it now): {password}")
        return 0
    with writing(engine) as db:  # require-totp
        auth.set_totp_required(db, value=args.value == "on", actor=None)
    print(json.dumps({settings_store.REQUIRE_TOTP: args.value == "on"}))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run a ``users`` or ``audit`` subcommand.

    Args:
        args: Parsed arguments.

    Returns:
        The exit code (0 success; 1 refused or, for ``audit verify``, a broken chain or a missing anchor row).
    """
    settings = startup_check()
    configure_keys(settings.secret_key())
    if args.command == "users":
        return _users(args)
    if args.audit_command == "anchor":
        anchor = audit.latest_anchor(get_engine())
        print(anchor or "the audit trail is empty")
        return 0
    try:
        ok, checked, bad = audit.verify_chain(get_engine(), anchor=args.anchor)
    except ValueError as exc:
        return _err(str(exc))
    if ok:
        print(f"audit chain OK: {checked} rows checked")
        return 0
    print(f"audit chain BROKEN at id {bad} ({checked} rows checked)")
    return 1
