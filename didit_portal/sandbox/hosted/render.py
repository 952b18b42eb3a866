"""HTML building blocks of the sandbox's hosted pages: templates and escaping.

Pure functions, no request handling. Every value put into a page goes through :func:`esc` unless it is an
:class:`Html` fragment built from escaped parts.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

TEMPLATES_DIR = Path(__file__).parent / "templates"


class Html(str):
    """A fragment of HTML built here from escaped parts; :func:`render` inserts it verbatim."""

    __slots__ = ()


def esc(value: object) -> Html:
    """Escape any value for HTML text or a quoted attribute."""
    return Html(html.escape(str(value), quote=True))


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Fill a template; every value is escaped unless it is an :class:`Html` fragment built by this module."""
    return _template(name).substitute({key: v if isinstance(v, Html) else esc(v) for key, v in values.items()})


def json_for_script(value: object) -> Html:
    """Serialize JSON for a ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` are escaped so no string in it can close the element or open a comment.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Html(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def preview_html(value: Any, depth: int = 0) -> Html:
    """Render one scope's persona data as nested definition lists (escaped), depth-limited."""
    if value is None:
        return Html("")
    if isinstance(value, Mapping) and depth < 3:
        rows = "".join(
            f"<dt>{esc(str(key).replace('_', ' '))}</dt><dd>{preview_html(item, depth + 1) or esc('—')}</dd>"
            for key, item in value.items()
        )
        return Html(f'<dl class="preview">{rows}</dl>')
    if isinstance(value, bool):
        return Html(f'<span class="preview-value">{"yes" if value else "no"}</span>')
    if isinstance(value, list | tuple):
        return Html(f'<span class="preview-value">{esc(", ".join(str(item) for item in value))}</span>')
    return Html(f'<span class="preview-value">{esc(value)}</span>')
