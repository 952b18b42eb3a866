"""QR codes rendered on the server as SVG (the ``qrcode`` package), shown inline on the end-user pages.

The SVG is generated from a URL the server already trusts (Didit's hosted or authorize URL); it contains only
path data, so rendering it as HTML is safe, and no ``data:`` image source is needed under the pages' CSP.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
import qrcode.image.svg
import reflex as rx


def qr_svg(data: str) -> str:
    """Encode ``data`` as a QR code and return it as an SVG document string.

    Args:
        data: The text to encode (a URL).

    Returns:
        An ``<svg>`` element with a white background, a 4-module quiet zone and a viewBox, sized by CSS.
    """
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=qrcode.image.svg.SvgPathFillImage
    )
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    # Drop the XML declaration and the fixed millimetre size: the container decides the size.
    svg = svg[svg.index("<svg") :]
    head, _, rest = svg.partition(">")
    head = " ".join(part for part in head.split(" ") if not part.startswith(("width=", "height=")))
    return f'{head} width="100%" height="100%" focusable="false" aria-hidden="true">{rest}'


def qr_code(svg: rx.Var[str] | str, *, label: rx.Var[str] | str, test_id: str, size: str = "14rem") -> rx.Component:
    """Show a server-rendered QR code.

    Args:
        svg: The SVG markup from :func:`qr_svg` (usually a state var).
        label: Accessible name of the image (what scanning it does).
        test_id: The ``data-testid`` of the container.
        size: CSS width and height.

    Returns:
        A square box with ``role="img"``.
    """
    return rx.box(
        rx.html(svg, width="100%", height="100%"),
        role="img",
        aria_label=label,
        width=size,
        height=size,
        padding="0",
        background_color="white",
        border_radius="8px",
        border=f"1px solid {rx.color('gray', 6)}",
        overflow="hidden",
        custom_attrs={"data-testid": test_id},
    )
