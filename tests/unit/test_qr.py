"""Server-rendered QR codes: the SVG decodes back to the URL."""

from __future__ import annotations

import re

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from didit_portal.components.qr import qr_svg

_SQUARE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H(\d+)z")


def _rasterise(svg: str, scale: int = 8) -> Image.Image:
    """Draw the SVG's unit squares (qrcode's path format) into a bitmap, the way a browser would paint them."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))  # type: ignore[union-attr]
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r'<path d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    squares = _SQUARE.findall(path)
    assert squares
    for x, y, *_ in squares:
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle([left, top, left + scale - 1, top + scale - 1], fill=0)
    return image


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000/didit-sandbox/session/qyCaeCJN_Zf0",
        "https://verify.didit.me/session/" + "x" * 40,
        "https://app.didit.me/authorize/abcdefghijkl",
    ],
)
def test_svg_decodes_to_the_url(url: str) -> None:
    svg = qr_svg(url)
    results = zxingcpp.read_barcodes(_rasterise(svg))
    assert [r.text for r in results] == [url]


def test_svg_is_inline_safe_and_scalable() -> None:
    svg = qr_svg("https://verify.didit.me/session/abc")
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<script" not in svg
    assert 'width="100%"' in svg and 'aria-hidden="true"' in svg
    assert "mm" not in svg.split(">", 1)[0]  # no fixed millimetre size
