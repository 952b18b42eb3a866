"""CSV files staff download (the queue, the audit trail): one writer, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is a formula to Excel,
LibreOffice and Google Sheets, and a value such as a ``vendor_data``, an email or an audit detail comes from
outside: quoted with a leading ``'`` it is shown as text instead of being run (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """One cell as text that no spreadsheet runs as a formula.

    Args:
        value: Any value (None is an empty cell).

    Returns:
        The text, with a leading ``'`` when it would start a formula.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A CSV document of safe cells.

    Args:
        header: Column names.
        rows: Rows of values.

    Returns:
        The CSV text.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()
