"""Alembic environment: reads the portal's settings and the SQLModel metadata.

``reflex db migrate`` runs the same scripts with its own environment; this file makes plain
``alembic upgrade head`` work in deployments too, against ``DATABASE_URL`` (SQLite or PostgreSQL).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlmodel import SQLModel

import didit_portal.models  # noqa: F401 -- registers the tables on SQLModel.metadata
from didit_portal.db import make_engine, normalise_url
from didit_portal.config import get_settings
from didit_portal.models import UTCDateTime
from didit_portal.security import EncryptedJSON, EncryptedText

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    # An explicit -x url=... or a programmatic sqlalchemy.url wins (tests), then DATABASE_URL / the data folder.
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url or url.startswith("driver://"):
        url = get_settings().db_url
    return normalise_url(url)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render encrypted columns as their storage type, so migrations don't import application code."""
    if type_ == "type" and isinstance(obj, EncryptedText | EncryptedJSON):
        autogen_context.imports.add("import sqlalchemy as sa")
        return "sa.LargeBinary()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import sqlalchemy as sa")
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and obj.__class__.__module__.startswith("sqlmodel"):
        autogen_context.imports.add("import sqlmodel")
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_item=render_item, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_item=render_item, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        # render_as_batch: SQLite can't ALTER most things; batch mode rebuilds tables and is a no-op on PostgreSQL.
        context.configure(
            connection=conn, target_metadata=target_metadata, render_item=render_item, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
