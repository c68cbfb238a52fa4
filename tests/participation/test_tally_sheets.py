"""Enrollment-code QR sheets (PDF) and QR PNGs: the codes in them decode to the right links."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
import segno
from PIL import Image

from i18n import Catalog
from participation.sheets import FontMissing
from participation.sheets import deep_link
from participation.sheets import enrollment_sheet_pdf
from participation.sheets import qr_png

CATALOG = Catalog.load()
OBJECT = re.compile(rb"\d+ 0 obj\s*<<((?:(?!>>\s*stream).)*?)>>\s*stream\r?\n", re.S)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pdf_images(pdf: bytes) -> list[Image.Image]:
    """Return the grey images of a PDF (FlateDecode with PNG predictors, as fpdf2 writes them).

    A PNG-predicted Flate stream is exactly a PNG IDAT, so each image is rebuilt as a PNG and
    decoded by Pillow: no PDF library needed.
    """
    images = []
    for match in OBJECT.finditer(pdf):
        head = match.group(1)
        if b"/Subtype /Image" not in head:
            continue
        width = int(re.search(rb"/Width (\d+)", head).group(1))
        height = int(re.search(rb"/Height (\d+)", head).group(1))
        length = int(re.search(rb"/Length (\d+)", head).group(1))
        assert b"/DeviceGray" in head and b"/Predictor 15" in head
        data = pdf[match.end() : match.end() + length]
        png = (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b"")
        )
        images.append(Image.open(io.BytesIO(png)).convert("L"))
    return images


def modules(image: Image.Image) -> tuple[tuple[bool, ...], ...]:
    """Return the dark modules of a one-pixel-per-module QR image."""
    return tuple(
        tuple(image.getpixel((x, y)) < 128 for x in range(image.width)) for y in range(image.height)
    )


def expected_modules(payload: str) -> tuple[tuple[bool, ...], ...]:
    return tuple(tuple(bool(v) for v in row) for row in segno.make(payload, error="m").matrix)


def sheet(codes, **options) -> bytes:
    return enrollment_sheet_pdf(
        codes,
        bot_username="ttabok_bot",
        round_title="2017 따복공동체 주민제안 공모사업",
        community_name="행복마을",
        texts=CATALOG,
        **options,
    )


def test_sheet_holds_one_decodable_qr_code_per_enrollment_code():
    codes = [f"e_{n:02d}abcdefghijklmnop" for n in range(14)]
    pdf = sheet(codes)
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page\n") == 2  # 12 cards per page
    images = pdf_images(pdf)
    assert len(images) == len(codes)
    links = [deep_link("ttabok_bot", code) for code in codes]
    assert sorted(modules(i) for i in images) == sorted(expected_modules(link) for link in links)
    alt = [m.decode() for m in re.findall(rb"/Alt \(([^)]*)\)", pdf)]
    assert sorted(alt) == sorted(links)


def test_sheet_in_english_also_renders(tmp_path):
    pdf = sheet(["e_one"], locale="en")
    assert len(pdf_images(pdf)) == 1


@pytest.mark.parametrize(
    ("codes", "bot"),
    [
        ([], "ttabok_bot"),
        (["has space"], "ttabok_bot"),
        (["x" * 65], "ttabok_bot"),
        (["e_1"], "1x"),
    ],
)
def test_sheet_refuses_codes_telegram_would_not_accept(codes, bot):
    with pytest.raises(ValueError):
        enrollment_sheet_pdf(
            codes, bot_username=bot, round_title="t", community_name="c", texts=CATALOG
        )


def test_sheet_without_a_korean_font_fails_clearly(tmp_path):
    from participation.sheets import korean_font

    with pytest.raises(FontMissing):
        sheet(["e_1"], font=korean_font([tmp_path / "missing.ttf"]))


def test_deep_link_accepts_an_at_sign():
    assert deep_link("@ttabok_bot", "s_ab-12") == "https://t.me/ttabok_bot?start=s_ab-12"


def test_qr_png_for_the_projector_decodes_to_its_payload():
    payload = "https://t.me/ttabok_bot?start=s_1234_abcdef"
    scale, border = 8, 4
    with Image.open(io.BytesIO(qr_png(payload, scale=scale, border=border))) as image:
        grey = image.convert("L")
    size = grey.width // scale - 2 * border
    sampled = tuple(
        tuple(
            grey.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2))
            < 128
            for x in range(size)
        )
        for y in range(size)
    )
    assert sampled == expected_modules(payload)
    assert sampled != expected_modules(payload + "x")
