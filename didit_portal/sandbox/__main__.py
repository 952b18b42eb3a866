"""Run the Didit sandbox standalone (the sandbox's own command line, not part of Didit).

``python -m didit_portal.sandbox --host 127.0.0.1 --port PORT --api-key KEY --webhook-url URL --webhook-secret SECRET
[--retry-scale F] [--public-url URL] [--seed N] [--auth-split] [--strict-workflows] [--rate-limit SCOPE=N ...]
[--auth-data-ttl S] [--db PATH]``
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.config import DEFAULT_RATE_LIMITS, SandboxConfig
from didit_portal.sandbox.model.workflow_defs import PRELOADED
from didit_portal.sandbox.routes.ratelimit import parse_override


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m didit_portal.sandbox", description="A local imitation of Didit.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--api-key", required=True, help="the one API key the sandbox accepts")
    p.add_argument("--webhook-url", default=None, help="where status.updated webhooks are POSTed")
    p.add_argument("--webhook-secret", default=None, help="HMAC secret of the webhook signatures")
    p.add_argument("--retry-scale", type=float, default=1.0, help="multiplies the 60 s / 240 s retry delays")
    p.add_argument("--public-url", default=None, help="origin written into url fields (default http://HOST:PORT)")
    p.add_argument("--seed", type=int, default=None, help="deterministic ids")
    p.add_argument("--auth-split", action="store_true", help="401 (not 403) for a wrong v3 key")
    p.add_argument("--strict-workflows", action="store_true", help="400 for unknown workflow ids")
    p.add_argument("--rate-limit", action="append", default=[], metavar="SCOPE=N", help="override a limit")
    p.add_argument("--auth-data-ttl", type=float, default=600.0, help="Auth + Data session lifetime in seconds")
    p.add_argument("--db", type=Path, default=Path("data/sandbox.db"), help="the sandbox's SQLite file")
    return p


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Turn parsed flags into a :class:`SandboxConfig`.

    Raises:
        SystemExit: For a malformed ``--rate-limit``.
    """
    limits = dict(DEFAULT_RATE_LIMITS)
    for text in args.rate_limit:
        try:
            scope, value = parse_override(text)
        except ValueError as exc:
            raise SystemExit(f"--rate-limit: {exc}") from None
        limits[scope] = value
    public_url = (args.public_url or f"http://{args.host}:{args.port}").rstrip("/")
    return SandboxConfig(
        api_key=args.api_key,
        public_url=public_url,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        retry_scale=args.retry_scale,
        db_path=args.db,
        seed=args.seed,
        auth_split=args.auth_split,
        strict_workflows=args.strict_workflows,
        rate_limits=limits,
        auth_data_ttl=args.auth_data_ttl,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse flags, print the preloaded workflows, and serve with uvicorn."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    out = sys.stdout
    out.write(f"Didit sandbox on {config.public_url} (db {config.db_path})\n")
    out.write("Preloaded workflows:\n")
    for name, (wf_id, label, _type, _features) in PRELOADED.items():
        out.write(f"  {name:<13} {wf_id}  {label}\n")
    out.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
